"""The terms of the variational lower bound, one value per example.

Every function sums over the last axis (the J latent dimensions, or the D
pixels) and keeps all leading axes, so it returns one value per example,
shape `(batch,)`, or `(batch, L)` for L samples per example. Averaging over the
batch is left to the caller (`vaelib.models.VAE` does it), as in the paper's
minibatch estimator (Eq. 8).
"""

import math

from keras import ops

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
    """
    x, mean, log_var = (ops.convert_to_tensor(a) for a in (x, mean, log_var))
    return -0.5 * ops.sum(
        _LOG_2PI + log_var + ops.square(x - mean) * ops.exp(-log_var), axis=-1
    )


def standard_normal_log_density(z):
    """log p_θ(z) for the prior p(z) = N(0, I), summed over the J dimensions.

    Args:
        z: shape `(..., latent_dim)`.

    Returns:
        shape `(...)`.
    """
    return -0.5 * ops.sum(_LOG_2PI + ops.square(ops.convert_to_tensor(z)), axis=-1)
