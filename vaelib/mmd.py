"""Maximum mean discrepancy, and the autoencoder it regularizes (InfoVAE, WAE-MMD).

`mmd` estimates MMD²(P, Q) from samples; `MMDVAE` is the `VAE` with its KL
term replaced by λ·MMD² between the codes of a minibatch and draws of the
prior, Chapter 9's answer to "what if we change the regularizer?".
"""

import math

import keras
from keras import ops

from vaelib._checks import (check_model_kwargs, check_non_negative, check_option,
                            check_positive_number)
from vaelib.layers import Sampling
from vaelib.models import VAE

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
    if kernel_bandwidth is None:
        kernel_bandwidth = math.sqrt(int(x.shape[1]))  # √d
    scale = 2.0 * check_positive_number("kernel_bandwidth", kernel_bandwidth) ** 2  # C = 2h²

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


@keras.saving.register_keras_serializable(package="vaelib")
class MMDVAE(VAE):
    """The VAE's networks with λ·MMD²(q_φ(z), p(z)) in place of the KL term.

    The loss is -(1/L) Σ_l log p_θ(x|z⁽ˡ⁾) averaged over the batch plus
    λ·MMD² between the minibatch's codes z ~ q_φ(z|x) (all L samples of
    every example) and as many draws of the prior p(z) = N(0, I), by `mmd`
    (IMQ kernel, V-statistic): the MMD-regularized autoencoder of InfoVAE
    (Zhao et al. 2019, Eq. 7 with α = 1) and WAE-MMD (Tolstikhin et al.
    2018). The encoder stays stochastic (z = μ + σ ⊙ ε). It matches the
    *aggregate* posterior q_φ(z) to the prior, not each q_φ(z|x), so its
    loss is not a bound on log p(x); `evaluation.elbo` still gives the ELBO
    of its encoder and decoder. `fit` reports `reconstruction` and `mmd`.

    Args:
        encoder, decoder, likelihood, num_samples, decoder_log_var, seed:
            as in `VAE`.
        mmd_weight: λ ≥ 0. MMD² with these kernels lies in [0, 2] while the
            reconstruction term is summed over the D pixels, so λ must be of
            the reconstruction's scale to matter.
        **kwargs: standard `keras.Model` arguments (`name`, ...).
    """

    loss_terms = ("reconstruction", "mmd")

    def __init__(self, encoder, decoder, likelihood="bernoulli", num_samples=1,
                 decoder_log_var=None, seed=None, mmd_weight=1.0, **kwargs):
        super().__init__(encoder, decoder, likelihood=likelihood, num_samples=num_samples,
                         decoder_log_var=decoder_log_var, seed=seed, beta=None,
                         **check_model_kwargs(type(self), kwargs))
        self.mmd_weight = check_non_negative("mmd_weight", mmd_weight)
        # Draws of the prior p(z) = N(0, I), from their own noise stream.
        self.prior_sampling = Sampling(num_samples=self.num_samples,
                                       seed=None if seed is None else seed + 1,
                                       name="prior_sampling")

    def regularizer_loss(self, y_pred):
        """λ·MMD²(codes of the batch, as many draws of p(z))."""
        zeros = ops.zeros_like(y_pred["z_mean"])
        z_prior = self.prior_sampling([zeros, zeros])  # (batch, L, J), N(0, I)
        divergence = mmd(ops.reshape(y_pred["z"], (-1, self.latent_dim)),  # (batch·L, J)
                         ops.reshape(z_prior, (-1, self.latent_dim)))
        self.trackers["mmd"].update_state(divergence)
        return self.mmd_weight * divergence

    def get_config(self):
        config = super().get_config()
        for name in ("estimator", "beta"):
            del config[name]
        return {**config, "mmd_weight": self.mmd_weight}
