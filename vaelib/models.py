"""The paper's MLP encoder and decoder, and the `VAE` trained by SGVB (paper §2.3, §3).

The variants of other modules subclass `VAE` and override its hooks:
`sample_z`, `decoder_inputs`, `log_px_given_z`, `regularizer_loss`.
"""

import keras
import numpy as np
from keras import layers, ops

from vaelib import losses
from vaelib.data import in_batches
from vaelib._checks import (CheckedFit, check_data, check_decoder_log_var,
                            check_decoder_options, check_legacy_config, check_model_kwargs,
                            check_networks, check_no_sample_weight, check_non_negative,
                            check_option, check_positive_int, check_sizes, data_range)
from vaelib.layers import LogVarianceFloor, Sampling, reparameterize


def mlp(inputs, hidden_units, activation, kernel_initializer):
    """Dense hidden layers `hidden_0`, `hidden_1`, ... applied to `inputs`."""
    h = inputs
    for i, units in enumerate(check_sizes("hidden_units", hidden_units)):
        h = layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer,
                         name=f"hidden_{i}")(h)
    return h


def build_encoder(input_dim=784, hidden_units=500, latent_dim=20, activation="tanh",
                  kernel_initializer="glorot_uniform", name="encoder"):
    """Build the paper's MLP encoder q_φ(z|x) = N(μ, σ² I) (Appendix C.2, Eq. 9).

    h = tanh(W₃x + b₃), μ = W₄h + b₄, log σ² = W₅h + b₅; the paper has one
    hidden layer of 500 tanh units for MNIST, 200 for Frey Face.

    Args:
        input_dim: D, the number of pixels (784 for MNIST).
        hidden_units: units of the hidden layer, or a sequence of sizes.
        latent_dim: J, the size of z.
        activation, kernel_initializer, name: of the hidden layers, of every
            weight matrix, and of the model.

    Returns:
        A functional `keras.Model` mapping x `(batch, D)` to
        `[z_mean, z_log_var]`, μ and log σ², each `(batch, J)`.
    """
    x = keras.Input(shape=(check_positive_int("input_dim", input_dim),), name="x")
    h = mlp(x, hidden_units, activation, kernel_initializer)
    return keras.Model(x, posterior_heads(h, latent_dim, kernel_initializer), name=name)


def posterior_heads(h, latent_dim, kernel_initializer):
    """The encoder's outputs [μ, log σ²] = [W₄h + b₄, W₅h + b₅], each `(batch, J)`."""
    latent_dim = check_positive_int("latent_dim", latent_dim)
    return [layers.Dense(latent_dim, kernel_initializer=kernel_initializer, name=name)(h)
            for name in ("z_mean", "z_log_var")]


def build_decoder(latent_dim=20, hidden_units=500, output_dim=784, likelihood="bernoulli",
                  activation="tanh", kernel_initializer="glorot_uniform", name="decoder",
                  mean_activation=None, variance="learned", min_log_var=None):
    """Build the paper's MLP decoder p_θ(x|z) (Appendix C.1 and C.2).

    Bernoulli (binary data, C.1): h = tanh(W₁z + b₁), logits l = W₂h + b₂
    and y = sigmoid(l); the loss reads the logits, so it never takes log(0).
    Gaussian (C.2): μ = W₄h + b₄ (through a sigmoid for Frey Face) and
    log σ² = W₅h + b₅, optionally floored by a `LogVarianceFloor`.

    Args:
        latent_dim: J, the size of z.
        hidden_units: units of the hidden layer, or a sequence of sizes.
        output_dim: D, the number of pixels.
        likelihood: `"bernoulli"` or `"gaussian"`.
        activation, kernel_initializer, name: as in `build_encoder`.
        mean_activation: Gaussian only: activation of μ, e.g. `"sigmoid"`.
        variance: Gaussian only: `"learned"` (a second output, log σ²) or
            `"fixed"` (μ alone; give the `VAE` a `decoder_log_var`).
        min_log_var: Gaussian with learned variance only: a floor m under
            log σ², e.g. `losses.quantization_log_var_floor(1 / 255)`.

    Returns:
        A functional `keras.Model` mapping z `(batch, J)` to the logits, to
        `[x_mean, x_log_var]` or to `x_mean`, each `(batch, D)`.
    """
    min_log_var = check_decoder_options(likelihood, variance, mean_activation, min_log_var)
    z = keras.Input(shape=(check_positive_int("latent_dim", latent_dim),), name="z")
    h = mlp(z, hidden_units, activation, kernel_initializer)
    output_dim = check_positive_int("output_dim", output_dim)

    def head(output_name, head_activation=None):  # (batch, D)
        return layers.Dense(output_dim, activation=head_activation,
                            kernel_initializer=kernel_initializer, name=output_name)(h)

    return keras.Model(z, decoder_outputs(head, likelihood, variance, mean_activation,
                                          min_log_var), name=name)


def decoder_outputs(head, likelihood, variance, mean_activation, min_log_var):
    """The decoder's output tensors, each made by `head(name, activation)` (Appendix C)."""
    if likelihood == "bernoulli":
        return head("logits")
    x_mean = head("x_mean", mean_activation)
    if variance == "fixed":
        return x_mean
    x_log_var = head("x_log_var")
    if min_log_var is not None:
        x_log_var = LogVarianceFloor(min_log_var, name="x_log_var_floor")(x_log_var)
    return [x_mean, x_log_var]


@keras.saving.register_keras_serializable(package="vaelib")
class VAE(CheckedFit, keras.Model):
    """A variational autoencoder trained by maximizing the SGVB estimate of the ELBO.

    For a minibatch x, `compute_loss` returns the negative of the estimator
    averaged over the batch (paper Eq. 8 divided by M), so `fit()` performs
    the AEVB algorithm (Algorithm 1) on any Keras backend:

    - estimator B (Eq. 7, default): (1/L) Σ_l log p_θ(x|z⁽ˡ⁾) minus
      KL(q_φ(z|x) ‖ p_θ(z)) in closed form (Appendix B);
    - estimator A (Eq. 6): (1/L) Σ_l [log p_θ(x, z⁽ˡ⁾) - log q_φ(z⁽ˡ⁾|x)],

    with z⁽ˡ⁾ = μ + σ ⊙ ε⁽ˡ⁾ (Eq. 10). `fit` reports its `loss_terms`,
    `reconstruction` = -(1/L) Σ_l log p_θ(x|z⁽ˡ⁾) and `kl`, and `loss` =
    reconstruction + β·kl (plus the networks' regularization losses).

    Args:
        encoder: x → `[z_mean, z_log_var]` (`build_encoder`).
        decoder: z → logits (Bernoulli), `[x_mean, x_log_var]` (Gaussian),
            or `x_mean` alone (Gaussian with a fixed `decoder_log_var`).
        likelihood: `"bernoulli"` (data in [0, 1]) or `"gaussian"`.
        estimator: `"B"` (Eq. 7) or `"A"` (Eq. 6).
        num_samples: L, samples of z per data point (paper: 1).
        decoder_log_var: the fixed log σ² of a mean-only Gaussian decoder.
        seed: seed of the sampling noise ε.
        beta: β ≥ 0, the weight of the KL term (β-VAE, Higgins et al. 2017;
            1 is the paper's -ELBO), a variable that `callbacks.KLAnnealing`
            can change; `None` for a subclass whose loss has no KL term.
        **kwargs: standard `keras.Model` arguments (`name`, ...).
    """

    loss_terms = ("reconstruction", "kl")  # what fit() reports beside `loss`

    def __init__(self, encoder, decoder, likelihood="bernoulli", estimator="B", num_samples=1,
                 decoder_log_var=None, seed=None, beta=1.0, **kwargs):
        super().__init__(**check_model_kwargs(type(self), kwargs))
        self.likelihood = check_option("likelihood", likelihood, ("bernoulli", "gaussian"))
        self.estimator = check_option("estimator", estimator, ("A", "B"))
        self.num_samples = check_positive_int("num_samples", num_samples)
        self.decoder_log_var = check_decoder_log_var(decoder_log_var, likelihood)
        self.latent_dim, self.input_shape_ = check_networks(encoder, decoder, likelihood,
                                                            self.decoder_log_var)
        self.data_range = data_range(decoder, likelihood)  # (low, high, why) or None
        self.encoder, self.decoder, self.seed = encoder, decoder, seed
        self.sampling = Sampling(num_samples=self.num_samples, seed=seed, name="sampling")
        # β: a variable, not a float, so that compiled steps read its current value.
        self.beta = None if beta is None else self.add_weight(
            shape=(), name="beta", trainable=False,
            initializer=keras.initializers.Constant(check_non_negative("beta", beta)))
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_terms}
        self.built = True  # encoder and decoder are built when they are created

    def call(self, inputs, training=False, epsilon=None):
        """Encode, sample z by Eq. 10 (with the fixed noise ε `(batch, L, J)` if
        given) and decode every sample. Returns a dict of tensors: `z_mean`,
        `z_log_var` `(batch, J)`, `z` `(batch, L, J)`, and the decoder's
        outputs `(batch, L, D)`: `logits`, or `x_mean` and `x_log_var`.
        """
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sample_z(z_mean, z_log_var, epsilon)  # (batch, L, J)
        outputs = self.decoder(self.decoder_inputs(z, inputs), training=training)
        shape = (ops.shape(z)[0], ops.shape(z)[1], -1)  # each output as (batch, L, D)
        names = ["logits"] if self.likelihood == "bernoulli" else ["x_mean", "x_log_var"]
        outputs = [ops.reshape(o, shape) for o in keras.tree.flatten(outputs)]
        return dict(z_mean=z_mean, z_log_var=z_log_var, z=z, **dict(zip(names, outputs)))

    def sample_z(self, z_mean, z_log_var, epsilon=None):
        """z = μ + σ ⊙ ε (Eq. 10), `(batch, L, J)`; ε from the `Sampling` layer's stream."""
        if epsilon is None:
            epsilon = self.sampling.noise(z_mean)  # (batch, L, J)
        return reparameterize(z_mean, z_log_var, epsilon)

    def decoder_inputs(self, z, inputs):
        """What the decoder reads: every sample of z as a row, `(batch · L, J)`."""
        return ops.reshape(z, (-1, self.latent_dim))

    def log_px_given_z(self, x, y_pred):
        """log p_θ(x|z⁽ˡ⁾) for each of the L samples in `y_pred = call(x)`, `(batch, L)`."""
        x = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], 1, -1))  # (batch, 1, D)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, y_pred["logits"])
        log_var = y_pred.get("x_log_var", self.decoder_log_var)
        return losses.gaussian_log_likelihood(x, y_pred["x_mean"], log_var)

    def log_pz_minus_log_qz(self, y_pred):
        """log p_θ(z⁽ˡ⁾) - log q_φ(z⁽ˡ⁾|x) per sample, `(batch, L)`: averaged, estimator
        A's -KL (Eq. 6); plus `log_px_given_z`, the log importance weight of z⁽ˡ⁾."""
        z = y_pred["z"]  # (batch, L, J)
        mean, log_var = (ops.expand_dims(y_pred[k], 1) for k in ("z_mean", "z_log_var"))
        log_q = losses.gaussian_log_likelihood(z, mean, log_var)  # (batch, L)
        return losses.standard_normal_log_density(z) - log_q

    def kl_divergence(self, y_pred):
        """KL(q_φ(z|x) ‖ p(z)) per example, `(batch,)`: closed form (B) or Monte Carlo (A)."""
        if self.estimator == "B":
            return losses.kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        return -ops.mean(self.log_pz_minus_log_qz(y_pred), axis=1)

    def elbo_terms(self, x, y_pred):
        """`(log_likelihood, kl)`, each `(batch,)`: the ELBO estimate is their difference."""
        return ops.mean(self.log_px_given_z(x, y_pred), axis=1), self.kl_divergence(y_pred)

    def regularizer_loss(self, y_pred):
        """β·KL averaged over the batch: what pulls q_φ(z|x) towards the prior p(z)."""
        kl = ops.mean(self.kl_divergence(y_pred))
        self.trackers["kl"].update_state(kl)
        return ops.cast(self.beta, kl.dtype) * kl

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return reconstruction + β·KL averaged over the batch: the -ELBO for β = 1."""
        check_no_sample_weight(sample_weight)
        if y_pred is None:
            y_pred = self(x, training=training)
        reconstruction = -ops.mean(self.log_px_given_z(x, y_pred))  # mean over batch and L
        self.trackers["reconstruction"].update_state(reconstruction)
        loss = reconstruction + self.regularizer_loss(y_pred)
        if self.losses:  # weight decay, e.g. the paper's N(0, I) prior on θ
            loss = loss + ops.sum(ops.stack(self.losses))  # JAX: no sum of a list
        return loss

    def check_inputs(self, x, name="x"):
        """Return `x` as float32 NumPy, checked: shape, finite, in the decoder's range."""
        return check_data(x, name, feature_shape=self.input_shape_, value_range=self.data_range)

    def encode(self, x, batch_size=1000):
        """Return (μ, log σ²) of q_φ(z|x) for data x, as NumPy arrays `(n, J)` each."""
        return tuple(in_batches(self.encoder, self.check_inputs(x), batch_size))

    def decode(self, z, batch_size=1000):
        """Return E[x|z] for codes z `(n, J)`: sigmoid(logits) (Bernoulli) or μ (Gaussian)."""
        z = check_data(z, name="z", feature_shape=(self.latent_dim,))
        return self.mean_of(in_batches(self.decoder, z, batch_size))

    def mean_of(self, outputs):
        """E[x|z] from the decoder's outputs (NumPy): y = sigmoid(logits), or μ."""
        if self.likelihood == "gaussian":
            return outputs[0]
        with np.errstate(over="ignore"):  # exp(-l) = inf for l < -88 gives y = 0 exactly
            return 1.0 / (1.0 + np.exp(-outputs[0]))

    def sample(self, n, seed=None):
        """Draw n samples: z ~ p(z) = N(0, I), then E[x|z], shape `(n, *input_shape)`."""
        z = keras.random.normal((check_positive_int("n", n), self.latent_dim), seed=seed)
        return self.decode(ops.convert_to_numpy(z))

    def reconstruct(self, x):
        """Return E[x | z = μ_φ(x)], the decoder's mean at the posterior mean."""
        return self.decode(self.encode(x)[0])

    # -- saving: β under its own name, so that a file saved before β existed loads --

    def save_own_variables(self, store):
        if self.beta is not None:
            store["beta"] = ops.convert_to_numpy(self.beta)

    def load_own_variables(self, store):
        if self.beta is not None and "beta" in store.keys():
            self.beta.assign(store["beta"][...])

    def get_config(self):
        beta = None if self.beta is None else float(ops.convert_to_numpy(self.beta))
        networks = {name: keras.saving.serialize_keras_object(getattr(self, name))
                    for name in ("encoder", "decoder")}
        return {**super().get_config(), **networks, "likelihood": self.likelihood,
                "estimator": self.estimator, "num_samples": self.num_samples,
                "decoder_log_var": self.decoder_log_var, "seed": self.seed, "beta": beta}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("encoder", "decoder"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**check_legacy_config(config))

