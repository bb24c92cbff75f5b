"""The conditional VAE (Sohn et al. 2015; Kingma et al. 2014, M2 with y observed)."""

import keras
import numpy as np
from keras import layers, ops

from vaelib._checks import check_data, check_label_inputs, check_labels, check_positive_int
from vaelib.models import VAE, build_decoder, build_encoder, in_batches


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
    return _given_label("x", input_dim, num_classes, name, lambda size: build_encoder(
        input_dim=size, name=f"{name}_mlp", **kwargs))


def build_conditional_decoder(latent_dim=20, num_classes=10, name="conditional_decoder",
                              **kwargs):
    """Build the decoder p_θ(x|z, y) of a conditional VAE: the MLP decoder of [z, y].

    The mirror of `build_conditional_encoder`: the one-hot label y joins z
    (M2's Eq. 3), and `build_decoder` (with input size J + K and the other
    arguments, `**kwargs`: `hidden_units`, `output_dim`, `likelihood`,
    `mean_activation`, `variance`, `min_log_var`, ...) maps [z, y] to its
    outputs: logits, or the Gaussian's mean and log-variance, each
    `(batch, D)`. `latent_dim` is J, `num_classes` K; the model is called
    `name`, its inner MLP `name + "_mlp"`.
    """
    latent_dim = check_positive_int("latent_dim", latent_dim)
    return _given_label("z", latent_dim, num_classes, name, lambda size: build_decoder(
        latent_dim=size, name=f"{name}_mlp", **kwargs))


def _given_label(input_name, size, num_classes, name, build):
    """A model of [input, y]: the network `build(size + K)` applied to their concatenation."""
    inputs = keras.Input(shape=(size,), name=input_name)
    label = keras.Input(shape=(check_positive_int("num_classes", num_classes),), name="label")
    network = build(size + label.shape[1])
    joined = layers.Concatenate(name=f"{input_name}_and_label")([inputs, label])  # (batch, size + K)
    return keras.Model([inputs, label], network(joined), name=name)


@keras.saving.register_keras_serializable(package="vaelib")
class ConditionalVAE(VAE):
    """A conditional VAE: the VAE of p_θ(x|y), with encoder and decoder given the label y.

    The generative model is p(z) = N(0, I), p_θ(x|z, y) (Kingma et al. 2014,
    M2, Eq. 3 with y observed; Sohn et al. 2015, Eq. 4); the recognition
    model is q_φ(z|x, y). For every labelled pair (x, y) the bound on
    log p_θ(x|y) is

        ELBO(x|y) = E_q(z|x,y)[log p_θ(x|z, y)] - KL(q_φ(z|x, y) ‖ p(z)),

    estimated exactly as the `VAE` estimates the paper's Eq. 7 (or Eq. 6):
    the encoder reads [x, y], and the decoder reads [z, y] (the hook
    `decoder_inputs`). β, `num_samples` and the estimators work as in `VAE`,
    and `evaluation.elbo(model, [x, labels])` gives the per-example bound.

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

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.num_classes = check_label_inputs(encoder, decoder)  # K

    def decoder_inputs(self, z, inputs):
        """[z, y]: each of the L samples of example b with b's label, rows b·L + l."""
        labels = ops.repeat(ops.cast(inputs[1], z.dtype), ops.shape(z)[1], axis=0)
        return [super().decoder_inputs(z, inputs), labels]  # (batch·L, J) and (batch·L, K)

    def log_px_given_z(self, inputs, y_pred):
        """log p_θ(x|z⁽ˡ⁾, y), `(batch, L)`: `inputs` is the pair [x, labels]."""
        return super().log_px_given_z(inputs[0], y_pred)

    def check_inputs(self, inputs, name="x"):
        """Return the pair [x, labels] checked: x as in `VAE`, labels as one-hot rows."""
        if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
            raise ValueError(
                f"Expected `{name}` to be the pair [x, labels] of a ConditionalVAE. Received: "
                f"a {type(inputs).__name__}"
                + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else ""))
        x = super().check_inputs(inputs[0], name)
        return [x, check_labels(inputs[1], self.num_classes, len(x), name=f"labels of {name}")]

    def encode(self, x, labels, batch_size=1000):
        """Return (μ, log σ²) of q_φ(z|x, y) as NumPy arrays, each `(n, latent_dim)`."""
        return super().encode([x, labels], batch_size)

    def decode(self, z, labels, batch_size=1000):
        """Return E[x|z, y] for codes z `(n, J)` and labels (class ids or one-hot rows)."""
        z = check_data(z, name="z", feature_shape=(self.latent_dim,))
        labels = check_labels(labels, self.num_classes, len(z))
        return self.mean_of(in_batches(self.decoder, [z, labels], batch_size))

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
        return self.decode(self.encode(x, labels)[0], labels)

    def get_config(self):
        """The `VAE`'s configuration: K is read back from the networks' label inputs."""
        return super().get_config()
