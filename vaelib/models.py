"""The paper's encoder and decoder, and the `VAE` trained by SGVB (paper §2.3, §3)."""

import os

import keras
import numpy as np
from keras import layers, ops

from vaelib import losses
from vaelib._checks import check_data, check_finite_number, check_option, check_positive_int
from vaelib.layers import Sampling, reparameterize

LIKELIHOODS = ("bernoulli", "gaussian")
ESTIMATORS = ("A", "B")
VARIANCES = ("learned", "fixed")
REGULARIZERS = ("kl", "mmd", "none")


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
    mean_activation=None,
    variance="learned",
    min_log_var=None,
):
    """Build the paper's MLP decoder p_θ(x|z) (Appendix C.1 and C.2).

    Bernoulli (binary data, C.1): h = tanh(W₃z + b₃) and the logits
    l = W₄h + b₄, so that y = sigmoid(l). Returning logits, not y, lets the
    loss be computed without log(0).
    Gaussian (continuous data, C.2): μ = W₄h + b₄ and log σ² = W₅h + b₅.
    For Frey Face the paper constrains μ to (0, 1) with a sigmoid
    (`mean_activation="sigmoid"`).

    A learned log σ² is unbounded below, and so is the Gaussian
    log-likelihood above: a pixel the decoder predicts exactly (a pixel that
    is always 0, say) earns -½ log(2πσ²) → ∞ nats as σ → 0, and training
    diverges. `min_log_var` bounds it smoothly with a `LogVarianceFloor`
    layer; `losses.quantization_log_var_floor(1 / 255)` gives the floor
    suited to 8-bit images.

    Args:
        latent_dim: J, the size of z.
        hidden_units: units of the hidden layer, or a sequence of sizes.
        output_dim: D, the number of pixels.
        likelihood: `"bernoulli"` or `"gaussian"`.
        activation: activation of the hidden layers (paper: tanh).
        kernel_initializer: Keras initializer of every weight matrix.
        name: name of the model.
        mean_activation: Gaussian only: activation of the mean μ, e.g.
            `"sigmoid"` for data in [0, 1] (paper, Frey Face); `None` keeps
            μ = W₄h + b₄ unconstrained.
        variance: Gaussian only: `"learned"` (log σ² = W₅h + b₅, a second
            output) or `"fixed"` (the decoder outputs μ alone; give the
            `VAE` a fixed `decoder_log_var`).
        min_log_var: Gaussian with learned variance only: a floor m under
            log σ², applied as m + softplus(W₅h + b₅ - m); `None` for none.

    Returns:
        A functional `keras.Model` mapping z, shape `(batch, latent_dim)`, to
        the logits `(batch, output_dim)` (Bernoulli), to `[x_mean, x_log_var]`,
        each `(batch, output_dim)` (Gaussian, learned variance), or to
        `x_mean` (Gaussian, fixed variance).
    """
    latent_dim = check_positive_int("latent_dim", latent_dim)
    output_dim = check_positive_int("output_dim", output_dim)
    _check_decoder_options(likelihood, variance, mean_activation, min_log_var)
    z = keras.Input(shape=(latent_dim,), name="z")
    h = _mlp(z, hidden_units, activation, kernel_initializer)

    def head(output_name, head_activation=None):
        return layers.Dense(
            output_dim, activation=head_activation, kernel_initializer=kernel_initializer,
            name=output_name,
        )(h)  # (batch, output_dim)

    return _decoder_model(z, head, likelihood, variance, mean_activation, min_log_var, name)


def _check_decoder_options(likelihood, variance, mean_activation, min_log_var):
    """Validate the output options shared by the MLP and convolutional decoders."""
    check_option("likelihood", likelihood, LIKELIHOODS)
    check_option("variance", variance, VARIANCES)
    if likelihood == "bernoulli" and (
        mean_activation is not None or variance != "learned" or min_log_var is not None
    ):
        raise ValueError(
            "Expected `mean_activation`, `variance` and `min_log_var` only with "
            "likelihood='gaussian' (a Bernoulli decoder outputs raw logits). Received: "
            f"mean_activation={mean_activation!r}, variance={variance!r}, "
            f"min_log_var={min_log_var!r} with likelihood='bernoulli'"
        )
    if min_log_var is not None and variance != "learned":
        raise ValueError(
            "Expected `min_log_var` only with variance='learned': a fixed variance is "
            f"set by the VAE's `decoder_log_var`. Received: min_log_var={min_log_var!r} "
            f"with variance={variance!r}"
        )


def _decoder_model(z, head, likelihood, variance, mean_activation, min_log_var, name):
    """The decoder's outputs, built by `head(output_name, activation)` (Appendix C).

    Bernoulli: the logits. Gaussian: the mean, and unless the variance is
    fixed, the log-variance (floored by `LogVarianceFloor` if `min_log_var`).
    """
    if likelihood == "bernoulli":
        return keras.Model(z, head("logits"), name=name)
    x_mean = head("x_mean", mean_activation)
    if variance == "fixed":
        return keras.Model(z, x_mean, name=name)
    x_log_var = head("x_log_var")
    if min_log_var is not None:
        x_log_var = LogVarianceFloor(min_log_var, name="x_log_var_floor")(x_log_var)
    return keras.Model(z, [x_mean, x_log_var], name=name)


@keras.saving.register_keras_serializable(package="vaelib")
class LogVarianceFloor(layers.Layer):
    """A smooth lower bound m on a learned log-variance: log σ² = m + softplus(t - m).

    The Gaussian decoder of Appendix C.2 learns log σ² = t = W₅h + b₅ with no
    bound. Its log-likelihood, -½ Σ_d [log 2π + log σ_d² + (x_d - μ_d)²/σ_d²],
    then has no upper bound: where the decoder predicts a pixel exactly, the
    best σ_d is 0 and the bound grows without limit, with gradients that
    grow like 1/σ². This layer keeps log σ² above m, so each pixel earns at
    most -½ (log 2π + m) nats. Above the floor it is nearly the identity
    (m + softplus(t - m) - t = softplus(m - t) → 0 for t ≫ m); below it
    approaches m smoothly. Its derivative, sigmoid(t - m), lies in (0, 1) and
    is never exactly 0, unlike clipping's, so no unit is cut off from the
    gradient for good.

    Args:
        min_log_var: the floor m (a finite number), e.g.
            `losses.quantization_log_var_floor(1 / 255)` for 8-bit images.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...).

    Input and output: log-variances of any shape, e.g. `(batch, D)`.
    """

    def __init__(self, min_log_var, **kwargs):
        super().__init__(**kwargs)
        self.min_log_var = check_finite_number("min_log_var", min_log_var)

    def call(self, inputs):
        return self.min_log_var + ops.softplus(inputs - self.min_log_var)  # same shape as inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"min_log_var": self.min_log_var})
        return config


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
    B, its Monte Carlo estimate for A), and `loss` = reconstruction + β·kl plus
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
        beta: β ≥ 0, the weight of the KL term (β-VAE, Higgins et al. 2017):
            loss = reconstruction + β·KL. β = 1 (default) is the paper's
            -ELBO exactly; β = 0 leaves the reconstruction term alone. β is
            held in a non-trainable variable, `model.beta`, so a callback
            (`KLAnnealing`) can change it between epochs without retracing.
            Only with `regularizer="kl"`.
        regularizer: what pulls the codes towards the prior p(z) = N(0, I):
            `"kl"` (default): β·KL(q_φ(z|x) ‖ p(z)) per example, the VAE;
            `"mmd"`: λ·MMD²(q_φ(z), p(z)) between the minibatch's codes
            z ~ q_φ(z|x) (all L samples of every example) and as many draws
            of p(z), by `losses.mmd` (IMQ kernel, V-statistic): the
            MMD-regularized autoencoder of InfoVAE (Zhao et al. 2019, Eq. 7
            with α = 1) and WAE-MMD (Tolstikhin et al. 2018); its encoder
            stays stochastic (z = μ + σ ⊙ ε);
            `"none"`: no regularizer, and a deterministic encoder: z = μ
            (ε = 0; the z_log_var output is carried along with zero
            gradient), so the loss is the plain autoencoder's
            reconstruction loss -log p_θ(x | z = μ_φ(x)).
            The tracked metrics are `reconstruction` plus `kl` or `mmd`.
        mmd_weight: λ ≥ 0, the weight of the MMD term (only with
            `regularizer="mmd"`). MMD² with these kernels lies in [0, 2]
            while the reconstruction term is summed over the D pixels, so
            λ must be of the reconstruction's scale to matter.
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
        beta=1.0,
        regularizer="kl",
        mmd_weight=1.0,
        **kwargs,
    ):
        try:
            super().__init__(**kwargs)
        except ValueError as error:  # Keras: "Unrecognized keyword arguments passed to VAE"
            if "nrecognized keyword" not in str(error):
                raise
            raise TypeError(
                "Expected the arguments of VAE (encoder, decoder, likelihood, estimator, "
                "num_samples, decoder_log_var, seed, beta, regularizer, mmd_weight) or of keras.Model (name, trainable, "
                f"dtype). Received: unknown keyword argument(s) {sorted(kwargs)}"
            ) from None
        self.likelihood = check_option("likelihood", likelihood, LIKELIHOODS)
        self.estimator = check_option("estimator", estimator, ESTIMATORS)
        self.num_samples = check_positive_int("num_samples", num_samples)
        if decoder_log_var is not None:  # a NaN here would make every loss NaN
            decoder_log_var = check_finite_number("decoder_log_var", decoder_log_var)
        self.decoder_log_var = decoder_log_var
        self.seed = seed
        self.encoder = encoder
        self.decoder = decoder
        self._check_architecture()
        self.sampling = Sampling(num_samples=self.num_samples, seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self._init_regularizer(beta, regularizer, mmd_weight)
        # Built from the start (its parts are), as keras.callbacks.BackupAndRestore requires.
        self.build((None, *self.input_shape_))

    def _init_regularizer(self, beta, regularizer, mmd_weight):
        """Check β, the regularizer and λ; create β's variable and the metric trackers."""
        self.regularizer = check_option("regularizer", regularizer, REGULARIZERS)
        for name, value in (("beta", beta), ("mmd_weight", mmd_weight)):
            if check_finite_number(name, value) < 0.0:
                raise ValueError(
                    f"Expected `{name}` to be a non-negative number. Received: {name}={value!r}"
                )
        for name, value, owner in (("beta", beta, "kl"), ("mmd_weight", mmd_weight, "mmd")):
            if float(value) != 1.0 and self.regularizer != owner:
                raise ValueError(
                    f"Expected `{name}` only with regularizer={owner!r} (it weights that "
                    f"term). Received: {name}={value!r} with regularizer={self.regularizer!r}"
                )
        if self.regularizer != "kl" and self.estimator != "B":
            raise ValueError(
                "Expected estimator='B' with regularizer="
                f"{self.regularizer!r}: the estimator chooses how the KL term is computed "
                f"(Eq. 6 or 7), and this loss has none. Received: estimator={self.estimator!r}"
            )
        if self.regularizer == "none" and self.num_samples != 1:
            raise ValueError(
                "Expected num_samples=1 with regularizer='none': its encoder is deterministic "
                f"(z = μ), so L samples would be L copies. Received: num_samples={self.num_samples}"
            )
        self.mmd_weight = float(mmd_weight)
        self.beta = None
        self.kl_tracker = self.mmd_tracker = None
        if self.regularizer == "kl":
            # A variable, not a Python float: compiled train steps read its current
            # value, so KLAnnealing can assign it between epochs on every backend.
            self.beta = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(float(beta)),
                trainable=False, name="beta",
            )
            self.kl_tracker = keras.metrics.Mean(name="kl")
        elif self.regularizer == "mmd":
            # Draws of the prior p(z) = N(0, I) for the MMD, from their own noise stream.
            self.prior_sampling = Sampling(
                num_samples=self.num_samples, seed=None if self.seed is None else self.seed + 1,
                name="prior_sampling",
            )
            self.mmd_tracker = keras.metrics.Mean(name="mmd")

    # β lives in the model's own weight store under the name "beta". A file saved
    # before β existed has no such entry: it loads with the β of the configuration.

    def save_own_variables(self, store):
        """Save β (Keras' hook for `save`/`save_weights`)."""
        if self.beta is not None:
            store["beta"] = ops.convert_to_numpy(self.beta)

    def load_own_variables(self, store):
        """Restore β, if the file has it."""
        if self.beta is not None and "beta" in store.keys():
            self.beta.assign(store["beta"][...])

    def _check_architecture(self):
        """Check that encoder and decoder fit together and match `likelihood`."""
        for name, network in (("encoder", self.encoder), ("decoder", self.decoder)):
            if not (isinstance(network, keras.Model) and getattr(network, "inputs", None)
                    and getattr(network, "outputs", None)):
                raise TypeError(
                    f"Expected `{name}` to be a functional keras.Model with known inputs "
                    f"and outputs (see build_{name}). Received: {type(network).__name__}"
                )
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
        return self._sample_and_decode(z_mean, z_log_var, epsilon, training)

    def _sample_and_decode(self, z_mean, z_log_var, epsilon, training, labels=None):
        """z = μ + σ ⊙ ε (Eq. 10; ε = 0 for regularizer='none'), then decode: `call`'s dict."""
        if epsilon is None and self.regularizer == "none":  # deterministic: z = μ
            epsilon = ops.zeros_like(ops.expand_dims(z_mean, 1))  # (batch, 1, J)
        if epsilon is None:
            z = self.sampling([z_mean, z_log_var])  # (batch, L, J)
        else:
            z = reparameterize(z_mean, z_log_var, epsilon)
        batch, num_samples = ops.shape(z)[0], ops.shape(z)[1]
        z_flat = ops.reshape(z, (-1, self.latent_dim))  # (batch * L, J)
        if labels is None:
            outputs = self.decoder(z_flat, training=training)
        else:  # the label of example b for each of its L codes, rows b * L + l
            outputs = self.decoder([z_flat, ops.repeat(labels, num_samples, axis=0)],
                                   training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # Each decoder output: (batch * L, *input_shape) -> (batch, L, D).
        outputs = [ops.reshape(o, (batch, num_samples, -1)) for o in outputs]
        names = ["logits"] if self.likelihood == "bernoulli" else ["x_mean", "x_log_var"]
        result = {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, **dict(zip(names, outputs))}
        if self.regularizer == "mmd":  # prior draws, made here so that JAX tracks their noise
            zeros = ops.zeros_like(z_mean)
            result["z_prior"] = self.prior_sampling([zeros, zeros])  # (batch, L, J), N(0, I)
        return result

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
        """Return the loss averaged over the batch (plus regularization losses).

        regularizer="kl": reconstruction + β·KL, the -ELBO estimate for β = 1;
        "mmd": reconstruction + λ·MMD²; "none": reconstruction alone.
        """
        _refuse_sample_weight(sample_weight)
        if y_pred is None:
            y_pred = self(x, training=training)
        if self.regularizer == "kl":
            log_likelihood, kl = self.elbo_terms(x, y_pred)
            reconstruction = -ops.mean(log_likelihood)
            kl = ops.mean(kl)
            self.reconstruction_tracker.update_state(reconstruction)
            self.kl_tracker.update_state(kl)
            loss = reconstruction + ops.cast(self.beta, kl.dtype) * kl  # β = 1: the -ELBO
        else:
            reconstruction = -ops.mean(self.log_px_given_z(x, y_pred))
            self.reconstruction_tracker.update_state(reconstruction)
            loss = reconstruction
            if self.regularizer == "mmd":  # InfoVAE / WAE: λ·MMD²(q(z), p(z))
                z = ops.reshape(y_pred["z"], (-1, self.latent_dim))  # (batch * L, J)
                z_prior = ops.reshape(y_pred["z_prior"], (-1, self.latent_dim))
                divergence = losses.mmd(z, z_prior)
                self.mmd_tracker.update_state(divergence)
                loss = loss + self.mmd_weight * divergence
        if self.losses:  # weight decay, e.g. the paper's N(0, I) prior on θ
            loss = loss + ops.sum(ops.stack(self.losses))  # JAX: no sum of a list
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

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, after checking in-memory `x`; returns `call`'s dict."""
        return super().predict(self._check_if_array(x, "x"), *args, **kwargs)

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
            with np.errstate(over="ignore"):  # exp(-l) = inf for l < -88 gives y = 0 exactly
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
                "beta": 1.0 if self.beta is None else float(ops.convert_to_numpy(self.beta)),
                "regularizer": self.regularizer,
                "mmd_weight": self.mmd_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


# -- saving and loading, safely ---------------------------------------------------


def save_model(model, path, verify=True):
    """Save a model to a `.keras` file atomically, checked to load back in safe mode.

    `model.save(path)` opens `path` for writing first, so a process killed
    mid-save (or a full disk) leaves a truncated file under the final name and
    the previous model is lost. Here the archive is written to a temporary
    file beside `path` (same folder, hence same file system), flushed to disk,
    loaded back with `safe_mode=True` and compared weight by weight, and only
    then renamed onto `path` by `os.replace`, which is atomic: at every
    instant `path` holds either the previous file or the complete new one. If
    anything fails, the temporary file is removed and `path` is left as it
    was. (A process killed outright can leave its temporary file,
    `.NAME.PID.partial.keras`, behind; it is never complete, so it never
    loads.)

    Args:
        model: a `keras.Model`, e.g. a `VAE`.
        path: destination file, ending in `.keras`.
        verify: load the written file back in safe mode and compare its
            weights with the model's before it replaces `path`. This proves
            that the file loads without running Python code (no `Lambda`
            layer, every custom class registered), for the cost of one load.

    Returns:
        `path`, as a string.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        ValueError: `path` does not end in `.keras`, or the written file does
            not load back as the same model in safe mode.
        FileNotFoundError: the folder of `path` does not exist.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected `model` to be a keras.Model. Received: {type(model).__name__}")
    path = _check_keras_path(path)
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Expected an existing folder to save {name} in. Received: path={path!r}, "
            f"and {folder} does not exist"
        )
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.partial.keras")
    try:
        keras.saving.save_model(model, temporary)
        _flush_to_disk(temporary)
        if verify:
            _check_loads_back(model, temporary, path)
        os.replace(temporary, path)  # atomic: the old file or the new one, never a mix
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    _flush_to_disk(folder)  # make the rename itself survive a power cut
    return path


def load_model(path, expected_latent_dim=None, expected_input_shape=None, compile=True):
    """Load a `VAE` from a `.keras` file in safe mode, and check what the file holds.

    `keras.saving.load_model` answers a truncated file with "File not found"
    and a corrupted one with a zip error, and returns whatever model it finds.
    This loader

    - loads with `safe_mode=True`, so Python code stored in a file (the
      bytecode of a `Lambda` layer) is never deserialized, let alone run;
    - turns every failure to read the archive (empty, truncated, corrupted,
      not a zip file, weights that do not fit the stored architecture) into a
      `ValueError` naming the file, what was expected and what was found;
    - checks that the file holds a `VAE` with finite weights and, if asked,
      the latent size J and data shape the caller relies on.

    Args:
        path: a `.keras` file written by `save_model` (or `model.save`).
        expected_latent_dim: the J the caller relies on, or `None` for any.
        expected_input_shape: the shape of one example, e.g. `(784,)` or
            `784`, or `None` for any.
        compile: restore the training configuration (optimizer) as saved.

    Returns:
        The `VAE`.

    Raises:
        FileNotFoundError: there is no file at `path`.
        TypeError: the file holds a model that is not a `VAE`.
        ValueError: the file is not a loadable `.keras` archive, asks for
            unsafe deserialization, or holds another VAE than the expected one.
    """
    path = _check_keras_path(path)
    if expected_latent_dim is not None:
        expected_latent_dim = check_positive_int("expected_latent_dim", expected_latent_dim)
    if expected_input_shape is not None:
        expected_input_shape = tuple(
            check_positive_int("expected_input_shape", size)
            for size in ((expected_input_shape,) if np.isscalar(expected_input_shape)
                         else expected_input_shape)
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected a .keras file at {path}. Received: no such file")
    if not _has_zip_directory(path):
        raise ValueError(
            f"Expected a .keras file (a zip archive) at {path}. Received: "
            f"{os.path.getsize(path)} bytes without a zip archive's closing directory: "
            "a truncated file (an interrupted save or download?) or not a .keras file"
        )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # whatever the archive's defect, one clear error
        if "safe_mode" in str(error):
            raise ValueError(
                f"Expected a .keras file that loads in safe mode, without running Python "
                f"code stored in it. Received: {path} asks to deserialize code "
                f"({_first_line(error)}). Load it with keras.saving.load_model(..., "
                "safe_mode=False) only if you trust its source."
            ) from None
        raise ValueError(
            f"Expected a complete, uncorrupted .keras file whose weights fit its "
            f"architecture at {path}. Received: a file Keras cannot load "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from None
    if not isinstance(model, VAE):
        raise TypeError(
            f"Expected {path} to hold a vaelib.models.VAE. Received: a "
            f"{type(model).__name__} named {model.name!r}"
        )
    if expected_latent_dim is not None and model.latent_dim != expected_latent_dim:
        raise ValueError(
            f"Expected a VAE with latent_dim={expected_latent_dim} in {path}. "
            f"Received: latent_dim={model.latent_dim}"
        )
    if expected_input_shape is not None and model.input_shape_ != expected_input_shape:
        raise ValueError(
            f"Expected a VAE for data of shape {expected_input_shape} in {path}. "
            f"Received: input shape {model.input_shape_}"
        )
    for variable in model.weights:
        value = ops.convert_to_numpy(variable)
        bad = value.size - np.count_nonzero(np.isfinite(value))
        if bad:
            raise ValueError(
                f"Expected finite weights in {path}. Received: {bad} NaN or infinite "
                f"value(s) in {variable.path}"
            )
    return model


def _check_keras_path(path):
    try:
        path = os.fspath(path)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path.endswith(".keras"):
        raise ValueError(
            f"Expected a path ending in .keras (Keras' native format). Received: path={path!r}"
        )
    return path


def _has_zip_directory(path):
    """True if the file ends with a zip archive's end-of-central-directory record."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 22 - 65535))  # the 22-byte record and at most 64 KiB of comment
        return b"PK\x05\x06" in f.read()


def _first_line(error):
    """The gist of an error: its first two non-empty lines (Keras' can run to pages)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


def _flush_to_disk(path):
    """fsync a file, or a folder where the system allows it (not on Windows)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _check_loads_back(model, temporary, path):
    """Load the file just written in safe mode; raise unless it holds `model`'s weights."""
    try:
        restored = keras.saving.load_model(temporary, compile=False, safe_mode=True)
    except Exception as error:
        raise ValueError(
            "Expected a model that loads back from its .keras file in safe mode (no "
            "Lambda layer or other Python code; custom classes registered with "
            "keras.saving.register_keras_serializable). Received: a model whose file "
            f"Keras cannot load so ({type(error).__name__}: {_first_line(error)}); "
            f"{path} was left unchanged"
        ) from None
    saved, loaded = model.get_weights(), restored.get_weights()
    same = len(saved) == len(loaded) and all(
        a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(saved, loaded)
    )
    if not same:
        raise ValueError(
            f"Expected the written file to hold the model's {len(saved)} weight arrays "
            f"exactly. Received: {len(loaded)} arrays that differ; {path} was left unchanged"
        )


# -- variants: KL annealing, convolutional networks, the conditional VAE -------------


class KLAnnealing(keras.callbacks.Callback):
    """Warm up β linearly from `start` to `stop` over the first `epochs` epochs.

    With β held low early in training, the decoder learns to use z before the
    KL term can pull q_φ(z|x) onto the prior, a remedy for posterior collapse
    ("KL annealing", Bowman et al. 2016, §3.1; "warm-up", Sønderby et al.
    2016, §2.2). Epoch e (counted from 0, as `fit`'s `initial_epoch`) trains
    with

        β_e = start + (stop - start) · min(1, e / epochs),

    so epoch 0 uses `start` and every epoch from `epochs` on uses `stop`. The
    value is assigned to the model's `beta` variable at the start of each
    epoch (which every backend reads afresh there) and written to the logs as
    `beta`, so it appears in `fit`'s history.

    Args:
        start: β of the first epoch (≥ 0).
        stop: β after the warm-up (≥ 0).
        epochs: length of the warm-up in epochs (a positive integer).
    """

    def __init__(self, start=0.0, stop=1.0, epochs=10):
        super().__init__()
        for name, value in (("start", start), ("stop", stop)):
            if check_finite_number(name, value) < 0.0:
                raise ValueError(
                    f"Expected `{name}` to be a non-negative number (a β). Received: {name}={value!r}"
                )
        self.start, self.stop = float(start), float(stop)
        self.epochs = check_positive_int("epochs", epochs)

    def beta_at(self, epoch):
        """β_e of epoch `epoch` (counted from 0)."""
        return self.start + (self.stop - self.start) * min(1.0, epoch / self.epochs)

    def on_train_begin(self, logs=None):
        if getattr(self.model, "beta", None) is None:
            raise ValueError(
                "Expected a VAE with regularizer='kl' (it has a `beta` to anneal). Received: "
                f"a {type(self.model).__name__} with regularizer="
                f"{getattr(self.model, 'regularizer', None)!r}"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self.model.beta.assign(self.beta_at(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = self.beta_at(epoch)


def _check_image_shape(image_shape, num_halvings):
    """Return `image_shape` (H, W, C) as a tuple, H and W divisible by 2**num_halvings."""
    try:
        shape = tuple(check_positive_int("image_shape", size) for size in image_shape)
    except (TypeError, ValueError):
        shape = ()
    factor = 2**num_halvings
    if len(shape) != 3 or shape[0] % factor or shape[1] % factor:
        raise ValueError(
            "Expected `image_shape` to be (height, width, channels), positive integers with "
            f"height and width divisible by 2**len(filters) = {factor}. "
            f"Received: image_shape={image_shape!r}"
        )
    return shape


def _check_filters(filters):
    sizes = (filters,) if np.isscalar(filters) else tuple(filters)
    if not sizes:
        raise ValueError(
            "Expected `filters` to be a positive integer or a non-empty sequence of them. "
            f"Received: filters={filters!r}"
        )
    return tuple(check_positive_int("filters", size) for size in sizes)


def build_conv_encoder(
    image_shape=(28, 28, 1),
    filters=(32, 64),
    kernel_size=3,
    hidden_units=256,
    latent_dim=20,
    activation="relu",
    kernel_initializer="glorot_uniform",
    name="conv_encoder",
):
    """Build a convolutional encoder q_φ(z|x) for images, with the MLP encoder's interface.

    Each `Conv2D` has stride 2 and halves the height and width (28 → 14 → 7
    for the default two layers), a dense hidden layer follows, and two dense
    heads give μ and log σ² as in Appendix C.2. The input is the *flattened*
    image, shape `(batch, H·W·C)`, exactly the MLP encoder's, so the same
    data arrays, `VAE`, losses and plots work unchanged.

    Args:
        image_shape: (H, W, C), e.g. (28, 28, 1) for MNIST and Fashion-MNIST;
            H and W divisible by 2**len(filters).
        filters: channels of each stride-2 convolution, e.g. (32, 64).
        kernel_size: size of the square convolution kernels.
        hidden_units: units of the dense layer(s) after the convolutions.
        latent_dim: J, the size of z.
        activation: activation of the convolutions and hidden layers.
        kernel_initializer: Keras initializer of every kernel.
        name: name of the model.

    Returns:
        A functional `keras.Model` mapping x, shape `(batch, H·W·C)`, to
        `[z_mean, z_log_var]`, each `(batch, latent_dim)`.
    """
    filters = _check_filters(filters)
    image_shape = _check_image_shape(image_shape, len(filters))
    kernel_size = check_positive_int("kernel_size", kernel_size)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    x = keras.Input(shape=(int(np.prod(image_shape)),), name="x")
    h = layers.Reshape(image_shape, name="image")(x)  # (batch, H·W·C) -> (batch, H, W, C)
    for i, channels in enumerate(filters):  # (batch, H/2^i, W/2^i, .) -> halved
        h = layers.Conv2D(
            channels, kernel_size, strides=2, padding="same", activation=activation,
            kernel_initializer=kernel_initializer, name=f"conv_{i}",
        )(h)
    h = layers.Flatten(name="flatten")(h)  # (batch, H/2^k · W/2^k · filters[-1])
    h = _mlp(h, hidden_units, activation, kernel_initializer)
    z_mean = layers.Dense(latent_dim, kernel_initializer=kernel_initializer, name="z_mean")(h)
    z_log_var = layers.Dense(
        latent_dim, kernel_initializer=kernel_initializer, name="z_log_var"
    )(h)
    return keras.Model(x, [z_mean, z_log_var], name=name)


def build_conv_decoder(
    latent_dim=20,
    image_shape=(28, 28, 1),
    filters=(32, 64),
    kernel_size=3,
    hidden_units=256,
    likelihood="bernoulli",
    activation="relu",
    kernel_initializer="glorot_uniform",
    name="conv_decoder",
    mean_activation=None,
    variance="learned",
    min_log_var=None,
):
    """Build a transposed-convolution decoder p_θ(x|z), the mirror of `build_conv_encoder`.

    z goes through a dense hidden layer and a dense layer reshaped to a
    (H/2^k, W/2^k, filters[-1]) feature map; each stride-2 `Conv2DTranspose`
    (filters in reverse order) doubles height and width (7 → 14 → 28), and a
    last stride-1 `Conv2DTranspose` per output gives C channels, flattened to
    `(batch, H·W·C)`: the MLP decoder's output shapes, so `VAE` and its
    losses apply unchanged.

    Outputs, as in `build_decoder`: Bernoulli logits (Appendix C.1), or the
    Gaussian mean μ and, with a learned variance, log σ² (Appendix C.2),
    optionally floored by `LogVarianceFloor(min_log_var)`.

    Which likelihood for grey-level images such as Fashion-MNIST? Their
    pixels take 256 grey levels in [0, 1], not the values 0 and 1. The
    Bernoulli "log-likelihood" Σ x log y + (1 - x) log(1 - y) of a grey level
    x is a cross-entropy, not the log of a normalized density on [0, 1]
    (the continuous Bernoulli's normalizer is missing, Loaiza-Ganem &
    Cunningham 2019), so its value is not log p(x) and is not comparable
    with another model's. The Gaussian with a learned per-pixel variance is
    a proper density on the grey levels; floored at
    `losses.quantization_log_var_floor(1 / 255)` it cannot claim more
    precision than 8-bit data has, so its ELBO is a bound on a log-density
    that stays finite. Use it (with `mean_activation="sigmoid"`) whenever the
    numbers are read as log-likelihoods; the Bernoulli decoder remains a
    common practical choice when only the pictures matter.

    Args:
        latent_dim: J, the size of z.
        image_shape: (H, W, C); H and W divisible by 2**len(filters).
        filters: the encoder's channels per layer, e.g. (32, 64); applied
            here in reverse order.
        kernel_size: size of the square kernels.
        hidden_units: units of the dense hidden layer(s) after z.
        likelihood: `"bernoulli"` or `"gaussian"`.
        activation: activation of the hidden layers and transposed convolutions.
        kernel_initializer: Keras initializer of every kernel.
        name: name of the model.
        mean_activation: Gaussian only: activation of μ, e.g. `"sigmoid"`.
        variance: Gaussian only: `"learned"` or `"fixed"` (the VAE's
            `decoder_log_var`).
        min_log_var: Gaussian with learned variance only: floor of log σ².

    Returns:
        A functional `keras.Model` mapping z, shape `(batch, latent_dim)`, to
        logits `(batch, H·W·C)` (Bernoulli), to `[x_mean, x_log_var]`
        (Gaussian, learned variance) or to `x_mean` (fixed variance).
    """
    filters = _check_filters(filters)
    image_shape = _check_image_shape(image_shape, len(filters))
    kernel_size = check_positive_int("kernel_size", kernel_size)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    _check_decoder_options(likelihood, variance, mean_activation, min_log_var)
    factor = 2 ** len(filters)
    height, width, channels = image_shape
    z = keras.Input(shape=(latent_dim,), name="z")
    h = _mlp(z, hidden_units, activation, kernel_initializer)
    h = layers.Dense(
        (height // factor) * (width // factor) * filters[-1], activation=activation,
        kernel_initializer=kernel_initializer, name="to_feature_map",
    )(h)
    h = layers.Reshape((height // factor, width // factor, filters[-1]), name="feature_map")(h)
    for i, size in enumerate(reversed(filters)):  # each doubles height and width
        h = layers.Conv2DTranspose(
            size, kernel_size, strides=2, padding="same", activation=activation,
            kernel_initializer=kernel_initializer, name=f"deconv_{i}",
        )(h)

    def head(output_name, head_activation=None):
        image = layers.Conv2DTranspose(
            channels, kernel_size, padding="same", activation=head_activation,
            kernel_initializer=kernel_initializer, name=f"{output_name}_image",
        )(h)  # (batch, H, W, C)
        return layers.Flatten(name=output_name)(image)  # (batch, H·W·C)

    return _decoder_model(z, head, likelihood, variance, mean_activation, min_log_var, name)


def build_conditional_encoder(input_dim=784, num_classes=10, name="conditional_encoder",
                              **kwargs):
    """Build the encoder q_φ(z|x, y) of a conditional VAE: the MLP encoder of [x, y].

    The one-hot label y is concatenated to x (Sohn et al. 2015, §4;
    Kingma et al. 2014, model M2, Eq. 4), and the result goes through the
    MLP encoder of `build_encoder` with input size D + K.

    Args:
        input_dim: D, the number of pixels.
        num_classes: K, the number of classes (the one-hot label's size).
        name: name of the model (the inner MLP is named `name + "_mlp"`).
        **kwargs: further arguments of `build_encoder` (`hidden_units`,
            `latent_dim`, `activation`, `kernel_initializer`).

    Returns:
        A functional `keras.Model` mapping `[x, y]`, shapes `(batch, D)` and
        `(batch, K)`, to `[z_mean, z_log_var]`, each `(batch, latent_dim)`.
    """
    input_dim = check_positive_int("input_dim", input_dim)
    num_classes = check_positive_int("num_classes", num_classes)
    network = build_encoder(input_dim=input_dim + num_classes, name=f"{name}_mlp", **kwargs)
    x = keras.Input(shape=(input_dim,), name="x")
    label = keras.Input(shape=(num_classes,), name="label")
    x_and_label = layers.Concatenate(name="x_and_label")([x, label])  # (batch, D + K)
    return keras.Model([x, label], network(x_and_label), name=name)


def build_conditional_decoder(latent_dim=20, num_classes=10, name="conditional_decoder",
                              **kwargs):
    """Build the decoder p_θ(x|z, y) of a conditional VAE: the MLP decoder of [z, y].

    The one-hot label y is concatenated to z (Sohn et al. 2015, §4;
    Kingma et al. 2014, model M2, Eq. 3), and the result goes through the
    MLP decoder of `build_decoder` with input size J + K.

    Args:
        latent_dim: J, the size of z.
        num_classes: K, the number of classes.
        name: name of the model (the inner MLP is named `name + "_mlp"`).
        **kwargs: further arguments of `build_decoder` (`hidden_units`,
            `output_dim`, `likelihood`, `mean_activation`, `variance`,
            `min_log_var`, ...).

    Returns:
        A functional `keras.Model` mapping `[z, y]`, shapes
        `(batch, latent_dim)` and `(batch, K)`, to the outputs of
        `build_decoder` (logits, or the Gaussian's mean and log-variance).
    """
    latent_dim = check_positive_int("latent_dim", latent_dim)
    num_classes = check_positive_int("num_classes", num_classes)
    network = build_decoder(latent_dim=latent_dim + num_classes, name=f"{name}_mlp", **kwargs)
    z = keras.Input(shape=(latent_dim,), name="z")
    label = keras.Input(shape=(num_classes,), name="label")
    z_and_label = layers.Concatenate(name="z_and_label")([z, label])  # (batch, J + K)
    return keras.Model([z, label], network(z_and_label), name=name)


def _in_batches_with_labels(network, values, labels, batch_size):
    """Apply a two-input `network` to `[values, labels]` in slices; NumPy outputs."""
    batch_size = check_positive_int("batch_size", batch_size)
    parts = []
    for start in range(0, len(values), batch_size):
        stop = start + batch_size
        outputs = network([values[start:stop], labels[start:stop]], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        parts.append([ops.convert_to_numpy(o) for o in outputs])
    return [np.concatenate(column) for column in zip(*parts)]


@keras.saving.register_keras_serializable(package="vaelib")
class ConditionalVAE(VAE):
    """A conditional VAE: the VAE of p_θ(x|y), with encoder and decoder given the label y.

    The generative model is p(z) = N(0, I), p_θ(x|z, y) (Kingma et al. 2014,
    M2, Eq. 3 with y observed; Sohn et al. 2015, Eq. 4); the recognition
    model is q_φ(z|x, y). For every labelled pair (x, y) the bound on
    log p_θ(x|y) is

        ELBO(x|y) = E_q(z|x,y)[log p_θ(x|z, y)] - KL(q_φ(z|x, y) ‖ p(z)),

    estimated exactly as the `VAE` estimates the paper's Eq. 7 (or Eq. 6):
    z = μ + σ ⊙ ε from the encoder's output for [x, y], the decoder applied
    to [z, y]. `compute_loss` returns its negative averaged over the batch;
    β, `regularizer`, `num_samples` and the estimators work as in `VAE`.

    Data: the model's input is the pair `[x, labels]`, so train with
    `model.fit([x, labels], epochs=..., validation_data=([x_val, labels_val],))`.
    `labels` may be integer class ids, shape `(n,)`, or one-hot rows,
    shape `(n, K)`; in-memory arrays are checked and turned into float32
    one-hot rows. (A `tf.data` or other stream must yield `([x, one_hot],)`.)

    Args:
        encoder: a model mapping `[x, y]` to `[z_mean, z_log_var]` (see
            `build_conditional_encoder`).
        decoder: a model mapping `[z, y]` to the decoder's outputs (see
            `build_conditional_decoder`).
        **kwargs: the other arguments of `VAE`.
    """

    def _check_architecture(self):
        super()._check_architecture()
        sizes = {}
        for name, network in (("encoder", self.encoder), ("decoder", self.decoder)):
            inputs = network.inputs
            if len(inputs) != 2 or len(inputs[1].shape) != 2:
                raise ValueError(
                    f"Expected the {name} to take two inputs, the data and a one-hot label "
                    f"(batch, K) (see build_conditional_{name}). Received: inputs of shapes "
                    f"{[tuple(t.shape) for t in inputs]}"
                )
            sizes[name] = inputs[1].shape[1]
        if sizes["encoder"] != sizes["decoder"]:
            raise ValueError(
                "Expected encoder and decoder to take labels of one size K. Received: "
                f"K={sizes['encoder']} (encoder) and K={sizes['decoder']} (decoder)"
            )
        self.num_classes = int(sizes["encoder"])

    def get_config(self):
        """The `VAE`'s configuration: K is read back from the networks' label inputs."""
        return super().get_config()

    def call(self, inputs, training=False, epsilon=None):
        """Encode [x, y], sample z by Eq. 10 and decode [z, y].

        Args:
            inputs: the pair `[x, labels]`, shapes `(batch, D)` and
                `(batch, K)` (one-hot).
            training: Keras' training flag.
            epsilon: optional fixed noise ε of shape `(batch, L, latent_dim)`.

        Returns:
            `VAE.call`'s dict of tensors.
        """
        x, labels = inputs
        labels = ops.cast(labels, "float32")
        z_mean, z_log_var = self.encoder([x, labels], training=training)
        return self._sample_and_decode(z_mean, z_log_var, epsilon, training, labels=labels)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return -ELBO(x|y) averaged over the batch; `x` is the pair `[x, labels]`."""
        if y_pred is None:
            y_pred = self(x, training=training)
        return super().compute_loss(
            x=x[0], y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    # -- inputs --------------------------------------------------------------

    def check_labels(self, labels, n=None, name="labels"):
        """Return labels as float32 one-hot rows `(n, K)`, from class ids or one-hot rows."""
        try:
            array = np.asarray(labels)
        except Exception:
            array = np.asarray(None)
        k = self.num_classes
        if array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
            if array.size and (array.min() < 0 or array.max() >= k):
                raise ValueError(
                    f"Expected `{name}` to be class ids in [0, {k}). "
                    f"Received: values in [{array.min()}, {array.max()}]"
                )
            array = np.eye(k, dtype="float32")[array]
        elif array.ndim == 2 and array.shape[1] == k and (
            np.issubdtype(array.dtype, np.number) or array.dtype == bool
        ):
            array = array.astype("float32")
            if not (np.all((array == 0) | (array == 1)) and np.all(array.sum(axis=1) == 1)):
                raise ValueError(
                    f"Expected `{name}` to be one-hot rows (a single 1, otherwise 0). "
                    "Received: rows that are not"
                )
        else:
            raise ValueError(
                f"Expected `{name}` to be integer class ids of shape (n,) or one-hot rows "
                f"of shape (n, {k}). Received: dtype={array.dtype}, shape={array.shape}"
            )
        if n is not None and len(array) != n:
            raise ValueError(
                f"Expected one label per example, {n} in all. Received: {len(array)} labels"
            )
        return array

    def _check_if_array(self, inputs, name):
        # Pairs of arrays are checked up front; datasets and generators are streamed.
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            x = self.check_inputs(inputs[0], name)
            return [x, self.check_labels(inputs[1], len(x), name=f"labels of {name}")]
        if isinstance(inputs, (list, tuple)) or hasattr(inputs, "__array__"):
            raise ValueError(
                f"Expected `{name}` to be the pair [x, labels] of a ConditionalVAE. "
                f"Received: a {type(inputs).__name__}"
                + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else "")
            )
        return inputs

    # -- using a trained model -------------------------------------------------

    def encode(self, x, labels, batch_size=1000):
        """Return (μ, log σ²) of q_φ(z|x, y) as NumPy arrays, each `(n, latent_dim)`."""
        x = self.check_inputs(x)
        labels = self.check_labels(labels, len(x))
        z_mean, z_log_var = _in_batches_with_labels(self.encoder, x, labels, batch_size)
        return z_mean, z_log_var

    def decode(self, z, labels, batch_size=1000):
        """Return the decoder's mean E[x|z, y] (Bernoulli: sigmoid(logits); Gaussian: μ).

        Args:
            z: latent codes, shape `(n, latent_dim)`.
            labels: class ids `(n,)` or one-hot rows `(n, K)`.
            batch_size: codes per forward pass.

        Returns:
            NumPy array of shape `(n, *input_shape)`.
        """
        z = check_data(z, name="z", feature_shape=(self.latent_dim,))
        labels = self.check_labels(labels, len(z))
        outputs = _in_batches_with_labels(self.decoder, z, labels, batch_size)
        if self.likelihood == "bernoulli":
            with np.errstate(over="ignore"):  # exp(-l) = inf for l < -88 gives y = 0 exactly
                return 1.0 / (1.0 + np.exp(-outputs[0]))
        return outputs[0]

    def sample(self, n, labels, seed=None):
        """Draw n samples of chosen classes: z ~ p(z), then E[x|z, y].

        Args:
            n: number of samples.
            labels: one class id (an int, for all n samples), or n labels
                (class ids or one-hot rows).
            seed: integer seed of z.

        Returns:
            NumPy array of shape `(n, *input_shape)`.
        """
        n = check_positive_int("n", n)
        if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
            labels = np.full(n, labels)
        z = keras.random.normal((n, self.latent_dim), seed=seed)
        return self.decode(ops.convert_to_numpy(z), labels)

    def reconstruct(self, x, labels):
        """Return E[x | z = μ_φ(x, y), y]."""
        z_mean, _ = self.encode(x, labels)
        return self.decode(z_mean, labels)
