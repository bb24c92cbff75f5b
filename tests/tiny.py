"""The tiny models and data of the unit tests, in one place.

Every test file takes its test models and data from here (`from tiny import D, J,
tiny_model, binary_data`): pytest's default import mode puts tests/ on sys.path, and
tests/fault_worker.py runs as a script from tests/, so the same import works there.

- sizes: D pixels, H hidden units, J latent dimensions, K classes;
- networks: `encoder`, `decoder` and `networks`, the paper's MLPs at those sizes
  (conditional ones given `num_classes`);
- models: `tiny_model(model_class, **options)`, any vaelib model of those networks,
  seeded: `VAE`, `MMDVAE`, `Autoencoder`, `WakeSleep` or `ConditionalVAE`;
- data: `labelled_data` and `binary_data` (prototypes with some bits flipped),
  `random_bits`, `grey_data`, `codes`;
- the float64 NumPy forward pass that the loss tests check the models against:
  `dense_weights`, `numpy_encoder`, `numpy_decoder`, `numpy_elbo_terms`;
- `clear_error`: `pytest.raises` that also checks the "Expected ... Received" form.
"""

import contextlib

import keras
import numpy as np
import pytest
from scipy.stats import norm

from vaelib import conditional, models

D, H, J, K = 12, 16, 3, 4  # pixels, hidden units, latent dimensions, classes
DECODER_OPTIONS = ("mean_activation", "variance", "min_log_var")  # of build_decoder, not the model


# -- networks and models --------------------------------------------------------------


def encoder(input_dim=D, hidden_units=H, latent_dim=J, num_classes=None):
    """The paper's MLP encoder at the tiny sizes; q(z|x, y) given `num_classes`."""
    if num_classes is None:
        return models.build_encoder(input_dim=input_dim, hidden_units=hidden_units,
                                    latent_dim=latent_dim)
    return conditional.build_conditional_encoder(input_dim=input_dim, num_classes=num_classes,
                                                 hidden_units=hidden_units, latent_dim=latent_dim)


def decoder(likelihood="bernoulli", output_dim=D, hidden_units=H, latent_dim=J, num_classes=None,
            **options):
    """The paper's MLP decoder at the tiny sizes (`options`: mean_activation, variance, min_log_var)."""
    sizes = dict(latent_dim=latent_dim, hidden_units=hidden_units, output_dim=output_dim,
                 likelihood=likelihood, **options)
    if num_classes is None:
        return models.build_decoder(**sizes)
    return conditional.build_conditional_decoder(num_classes=num_classes, **sizes)


def networks(likelihood="bernoulli", input_dim=D, hidden_units=H, latent_dim=J, num_classes=None,
             **options):
    """`(encoder, decoder)` that fit together, built in this order."""
    return (encoder(input_dim, hidden_units, latent_dim, num_classes),
            decoder(likelihood, input_dim, hidden_units, latent_dim, num_classes, **options))


def tiny_model(model_class=models.VAE, likelihood="bernoulli", seed=0, input_dim=D,
               hidden_units=H, latent_dim=J, **options):
    """A `model_class` of tiny networks, its weights and its noise seeded by `seed`.

    `options` named in DECODER_OPTIONS shape the decoder; the others go to the
    model (`estimator`, `num_samples`, `beta`, `mmd_weight`, `decoder_log_var`,
    `name`, ...). A `ConditionalVAE` gets conditional networks for K classes.
    """
    keras.utils.set_random_seed(seed)
    decoder_options = {name: options.pop(name) for name in DECODER_OPTIONS if name in options}
    num_classes = K if issubclass(model_class, conditional.ConditionalVAE) else None
    parts = networks(likelihood, input_dim, hidden_units, latent_dim, num_classes, **decoder_options)
    return model_class(*parts, likelihood=likelihood, seed=seed, **options)


# -- data ------------------------------------------------------------------------------


def labelled_data(n=64, seed=1, num_classes=K, dim=D, flip=0.05):
    """Binary vectors with structure, and their classes: the prototype of the class, `flip` of its bits flipped."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((num_classes, dim)) < 0.5).astype("float32")
    labels = rng.integers(0, num_classes, n)
    x = prototypes[labels]
    return np.where(rng.random((n, dim)) < flip, 1 - x, x).astype("float32"), labels


def binary_data(n=64, seed=1, num_prototypes=2, dim=D, flip=0.05):
    """Binary vectors with structure: two prototypes with 5% of the bits flipped (by default)."""
    return labelled_data(n, seed, num_prototypes, dim, flip)[0]


def random_bits(n=8, seed=1, p=0.5, dim=D):
    """Independent bits, each 1 with probability `p`: binary data without structure."""
    return (np.random.default_rng(seed).random((n, dim)) < p).astype("float32")


def grey_data(n=8, seed=0, dim=D):
    """Grey levels drawn uniformly from [0, 1): data for a Gaussian decoder."""
    return np.random.default_rng(seed).random((n, dim)).astype("float32")


def codes(n=5, seed=1, latent_dim=J):
    """Draws of the prior N(0, I), shape `(n, latent_dim)`: codes to decode."""
    return np.random.default_rng(seed).normal(size=(n, latent_dim)).astype("float32")


# -- the NumPy forward pass ---------------------------------------------------------------


def dense_weights(network, name):
    """(kernel, bias) of the Dense layer `name` as float64 (inside a conditional network's MLP too)."""
    inner = f"{network.name}_mlp"  # build_conditional_*: the MLP is a model inside the model
    if any(layer.name == inner for layer in network.layers):
        network = network.get_layer(inner)
    kernel, bias = network.get_layer(name).get_weights()
    return kernel.astype("float64"), bias.astype("float64")


def _affine(network, name, h):
    kernel, bias = dense_weights(network, name)
    return h @ kernel + bias


def _with_labels(values, labels):
    if labels is None:
        return values
    labels = np.broadcast_to(labels, (*values.shape[:-1], np.shape(labels)[-1]))
    return np.concatenate([values, labels], axis=-1)


def numpy_encoder(model, x, labels=None):
    """μ and log σ² of the tiny MLP encoder: h = tanh(W₃x + b₃), W₄h + b₄, W₅h + b₅ (Appendix C.2).

    `labels`: one-hot rows, concatenated to x for a conditional encoder.
    """
    h = np.tanh(_affine(model.encoder, "hidden_0", _with_labels(x, labels)))
    return _affine(model.encoder, "z_mean", h), _affine(model.encoder, "z_log_var", h)


def numpy_decoder(model, z, labels=None):
    """The tiny MLP decoder's heads before any activation or floor: [logits] or [mean, log-variance].

    z: shape `(..., J)`; `labels`: one-hot rows broadcastable to `(..., K)`, for a
    conditional decoder.
    """
    h = np.tanh(_affine(model.decoder, "hidden_0", _with_labels(z, labels)))
    names = ["logits"] if model.likelihood == "bernoulli" else ["x_mean", "x_log_var"]
    return [_affine(model.decoder, name, h) for name in names]


def numpy_elbo_terms(model, x, eps, labels=None):
    """Per-example (1/L) Σ_l log p(x|z_l) and KL of a tiny model, by float64 NumPy.

    z_l = μ + σ ε_l (Eq. 10) for the noise `eps` `(n, L, J)`; the decoder is
    Bernoulli (Appendix C.1) or Gaussian with a learned variance and a linear
    mean (C.2); the KL is the closed form of Appendix B (estimator B, Eq. 7)
    or (1/L) Σ_l log q(z_l|x) - log p(z_l) (estimator A, Eq. 6). `labels`:
    one-hot rows `(n, K)` of a conditional model.
    """
    mu, log_var = numpy_encoder(model, x, labels)  # (n, J)
    z = mu[:, None] + np.exp(0.5 * log_var)[:, None] * eps  # (n, L, J)
    outputs = numpy_decoder(model, z, None if labels is None else labels[:, None])
    if model.likelihood == "bernoulli":
        y = 1 / (1 + np.exp(-outputs[0]))
        log_px_z = np.sum(x[:, None] * np.log(y) + (1 - x[:, None]) * np.log(1 - y), axis=-1)
    else:
        log_px_z = norm.logpdf(x[:, None], outputs[0], np.exp(0.5 * outputs[1])).sum(-1)  # (n, L)
    if model.estimator == "B":
        kl = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=1)
    else:
        log_q = norm.logpdf(z, mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
        kl = np.mean(log_q - norm.logpdf(z).sum(-1), axis=1)
    return log_px_z.mean(axis=1), kl


# -- errors ------------------------------------------------------------------------------


@contextlib.contextmanager
def clear_error(error, pattern):
    """`pytest.raises(error, match=pattern)` whose message also has vaelib's "Expected ... Received" form."""
    with pytest.raises(error, match=pattern) as info:
        yield info
    assert "Expected" in str(info.value) and "Received" in str(info.value), str(info.value)
