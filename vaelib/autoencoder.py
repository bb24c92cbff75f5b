"""The plain autoencoder: the VAE's networks with no noise and no regularizer."""

import keras
from keras import ops

from vaelib._checks import check_model_kwargs

from vaelib.layers import reparameterize
from vaelib.models import VAE


@keras.saving.register_keras_serializable(package="vaelib")
class Autoencoder(VAE):
    """The VAE's encoder and decoder trained as a plain, deterministic autoencoder.

    The code is z = μ_φ(x) (no ε; the encoder's z_log_var output is carried
    along and gets no gradient), and the loss is the reconstruction term
    alone, -log p_θ(x | z = μ_φ(x)) averaged over the batch: the VAE's loss
    with its regularizer dropped. Its q_φ(z|x) is a point mass, so it has no
    ELBO (the KL from the prior is infinite), and nothing makes the prior a
    good place to sample codes from (Chapter 9). `fit` reports
    `reconstruction`.

    Args:
        encoder, decoder, likelihood, decoder_log_var, seed: as in `VAE`.
        **kwargs: standard `keras.Model` arguments (`name`, ...).
    """

    loss_terms = ("reconstruction",)

    def __init__(self, encoder, decoder, likelihood="bernoulli", decoder_log_var=None, seed=None,
                 **kwargs):
        super().__init__(encoder, decoder, likelihood=likelihood, decoder_log_var=decoder_log_var,
                         seed=seed, beta=None,
                         **check_model_kwargs(type(self), kwargs))

    def sample_z(self, z_mean, z_log_var, epsilon=None):
        """z = μ, shape `(batch, 1, J)`: the code of a deterministic encoder.

        It is computed as μ + σ ⊙ 0, so that z_log_var stays in the graph with
        a zero gradient (an output with no gradient at all draws a warning).
        """
        if epsilon is not None:
            raise ValueError(
                "Expected no noise `epsilon`: an Autoencoder's code is z = μ_φ(x), so "
                "it has no ELBO or importance-sampled likelihood to estimate. "
                f"Received: epsilon of shape {tuple(epsilon.shape)}")
        zeros = ops.zeros_like(ops.expand_dims(z_mean, 1))  # (batch, 1, J)
        return reparameterize(z_mean, z_log_var, zeros)  # μ + σ·0: a zero gradient

    def regularizer_loss(self, y_pred):
        """None: the loss is the reconstruction term alone."""
        return 0.0

    def get_config(self):
        config = super().get_config()
        for name in ("estimator", "num_samples", "beta"):
            del config[name]
        return config
