"""How good is a trained VAE: the ELBO and the importance-sampled log p(x).

Both are computed in batches with bounded memory, one value per example, in
nats. The ELBO is a lower bound on log p(x); the importance-sampled estimate
with k samples (Burda et al., 2015; Kingma & Welling, 2019, §2.6) is a tighter
one that approaches log p(x) as k grows.
"""

import math

import keras
import numpy as np
from keras import ops

from vaelib._checks import check_model, check_positive_int
from vaelib.data import batches
from vaelib.models import VAE


def elbo(model, x, num_samples=1, batch_size=1000, seed=0):
    """Per-example SGVB estimate of the ELBO L(θ, φ; x) (paper Eq. 7 or 6).

    Uses the model's estimator with L = `num_samples` draws of z per example;
    with estimator B only the reconstruction term is random.

    Args:
        model: a trained `vaelib.models.VAE` (or a subclass).
        x: data, shape `(n, *input_shape)`; for a `ConditionalVAE`, the pair
            `[x, labels]`.
        num_samples: L, draws of z per example.
        batch_size: examples per forward pass.
        seed: seed of the noise ε, for a reproducible estimate.

    Returns:
        NumPy float64 array of shape `(n,)`; its mean is the test-set ELBO.
    """
    x = check_model("model", model, VAE).check_inputs(x)
    num_samples = check_positive_int("num_samples", num_samples)
    generator = keras.random.SeedGenerator(seed)
    values = []
    for xb in batches(x, batch_size):
        size = len(keras.tree.flatten(xb)[0])
        eps = keras.random.normal((size, num_samples, model.latent_dim), seed=generator)
        log_likelihood, kl = model.elbo_terms(xb, model(xb, epsilon=eps))
        values.append(ops.convert_to_numpy(log_likelihood - kl).astype("float64"))
    return np.concatenate(values)


def log_likelihood(model, x, num_samples=5000, max_samples_per_pass=8192, seed=0):
    """Per-example importance-sampled estimate of log p_θ(x) with k samples.

    log p(x) ≈ log (1/k) Σ_k p_θ(x|z_k) p(z_k) / q_φ(z_k|x),  z_k ~ q_φ(z|x)

    (Kingma & Welling 2019, Eq. 2.34; the IWAE bound of Burda et al. 2015).
    It is a lower bound in expectation that is at least as tight as the ELBO
    (k = 1) and tightens as k grows. The k samples are drawn in passes of at
    most `max_samples_per_pass` decoder evaluations, and the log-sum-exp is
    accumulated across passes, so memory stays bounded (never a
    k × n × D tensor) whatever k and n are.

    Args:
        model: a trained `vaelib.models.VAE` (or a subclass).
        x: data, shape `(n, *input_shape)`; for a `ConditionalVAE`, the pair
            `[x, labels]` (then it estimates log p_θ(x|y)).
        num_samples: k, importance samples per example.
        max_samples_per_pass: decoder evaluations per pass (memory bound:
            about 4·D bytes each for the decoder's output).
        seed: seed of the noise, for a reproducible estimate.

    Returns:
        NumPy float64 array of shape `(n,)`; its mean is the test log-likelihood
        (the negative of the test NLL).
    """
    x = check_model("model", model, VAE).check_inputs(x)
    k = check_positive_int("num_samples", num_samples)
    max_samples_per_pass = check_positive_int("max_samples_per_pass", max_samples_per_pass)
    chunk = min(k, max_samples_per_pass)  # samples per example in one pass
    batch_size = max(1, max_samples_per_pass // chunk)  # examples in one pass
    generator = keras.random.SeedGenerator(seed)
    values = []
    for xb in batches(x, batch_size):
        n = len(keras.tree.flatten(xb)[0])
        total = np.full(n, -np.inf)  # running log Σ w over the passes
        for done in range(0, k, chunk):
            size = min(chunk, k - done)
            eps = keras.random.normal((n, size, model.latent_dim), seed=generator)
            y_pred = model(xb, epsilon=eps)
            log_w = model.log_px_given_z(xb, y_pred) + model.log_pz_minus_log_qz(y_pred)  # (batch, size)
            chunk_lse = ops.convert_to_numpy(ops.logsumexp(log_w, axis=1)).astype("float64")
            total = np.logaddexp(total, chunk_lse)
        values.append(total - math.log(k))
    return np.concatenate(values)

