"""Convolutional encoder and decoder with the MLP networks' interface (Chapter 11).

Both take and give *flattened* images, `(batch, H·W·C)`, exactly as the MLP
networks of `vaelib.models` do, so the same data arrays, `VAE`, losses and
plots work unchanged.
"""

import keras
import numpy as np
from keras import layers

from vaelib._checks import (check_decoder_options, check_image_shape, check_positive_int,
                            check_sizes)
from vaelib.models import decoder_outputs, mlp, posterior_heads


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
    filters = check_sizes("filters", filters)
    image_shape = check_image_shape(image_shape, len(filters))
    kernel_size = check_positive_int("kernel_size", kernel_size)
    x = keras.Input(shape=(int(np.prod(image_shape)),), name="x")
    h = layers.Reshape(image_shape, name="image")(x)  # (batch, H·W·C) -> (batch, H, W, C)
    for i, channels in enumerate(filters):  # (batch, H/2^i, W/2^i, .) -> halved
        h = layers.Conv2D(
            channels, kernel_size, strides=2, padding="same", activation=activation,
            kernel_initializer=kernel_initializer, name=f"conv_{i}",
        )(h)
    h = layers.Flatten(name="flatten")(h)  # (batch, H/2^k · W/2^k · filters[-1])
    h = mlp(h, hidden_units, activation, kernel_initializer)
    return keras.Model(x, posterior_heads(h, latent_dim, kernel_initializer), name=name)


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
    filters = check_sizes("filters", filters)
    image_shape = check_image_shape(image_shape, len(filters))
    kernel_size = check_positive_int("kernel_size", kernel_size)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    min_log_var = check_decoder_options(likelihood, variance, mean_activation, min_log_var)
    factor = 2 ** len(filters)
    height, width, channels = image_shape
    z = keras.Input(shape=(latent_dim,), name="z")
    h = mlp(z, hidden_units, activation, kernel_initializer)
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

    outputs = decoder_outputs(head, likelihood, variance, mean_activation, min_log_var)
    return keras.Model(z, outputs, name=name)
