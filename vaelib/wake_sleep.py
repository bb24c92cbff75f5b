"""The wake-sleep algorithm, the baseline of the paper's Fig. 2 (paper §4 and §5).

Wake-sleep (Hinton, Dayan, Frey & Neal, 1995) learns the same two networks as
AEVB: a generative model p_θ(z) p_θ(x|z) (the decoder) and a recognition model
q_φ(z|x) (the encoder). The paper compares the two learning algorithms with
"the same encoder (also called recognition model)" and decoder (§5, Fig. 2) and
notes that wake-sleep "requires a concurrent optimization of two objective
functions, which together do not correspond to optimization of (a bound of)
the marginal likelihood" (§4). Each minibatch x⁽¹⁾ … x⁽ᴹ⁾ gives one step of each
phase:

- **wake**: draw z⁽ⁱ⁾ ~ q_φ(z|x⁽ⁱ⁾) and take a gradient step on θ to increase
  (1/M) Σ_i log p_θ(x⁽ⁱ⁾, z⁽ⁱ⁾) = (1/M) Σ_i [log p_θ(x⁽ⁱ⁾|z⁽ⁱ⁾) + log p_θ(z⁽ⁱ⁾)];
- **sleep**: "dream" M pairs z̃⁽ⁱ⁾ ~ p_θ(z), x̃⁽ⁱ⁾ ~ p_θ(x|z̃⁽ⁱ⁾) from the
  generative model and take a gradient step on φ to increase
  (1/M) Σ_i log q_φ(z̃⁽ⁱ⁾|x̃⁽ⁱ⁾).

One loss, two objectives
------------------------
Keras' `fit()` differentiates one scalar with respect to all trainable
variables. `WakeSleep.compute_loss` returns wake_loss + sleep_loss, and
`keras.ops.stop_gradient` is placed so that each term reaches only its own
parameters:

- the wake term sees z⁽ⁱ⁾ through `stop_gradient`, so it depends on θ only:
  ∂(wake)/∂φ = 0 (unlike AEVB, no gradient flows back through z = μ + σ ⊙ ε);
- the sleep term sees the dreams (z̃, x̃) through `stop_gradient`, so it
  depends on φ only: ∂(sleep)/∂θ = 0.

Hence ∇_θ(wake + sleep) = ∇_θ wake and ∇_φ(wake + sleep) = ∇_φ sleep: one
optimizer step on the sum is exactly one wake step on θ and one sleep step on
φ, taken simultaneously, with an optimizer that keeps per-parameter state
(Adagrad, Adam) behaving as two independent optimizers. The unit tests check
both identities on every backend.

Evaluating a wake-sleep model
-----------------------------
`WakeSleep` subclasses `vaelib.models.VAE`: the networks, `call`, and the
per-example ELBO terms are the VAE's, so `vaelib.evaluation.elbo` gives its
variational lower bound L(θ, φ; x) (paper Eq. 3) with q_φ as the
approximate posterior, and `vaelib.evaluation.log_likelihood` its
importance-sampled log p_θ(x). The paper's Fig. 2 plots this lower bound for
both algorithms.
"""

import keras
from keras import ops

from vaelib import losses
from vaelib._checks import check_model_kwargs, check_no_sample_weight
from vaelib.models import VAE

__all__ = ["WakeSleep"]


@keras.saving.register_keras_serializable(package="vaelib")
class WakeSleep(VAE):
    """The paper's encoder and decoder, trained by the wake-sleep algorithm.

    A `vaelib.models.VAE` whose `compute_loss` is the sum of the wake loss
    (for the generative parameters θ) and the sleep loss (for the recognition
    parameters φ), separated by `keras.ops.stop_gradient` (see the module
    docstring), so that `fit()` performs wake-sleep on every Keras backend:

    - wake_loss = -(1/M) Σ_i (1/L) Σ_l [log p_θ(x⁽ⁱ⁾|z⁽ⁱ'ˡ⁾) + log p_θ(z⁽ⁱ'ˡ⁾)],
      with z⁽ⁱ'ˡ⁾ ~ q_φ(z|x⁽ⁱ⁾) held fixed (no gradient to φ);
    - sleep_loss = -(1/M) Σ_i log q_φ(z̃⁽ⁱ⁾|x̃⁽ⁱ⁾), with M dreams
      z̃⁽ⁱ⁾ ~ N(0, I), x̃⁽ⁱ⁾ ~ p_θ(x|z̃⁽ⁱ⁾) held fixed (no gradient to θ).

    `fit` reports `wake`, `sleep`, and, for comparison with AEVB,
    `reconstruction` = -(1/L) Σ_l log p_θ(x|z⁽ˡ⁾) and `kl` = KL(q_φ(z|x) ‖ p(z))
    (closed form, Appendix B), whose sum is the negative ELBO that wake-sleep
    does not optimize directly. `loss` = wake + sleep plus any
    regularization losses (e.g. weight decay as a prior on θ and φ).

    Args:
        encoder: q_φ(z|x), a model mapping x to `[z_mean, z_log_var]`
            (μ and log σ², each `(batch, J)`).
        decoder: p_θ(x|z), a model mapping z to logits (Bernoulli), to
            `[x_mean, x_log_var]` (Gaussian) or to `x_mean` (Gaussian with
            the fixed `decoder_log_var`).
        likelihood: `"bernoulli"` or `"gaussian"`.
        num_samples: L, wake-phase samples of z per data point (paper: 1).
        decoder_log_var: fixed log σ² of a mean-only Gaussian decoder.
        estimator: `"B"` (Eq. 7) or `"A"` (Eq. 6): the estimator of the ELBO
            used by `elbo_terms`, i.e. when the model is *evaluated*; it
            plays no part in training.
        seed: seed of the wake samples ε and of the dreams.
        **kwargs: standard `keras.Model` arguments (`name`, ...).
    """

    loss_terms = ("wake", "sleep", "reconstruction", "kl")

    def __init__(self, encoder, decoder, likelihood="bernoulli", num_samples=1,
                 decoder_log_var=None, estimator="B", seed=None, **kwargs):
        super().__init__(encoder, decoder, likelihood=likelihood, estimator=estimator,
                         num_samples=num_samples, decoder_log_var=decoder_log_var, seed=seed,
                         beta=None,
                         **check_model_kwargs(type(self), kwargs))
        # The dreams get their own stream, independent of the wake samples.
        self.dream_seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 1)

    def sample_z(self, z_mean, z_log_var, epsilon=None):
        """The VAE's z = μ + σ ⊙ ε (Eq. 10) through `stop_gradient`.

        In the wake phase q_φ only *proposes* z: the decoder's log-likelihood
        sends no gradient back to φ through it.
        """
        return ops.stop_gradient(super().sample_z(z_mean, z_log_var, epsilon))

    def dream(self, n, z=None, noise=None, training=False):
        """Sleep-phase fantasies: z̃ ~ p_θ(z) = N(0, I), then x̃ ~ p_θ(x|z̃).

        A Bernoulli decoder gives binary x̃ (each pixel is 1 with probability
        sigmoid(logit), drawn as `u < sigmoid(logit)` with u ~ U(0, 1)); a
        Gaussian decoder gives x̃ = μ_θ(z̃) + σ_θ(z̃) ⊙ η with η ~ N(0, I).
        Both are returned through `stop_gradient`: dreams are data for the
        sleep phase, not functions of θ.

        Args:
            n: number of dreams (an int or a scalar tensor).
            z: optional fixed z̃, shape `(n, latent_dim)`; drawn from N(0, I)
                by default.
            noise: optional fixed u (Bernoulli) or η (Gaussian), shape
                `(n, *input_shape)`; drawn by default.
            training: Keras' training flag for the decoder.

        Returns:
            `(z, x)`: shapes `(n, latent_dim)` and `(n, *input_shape)`.
        """
        if z is None:
            z = keras.random.normal((n, self.latent_dim), seed=self.dream_seed_generator)
        z = ops.convert_to_tensor(z)
        outputs = keras.tree.flatten(self.decoder(z, training=training))
        if self.likelihood == "bernoulli":
            logits = outputs[0]
            if noise is None:
                noise = keras.random.uniform(ops.shape(logits),
                                             seed=self.dream_seed_generator)
            noise = ops.convert_to_tensor(noise, logits.dtype)
            x = ops.cast(ops.less(noise, ops.sigmoid(logits)), logits.dtype)
        else:
            mean = outputs[0]
            log_var = outputs[1] if len(outputs) == 2 else self.decoder_log_var
            if noise is None:
                noise = keras.random.normal(ops.shape(mean), seed=self.dream_seed_generator)
            noise = ops.convert_to_tensor(noise, mean.dtype)
            x = mean + ops.exp(0.5 * ops.convert_to_tensor(log_var, mean.dtype)) * noise
        return ops.stop_gradient(z), ops.stop_gradient(x)


    def phase_losses(self, x, y_pred=None, dreams=None, training=True):
        """The wake and sleep losses of a minibatch, each averaged over it.

        Args:
            x: data, shape `(batch, *input_shape)`.
            y_pred: the dict returned by `call(x)`; computed if `None`.
            dreams: optional fixed `(z̃, x̃)` from `dream`; by default
                `batch` fresh dreams are drawn.
            training: Keras' training flag.

        Returns:
            A dict of scalars: `wake` (depends on θ only), `sleep` (depends on
            φ only), and the ELBO terms `reconstruction` (-(1/L) Σ_l
            log p_θ(x|z⁽ˡ⁾), averaged) and `kl` (closed form, averaged).
        """
        if y_pred is None:
            y_pred = self(x, training=training)
        log_px_z = self.log_px_given_z(x, y_pred)  # (batch, L)
        log_pz = losses.standard_normal_log_density(y_pred["z"])  # (batch, L)
        if dreams is None:
            dreams = self.dream(ops.shape(x)[0], training=training)
        z_dream, x_dream = (ops.stop_gradient(ops.convert_to_tensor(d)) for d in dreams)
        z_mean, z_log_var = self.encoder(x_dream, training=training)
        return {
            "wake": -ops.mean(log_px_z + log_pz),
            "sleep": -ops.mean(losses.gaussian_log_likelihood(z_dream, z_mean, z_log_var)),
            "reconstruction": -ops.mean(log_px_z),
            "kl": ops.mean(losses.kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])),
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return wake_loss + sleep_loss (plus regularization losses); see the class docstring."""
        check_no_sample_weight(sample_weight)
        terms = self.phase_losses(x, y_pred, training=training)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        loss = terms["wake"] + terms["sleep"]
        if self.losses:  # weight decay, e.g. the paper's N(0, I) prior on θ and φ
            loss = loss + ops.sum(ops.stack(self.losses))  # JAX: no sum of a list
        return loss

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
