"""The terms of the variational lower bound, one value per example.

Each function sums over the last axis (the J latent dimensions, or the D
pixels) and keeps the leading ones: one value per example, `(batch,)`, or
`(batch, L)` for L samples. `vaelib.models.VAE` averages over the batch, as
the paper's minibatch estimator does (Eq. 8).
"""

import math

from keras import ops

from vaelib._checks import check_broadcastable, check_positive_number

_LOG_2PI = math.log(2.0 * math.pi)


def kl_divergence(z_mean, z_log_var):
    """Closed-form KL(q_φ(z|x) ‖ p_θ(z)) for q = N(μ, σ² I) and p = N(0, I).

    Paper Appendix B: -D_KL = ½ Σ_j (1 + log σ_j² - μ_j² - σ_j²), summed
    (not averaged) over the J latent dimensions.

    Args:
        z_mean: μ, shape `(..., J)`.
        z_log_var: log σ², shape `(..., J)`.

    Returns:
        KL in nats, shape `(...)`.
    """
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    check_broadcastable(z_mean=z_mean, z_log_var=z_log_var)
    return -0.5 * ops.sum(
        1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1
    )


def bernoulli_log_likelihood(x, logits):
    """log p_θ(x|z) of a Bernoulli decoder, from its logits l (Appendix C.1).

    Σ_d x_d log y_d + (1 - x_d) log(1 - y_d) with y = sigmoid(l), written as
    Σ_d x_d·l_d - softplus(l_d): the same number, without log(0) for a
    saturated pixel.

    Args:
        x: data in [0, 1], shape `(..., D)`.
        logits: l, broadcastable with `x`.

    Returns:
        log-likelihood in nats, shape `(...)`.
    """
    x, logits = ops.convert_to_tensor(x), ops.convert_to_tensor(logits)
    check_broadcastable(x=x, logits=logits)
    return ops.sum(x * logits - ops.softplus(logits), axis=-1)


def gaussian_log_likelihood(x, mean, log_var):
    """log N(x; μ, σ² I), summed over the last axis.

    The Gaussian decoder's log p_θ(x|z) (Appendix C.2); with x = z and the
    encoder's μ and log σ², log q_φ(z|x) of estimator A (Eq. 6). It has no
    upper bound as log σ² → -∞: see `quantization_log_var_floor`.

    Args:
        x: values, shape `(..., D)`.
        mean: μ, broadcastable with `x`.
        log_var: log σ², broadcastable with `x` (a float for a fixed one).

    Returns:
        log density in nats, shape `(...)`.
    """
    x, mean, log_var = (ops.convert_to_tensor(a) for a in (x, mean, log_var))
    check_broadcastable(x=x, mean=mean, log_var=log_var)
    return -0.5 * ops.sum(
        _LOG_2PI + log_var + ops.square(x - mean) * ops.exp(-log_var), axis=-1
    )


def standard_normal_log_density(z):
    """log p_θ(z) for the prior N(0, I), summed over the J dimensions: `(...)`."""
    return -0.5 * ops.sum(_LOG_2PI + ops.square(ops.convert_to_tensor(z)), axis=-1)


def quantization_log_var_floor(bin_width):
    """The floor of log σ² for data recorded with resolution Δ: log(Δ²/2π).

    8-bit pixels take the values k/255, so each value stands for a bin of
    width Δ = 1/255, and no density of such data should exceed 1/Δ (log 255
    = 5.54 nats per pixel). A Gaussian N(μ, σ²) peaks at 1/√(2πσ²), above 1/Δ
    exactly when σ² < Δ²/2π. With log σ² kept above this floor by a
    `layers.LogVarianceFloor`, the Gaussian decoder of Appendix C.2 never
    claims more precision than the data has.

    Args:
        bin_width: Δ > 0 (1/255 for 8-bit images scaled to [0, 1]).

    Returns:
        log(Δ²/2π), a float (-12.92 for Δ = 1/255).
    """
    bin_width = check_positive_number("bin_width", bin_width)
    return 2.0 * math.log(bin_width) - _LOG_2PI
