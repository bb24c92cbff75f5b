"""The paper's encoder and decoder, and the `VAE` trained by SGVB (paper §2.3, §3)."""

import keras
import numpy as np
from keras import layers, ops

from vaelib import losses
from vaelib._checks import check_data, check_option, check_positive_int
from vaelib.layers import Sampling, reparameterize

LIKELIHOODS = ("bernoulli", "gaussian")
ESTIMATORS = ("A", "B")


def _hidden_sizes(hidden_units):
    """Return `hidden_units` (an int or a sequence of ints) as a checked tuple."""
    sizes = (hidden_units,) if np.isscalar(hidden_units) else tuple(hidden_units)
    if not sizes:
        raise ValueError(
            "Expected `hidden_units` to be a positive integer or a non-empty "
            f"sequence of them. Received: hidden_units={hidden_units!r}"
        )
    return tuple(check_positive_int("hidden_units", size) for size in sizes)


def _mlp(inputs, hidden_units, activation, kernel_initializer):
    h = inputs
    for i, units in enumerate(_hidden_sizes(hidden_units)):
        h = layers.Dense(
            units, activation=activation, kernel_initializer=kernel_initializer,
            name=f"hidden_{i}",
        )(h)
    return h


def build_encoder(
    input_dim=784,
    hidden_units=500,
    latent_dim=20,
    activation="tanh",
    kernel_initializer="glorot_uniform",
    name="encoder",
):
    """Build the paper's MLP encoder q_φ(z|x) (Appendix C.2).

    h = tanh(W₃x + b₃), μ = W₄h + b₄, log σ² = W₅h + b₅. The paper uses one
    hidden layer of tanh units (500 for MNIST, 200 for Frey Face).

    Args:
        input_dim: D, the number of pixels (784 for MNIST).
        hidden_units: units of the hidden layer, or a sequence of sizes for
            several hidden layers.
        latent_dim: J, the size of z.
        activation: activation of the hidden layers (paper: tanh).
        kernel_initializer: Keras initializer of every weight matrix.
        name: name of the model.

    Returns:
        A functional `keras.Model` mapping x, shape `(batch, input_dim)`, to
        `[z_mean, z_log_var]` (μ and log σ²), each `(batch, latent_dim)`.
    """
    input_dim = check_positive_int("input_dim", input_dim)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    x = keras.Input(shape=(input_dim,), name="x")
    h = _mlp(x, hidden_units, activation, kernel_initializer)
    z_mean = layers.Dense(latent_dim, kernel_initializer=kernel_initializer, name="z_mean")(h)
    z_log_var = layers.Dense(
        latent_dim, kernel_initializer=kernel_initializer, name="z_log_var"
    )(h)
    return keras.Model(x, [z_mean, z_log_var], name=name)


def build_decoder(
    latent_dim=20,
    hidden_units=500,
    output_dim=784,
    likelihood="bernoulli",
    activation="tanh",
    kernel_initializer="glorot_uniform",
    name="decoder",
):
    """Build the paper's MLP decoder p_θ(x|z) (Appendix C.1 and C.2).

    Bernoulli (binary data, C.1): h = tanh(W₃z + b₃) and the logits
    l = W₄h + b₄, so that y = sigmoid(l). Returning logits, not y, lets the
    loss be computed without log(0).
    Gaussian (continuous data, C.2): μ = W₄h + b₄ and log σ² = W₅h + b₅.

    Args:
        latent_dim: J, the size of z.
        hidden_units: units of the hidden layer, or a sequence of sizes.
        output_dim: D, the number of pixels.
        likelihood: `"bernoulli"` or `"gaussian"`.
        activation: activation of the hidden layers (paper: tanh).
        kernel_initializer: Keras initializer of every weight matrix.
        name: name of the model.

    Returns:
        A functional `keras.Model` mapping z, shape `(batch, latent_dim)`, to
        the logits `(batch, output_dim)` (Bernoulli) or to
        `[x_mean, x_log_var]`, each `(batch, output_dim)` (Gaussian).
    """
    latent_dim = check_positive_int("latent_dim", latent_dim)
    output_dim = check_positive_int("output_dim", output_dim)
    check_option("likelihood", likelihood, LIKELIHOODS)
    z = keras.Input(shape=(latent_dim,), name="z")
    h = _mlp(z, hidden_units, activation, kernel_initializer)
    if likelihood == "bernoulli":
        outputs = layers.Dense(output_dim, kernel_initializer=kernel_initializer, name="logits")(h)
    else:
        outputs = [
            layers.Dense(output_dim, kernel_initializer=kernel_initializer, name="x_mean")(h),
            layers.Dense(output_dim, kernel_initializer=kernel_initializer, name="x_log_var")(h),
        ]
    return keras.Model(z, outputs, name=name)


def _refuse_sample_weight(sample_weight):
    if sample_weight is not None:
        raise ValueError(
            "Expected no `sample_weight`: every example of the ELBO counts once. "
            "Received: a sample_weight"
        )


def _in_batches(network, x, batch_size):
    """Apply `network` to `x` in slices; return its outputs as a list of NumPy arrays."""
    batch_size = check_positive_int("batch_size", batch_size)
    parts = []
    for start in range(0, len(x), batch_size):
        outputs = network(x[start:start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        parts.append([ops.convert_to_numpy(o) for o in outputs])
    return [np.concatenate(column) for column in zip(*parts)]


@keras.saving.register_keras_serializable(package="vaelib")
class VAE(keras.Model):
    """A variational autoencoder trained by maximizing the SGVB estimate of the ELBO.

    For a minibatch x, `compute_loss` returns the negative of the estimator
    averaged over the batch (paper Eq. 8 divided by M), so `fit()` performs
    the AEVB algorithm (Algorithm 1) on any Keras backend:

    - estimator B (Eq. 7, default): -KL(q_φ(z|x) ‖ p_θ(z)) in closed form
      (Appendix B) plus (1/L) Σ_l log p_θ(x|z⁽ˡ⁾);
    - estimator A (Eq. 6): (1/L) Σ_l [log p_θ(x, z⁽ˡ⁾) - log q_φ(z⁽ˡ⁾|x)],

    with z⁽ˡ⁾ = μ + σ ⊙ ε⁽ˡ⁾ (Eq. 10). The two terms are tracked as metrics:
    `reconstruction` = -(1/L) Σ_l log p_θ(x|z⁽ˡ⁾) and `kl` (the closed form for
    B, its Monte Carlo estimate for A), and `loss` = reconstruction + kl plus
    any regularization losses of the encoder and decoder.

    Args:
        encoder: a model mapping x to `[z_mean, z_log_var]` (see
            `build_encoder`).
        decoder: a model mapping z to logits (Bernoulli), to
            `[x_mean, x_log_var]` (Gaussian, learned variance) or to `x_mean`
            alone (Gaussian with the fixed `decoder_log_var`).
        likelihood: `"bernoulli"` (data in [0, 1]) or `"gaussian"`.
        estimator: `"B"` (Eq. 7) or `"A"` (Eq. 6).
        num_samples: L, samples of z per data point (paper: 1).
        decoder_log_var: fixed log σ² of a Gaussian decoder that outputs the
            mean only; `None` otherwise.
        seed: seed of the sampling noise ε.
        **kwargs: standard `keras.Model` arguments (`name`, ...).
    """

    def __init__(
        self,
        encoder,
        decoder,
        likelihood="bernoulli",
        estimator="B",
        num_samples=1,
        decoder_log_var=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.likelihood = check_option("likelihood", likelihood, LIKELIHOODS)
        self.estimator = check_option("estimator", estimator, ESTIMATORS)
        self.num_samples = check_positive_int("num_samples", num_samples)
        self.decoder_log_var = None if decoder_log_var is None else float(decoder_log_var)
        self.seed = seed
        self.encoder = encoder
        self.decoder = decoder
        self._check_architecture()
        self.sampling = Sampling(num_samples=self.num_samples, seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def _check_architecture(self):
        """Check that encoder and decoder fit together and match `likelihood`."""
        encoder_outputs = self.encoder.outputs
        if len(encoder_outputs) != 2 or encoder_outputs[0].shape != encoder_outputs[1].shape:
            raise ValueError(
                "Expected the encoder to output [z_mean, z_log_var] of one shape. "
                f"Received: outputs of shapes {[t.shape for t in encoder_outputs]}"
            )
        self.latent_dim = int(encoder_outputs[0].shape[-1])
        decoder_input = tuple(self.decoder.inputs[0].shape[1:])
        if decoder_input != (self.latent_dim,):
            raise ValueError(
                f"Expected the decoder to take z of shape (batch, {self.latent_dim}), the "
                f"encoder's latent size. Received: a decoder input of shape (batch, "
                f"{', '.join(map(str, decoder_input))})"
            )
        self.input_shape_ = tuple(self.encoder.inputs[0].shape[1:])
        n_out = len(self.decoder.outputs)
        if self.likelihood == "bernoulli":
            expected = 1
        else:
            expected = 1 if self.decoder_log_var is not None else 2
        if n_out != expected:
            raise ValueError(
                f"Expected a {self.likelihood} decoder"
                + (" with a fixed `decoder_log_var`" if self.decoder_log_var is not None else "")
                + f" to have {expected} output(s). Received: {n_out} outputs"
            )
        for output in self.decoder.outputs:
            if tuple(output.shape[1:]) != self.input_shape_:
                raise ValueError(
                    f"Expected the decoder's outputs to have the data's shape (batch, "
                    f"{', '.join(map(str, self.input_shape_))}). Received: "
                    f"{tuple(output.shape)}"
                )

    def build(self, input_shape=None):
        # Encoder and decoder are built when they are created.
        self.built = True

    def call(self, x, training=False, epsilon=None):
        """Encode, sample z by Eq. 10 and decode.

        Args:
            x: data, shape `(batch, *input_shape)`.
            training: Keras' training flag.
            epsilon: optional fixed noise ε of shape `(batch, L, latent_dim)`;
                by default ε is drawn by the `Sampling` layer.

        Returns:
            A dict of tensors: `z_mean`, `z_log_var` `(batch, J)`, `z`
            `(batch, L, J)`, and the decoder's outputs flattened to
            `(batch, L, D)`: `logits` (Bernoulli) or `x_mean` and `x_log_var`
            (Gaussian).
        """
        z_mean, z_log_var = self.encoder(x, training=training)
        if epsilon is None:
            z = self.sampling([z_mean, z_log_var])  # (batch, L, J)
        else:
            z = reparameterize(z_mean, z_log_var, epsilon)
        batch, num_samples = ops.shape(z)[0], ops.shape(z)[1]
        outputs = self.decoder(ops.reshape(z, (-1, self.latent_dim)), training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # Each decoder output: (batch * L, *input_shape) -> (batch, L, D).
        outputs = [ops.reshape(o, (batch, num_samples, -1)) for o in outputs]
        names = ["logits"] if self.likelihood == "bernoulli" else ["x_mean", "x_log_var"]
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, **dict(zip(names, outputs))}

    def log_px_given_z(self, x, y_pred):
        """log p_θ(x|z⁽ˡ⁾) for each of the L samples of z in `y_pred`.

        Args:
            x: data, shape `(batch, *input_shape)`.
            y_pred: the dict returned by `call(x)`.

        Returns:
            shape `(batch, L)`.
        """
        x = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], 1, -1))  # (batch, 1, D)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, y_pred["logits"])
        log_var = y_pred.get("x_log_var", self.decoder_log_var)
        return losses.gaussian_log_likelihood(x, y_pred["x_mean"], log_var)

    def log_pz_minus_log_qz(self, y_pred):
        """log p_θ(z⁽ˡ⁾) - log q_φ(z⁽ˡ⁾|x) for each of the L samples of z in `y_pred`.

        Its average over the samples is the Monte Carlo estimate of -KL used by
        estimator A (Eq. 6); added to `log_px_given_z` it is the log importance
        weight of z⁽ˡ⁾.

        Args:
            y_pred: the dict returned by `call(x)`.

        Returns:
            shape `(batch, L)`.
        """
        z = y_pred["z"]  # (batch, L, J)
        log_q = losses.gaussian_log_likelihood(
            z, ops.expand_dims(y_pred["z_mean"], 1), ops.expand_dims(y_pred["z_log_var"], 1)
        )
        return losses.standard_normal_log_density(z) - log_q

    def elbo_terms(self, x, y_pred):
        """Per-example terms of the SGVB estimate, for the configured estimator.

        Args:
            x: data, shape `(batch, *input_shape)`.
            y_pred: the dict returned by `call(x)`.

        Returns:
            `(log_likelihood, kl)`, each of shape `(batch,)`:
            (1/L) Σ_l log p_θ(x|z⁽ˡ⁾), and KL(q_φ(z|x) ‖ p(z)) in closed form
            (estimator B) or estimated as (1/L) Σ_l [log q_φ(z⁽ˡ⁾|x) - log p(z⁽ˡ⁾)]
            (estimator A). The ELBO estimate is `log_likelihood - kl`.
        """
        log_likelihood = ops.mean(self.log_px_given_z(x, y_pred), axis=1)
        if self.estimator == "B":
            kl = losses.kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        else:
            kl = -ops.mean(self.log_pz_minus_log_qz(y_pred), axis=1)
        return log_likelihood, kl

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return -ELBO estimate averaged over the batch (plus regularization losses)."""
        _refuse_sample_weight(sample_weight)
        if y_pred is None:
            y_pred = self(x, training=training)
        log_likelihood, kl = self.elbo_terms(x, y_pred)
        reconstruction = -ops.mean(log_likelihood)
        kl = ops.mean(kl)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        loss = reconstruction + kl
        if self.losses:  # weight decay, e.g. the paper's N(0, I) prior on θ
            loss = loss + ops.sum(self.losses)
        return loss

    # -- inputs --------------------------------------------------------------

    def check_inputs(self, x, name="x"):
        """Return `x` as float32 NumPy after checking shape, finiteness and range.

        Raises `ValueError`/`TypeError` naming what was expected (the
        encoder's input shape; values in [0, 1] for a Bernoulli decoder) and
        what was received.
        """
        return check_data(
            x, name=name, feature_shape=self.input_shape_,
            unit_interval=self.likelihood == "bernoulli",
        )

    def _check_if_array(self, x, name):
        # Arrays are checked up front; datasets and generators are streamed.
        if isinstance(x, (list, tuple)) or hasattr(x, "__array__"):
            return self.check_inputs(x, name)
        return x

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking in-memory `x` and `validation_data`.

        The VAE is unsupervised: `y` is not used by the loss.
        """
        _refuse_sample_weight(kwargs.get("sample_weight"))
        x = self._check_if_array(x, "x")
        if isinstance(validation_data, (list, tuple)):
            validation_data = (self._check_if_array(validation_data[0], "validation_data"),)
        elif validation_data is not None:
            validation_data = self._check_if_array(validation_data, "validation_data")
            if isinstance(validation_data, np.ndarray):
                validation_data = (validation_data,)
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, after checking in-memory `x`."""
        _refuse_sample_weight(kwargs.get("sample_weight"))
        return super().evaluate(self._check_if_array(x, "x"), y, *args, **kwargs)

    # -- using a trained model -------------------------------------------------

    def encode(self, x, batch_size=1000):
        """Return the posterior parameters (μ, log σ²) of q_φ(z|x) as NumPy arrays.

        Args:
            x: data, shape `(n, *input_shape)`.
            batch_size: examples per forward pass.

        Returns:
            `(z_mean, z_log_var)`, each `(n, latent_dim)`.
        """
        x = self.check_inputs(x)
        z_mean, z_log_var = _in_batches(self.encoder, x, batch_size)
        return z_mean, z_log_var

    def decode(self, z, batch_size=1000):
        """Return the decoder's mean E[x|z] for latent codes z.

        Bernoulli: the pixel probabilities y = sigmoid(logits); Gaussian: μ.

        Args:
            z: latent codes, shape `(n, latent_dim)`.
            batch_size: codes per forward pass.

        Returns:
            NumPy array of shape `(n, *input_shape)`.
        """
        z = check_data(z, name="z", feature_shape=(self.latent_dim,))
        outputs = _in_batches(self.decoder, z, batch_size)
        if self.likelihood == "bernoulli":
            return 1.0 / (1.0 + np.exp(-outputs[0]))
        return outputs[0]

    def sample(self, n, seed=None):
        """Draw n samples: z ~ p(z) = N(0, I), then the decoder's mean E[x|z].

        Args:
            n: number of samples.
            seed: integer seed of z, for reproducible samples.

        Returns:
            NumPy array of shape `(n, *input_shape)`.
        """
        n = check_positive_int("n", n)
        z = keras.random.normal((n, self.latent_dim), seed=seed)
        return self.decode(ops.convert_to_numpy(z))

    def reconstruct(self, x):
        """Return the decoder's mean at the posterior mean: E[x | z = μ_φ(x)]."""
        z_mean, _ = self.encode(x)
        return self.decode(z_mean)

    # -- serialization --------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "likelihood": self.likelihood,
                "estimator": self.estimator,
                "num_samples": self.num_samples,
                "decoder_log_var": self.decoder_log_var,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)
