"""The terms of the variational lower bound, one value per example.

Every function sums over the last axis (the J latent dimensions, or the D
pixels) and keeps all leading axes, so it returns one value per example,
shape `(batch,)`, or `(batch, L)` for L samples per example. Averaging over the
batch is left to the caller (`vaelib.models.VAE` does it), as in the paper's
minibatch estimator (Eq. 8).
"""

import math

import keras
from keras import ops

from vaelib._checks import check_broadcastable, check_finite_number, check_option

_LOG_2PI = math.log(2.0 * math.pi)


def kl_divergence(z_mean, z_log_var):
    """Closed-form KL(q_φ(z|x) ‖ p_θ(z)) for q = N(μ, σ² I), p = N(0, I).

    Paper Appendix B: -D_KL = ½ Σ_j (1 + log σ_j² - μ_j² - σ_j²), summed over
    the J latent dimensions (not averaged: the bound is a sum over j).

    Args:
        z_mean: μ, shape `(..., latent_dim)`.
        z_log_var: log σ², shape `(..., latent_dim)`.

    Returns:
        KL in nats, shape `(...)`: one value per example.
    """
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    check_broadcastable(z_mean=z_mean, z_log_var=z_log_var)
    return -0.5 * ops.sum(
        1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1
    )


def bernoulli_log_likelihood(x, logits):
    """log p_θ(x|z) of a Bernoulli decoder, computed from logits.

    Paper Appendix C.1: log p(x|z) = Σ_i x_i log y_i + (1 - x_i) log(1 - y_i)
    with y = sigmoid(logits). Written as Σ_i x_i·l_i - softplus(l_i), which is
    the same number without ever taking log(0) for saturated pixels.

    Args:
        x: data in [0, 1], shape `(..., D)`.
        logits: decoder output l, shape broadcastable with `x`.

    Returns:
        log-likelihood in nats, shape `(...)`.
    """
    x, logits = ops.convert_to_tensor(x), ops.convert_to_tensor(logits)
    check_broadcastable(x=x, logits=logits)
    return ops.sum(x * logits - ops.softplus(logits), axis=-1)


def gaussian_log_likelihood(x, mean, log_var):
    """log N(x; μ, σ² I), summed over the last axis.

    Paper Appendix C.2 (Gaussian decoder): log p(x|z) = log N(x; μ, σ² I).
    The same density gives log q_φ(z|x) (x=z, the encoder's μ and log σ²) and
    the prior log p_θ(z) (μ=0, log σ²=0) for estimator A (Eq. 6) and for
    importance sampling.

    Args:
        x: values, shape `(..., D)`.
        mean: μ, broadcastable with `x`.
        log_var: log σ², broadcastable with `x`: a tensor for a learned
            variance, or a Python float for a fixed one.

    Returns:
        log density in nats, shape `(...)`.

    The value has no upper bound: at x = μ it is -½ Σ (log 2π + log σ²),
    which grows without limit as log σ² → -∞. A learned decoder variance
    therefore needs a floor (`quantization_log_var_floor`).
    """
    x, mean, log_var = (ops.convert_to_tensor(a) for a in (x, mean, log_var))
    check_broadcastable(x=x, mean=mean, log_var=log_var)
    return -0.5 * ops.sum(
        _LOG_2PI + log_var + ops.square(x - mean) * ops.exp(-log_var), axis=-1
    )


def quantization_log_var_floor(bin_width):
    """The floor of log σ² that suits data recorded with resolution Δ: log(Δ² / 2π).

    Images stored with 8 bits take the values k/255, so each pixel value
    stands for a bin of width Δ = 1/255. No model of such data can give a
    pixel more probability than the whole bin, so a density on it has no
    business above 1/Δ: log p ≤ log(1/Δ) per pixel (log 255 = 5.54 nats).
    A Gaussian N(μ, σ²) peaks at 1/√(2πσ²), which exceeds 1/Δ exactly when
    σ² < Δ²/(2π). With log σ² kept above this floor (see
    `vaelib.models.LogVarianceFloor`), the Gaussian decoder of Appendix C.2
    can never claim more than the data's own precision, and its
    log-likelihood is at most D·log(1/Δ) per example.

    Args:
        bin_width: Δ, the spacing of the recorded values (1/255 for 8-bit
            images scaled to [0, 1]); a positive number.

    Returns:
        log(Δ²/2π) as a Python float (-12.92 for Δ = 1/255).
    """
    if check_finite_number("bin_width", bin_width) <= 0.0:
        raise ValueError(
            f"Expected `bin_width` to be a positive finite number. Received: bin_width={bin_width!r}"
        )
    return 2.0 * math.log(bin_width) - _LOG_2PI


def standard_normal_log_density(z):
    """log p_θ(z) for the prior p(z) = N(0, I), summed over the J dimensions.

    Args:
        z: shape `(..., latent_dim)`.

    Returns:
        shape `(...)`.
    """
    return -0.5 * ops.sum(_LOG_2PI + ops.square(ops.convert_to_tensor(z)), axis=-1)


MMD_KERNELS = ("imq", "gaussian")


def mmd(x, y, kernel="imq", kernel_bandwidth=None, unbiased=False):
    """Squared maximum mean discrepancy MMD²(P, Q) estimated from samples x ~ P, y ~ Q.

    MMD²(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y) (Gretton et al. 2012,
    Lemma 6) is zero if and only if P = Q (for the characteristic kernels
    below) and grows as the two distributions move apart. InfoVAE (Zhao et
    al. 2019, Eq. 7) and Wasserstein autoencoders (Tolstikhin et al. 2018,
    Eq. 4 and Algorithm 2) use it in place of the VAE's KL term, with x the
    codes z ~ q_φ(z) of a minibatch and y draws from the prior p(z).

    Kernels, with a bandwidth h (a length) and r² = ‖x - y‖²:

    - `"imq"` (inverse multiquadratic, the WAE's choice): k = C / (C + r²)
      with C = 2h²; its heavy tails keep gradients alive between distant
      samples.
    - `"gaussian"` (InfoVAE's choice): k = exp(-r² / (2h²)).

    The default h = √d (d the dimension) is the scale of the distance
    between two draws of the prior N(0, I), E‖x - y‖² = 2d (the WAE's
    C = 2dσ² with σ² = 1): neither kernel is saturated at 0 or 1 there.

    Estimators, for n draws x_i and m draws y_j:

    - `unbiased=False` (default): the V-statistic
      (1/n²) Σ_ij k(x_i, x_j) + (1/m²) Σ_ij k(y_i, y_j) - (2/nm) Σ_ij k(x_i, y_j),
      the exact MMD² between the two empirical distributions. It is never
      negative (a squared norm in the kernel's feature space) and works for
      any n, m ≥ 1, but it is biased upwards: for P = Q its mean is about
      (1/n + 1/m)(k(0) - E k(x, x')), not 0.
    - `unbiased=True`: the U-statistic of Gretton et al. (Lemma 6), which
      leaves out the diagonal terms i = j of the first two sums and divides
      by n(n-1) and m(m-1). Its mean is exactly MMD²(P, Q), so for P = Q it
      scatters around 0 and can be negative; it needs n, m ≥ 2.

    Args:
        x: samples of P, shape `(n, d)`.
        y: samples of Q, shape `(m, d)`.
        kernel: `"imq"` or `"gaussian"`.
        kernel_bandwidth: h > 0, or `None` for √d.
        unbiased: the U-statistic (True) or the V-statistic (False).

    Returns:
        A scalar tensor.
    """
    check_option("kernel", kernel, MMD_KERNELS)
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    dtype = keras.backend.result_type(x.dtype, y.dtype, "float32")  # e.g. float32 and float64
    x, y = ops.cast(x, dtype), ops.cast(y, dtype)
    if len(x.shape) != 2 or len(y.shape) != 2 or (
        x.shape[1] is not None and y.shape[1] is not None and x.shape[1] != y.shape[1]
    ):
        raise ValueError(
            "Expected `x` and `y` to be samples of shapes (n, d) and (m, d) with the same d. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    if unbiased and any(size is not None and size < 2 for size in (x.shape[0], y.shape[0])):
        raise ValueError(
            "Expected at least 2 samples in `x` and in `y` for the unbiased estimator. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    dim = int(x.shape[1])
    if kernel_bandwidth is None:
        kernel_bandwidth = math.sqrt(dim)
    elif check_finite_number("kernel_bandwidth", kernel_bandwidth) <= 0.0:
        raise ValueError(
            "Expected `kernel_bandwidth` to be a positive number. "
            f"Received: kernel_bandwidth={kernel_bandwidth!r}"
        )
    scale = 2.0 * float(kernel_bandwidth) ** 2  # C = 2h²

    def gram(a, b):
        # r²_ij = ‖a_i‖² + ‖b_j‖² - 2 a_i·b_j, shape (len(a), len(b)); clipped at 0
        # because rounding can make it slightly negative for a_i = b_j.
        sq = (ops.expand_dims(ops.sum(ops.square(a), axis=1), 1)
              + ops.expand_dims(ops.sum(ops.square(b), axis=1), 0)
              - 2.0 * ops.matmul(a, ops.transpose(b)))
        sq = ops.maximum(sq, 0.0)
        if kernel == "imq":
            return scale / (scale + sq)
        return ops.exp(-sq / scale)

    k_xx, k_yy, k_xy = gram(x, x), gram(y, y), gram(x, y)
    n = ops.cast(ops.shape(x)[0], x.dtype)
    m = ops.cast(ops.shape(y)[0], y.dtype)
    if unbiased:  # leave out the diagonal k(x_i, x_i) = k(0) = 1
        xx = (ops.sum(k_xx) - ops.sum(ops.diagonal(k_xx))) / (n * (n - 1.0))
        yy = (ops.sum(k_yy) - ops.sum(ops.diagonal(k_yy))) / (m * (m - 1.0))
    else:
        xx, yy = ops.sum(k_xx) / (n * n), ops.sum(k_yy) / (m * m)
    return xx + yy - 2.0 * ops.sum(k_xy) / (n * m)
