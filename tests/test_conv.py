"""Convolutional encoder and decoder (vaelib.conv.build_conv_encoder / build_conv_decoder) inside the VAE."""

import keras
import numpy as np
import pytest
from keras import ops

from tiny import J, clear_error
from vaelib import conv, losses, models

SMALL = dict(filters=(4, 8), hidden_units=16)  # a tiny network, the default 28 x 28 x 1 shape


def images(n=32, seed=0):
    """Flattened 28 x 28 binary images: a bright square at a random place, 2% of pixels flipped."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), "float32")
    for image, (row, col) in zip(x, rng.integers(0, 20, (n, 2))):
        image[row:row + 8, col:col + 8] = 1.0
    x = np.where(rng.random(x.shape) < 0.02, 1 - x, x)
    return x.reshape(n, 784)


def test_shapes_through_the_networks():
    """Stride-2 convolutions halve 28 -> 14 -> 7; transposed ones double 7 -> 14 -> 28."""
    encoder = conv.build_conv_encoder(latent_dim=J, **SMALL)
    decoder = conv.build_conv_decoder(latent_dim=J, **SMALL)
    assert tuple(encoder.get_layer("conv_0").output.shape) == (None, 14, 14, 4)
    assert tuple(encoder.get_layer("conv_1").output.shape) == (None, 7, 7, 8)
    assert tuple(decoder.get_layer("feature_map").output.shape) == (None, 7, 7, 8)
    assert tuple(decoder.get_layer("deconv_1").output.shape) == (None, 28, 28, 4)
    z_mean, z_log_var = encoder(images(3))
    assert tuple(z_mean.shape) == tuple(z_log_var.shape) == (3, J)
    assert tuple(decoder(np.zeros((3, J), "float32")).shape) == (3, 784)
    # The decoder's output image is the flattened (28, 28, 1) map, row by row.
    image = decoder.get_layer("logits_image").output
    assert tuple(image.shape) == (None, 28, 28, 1)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_networks_plug_into_the_vae_train_and_round_trip(tmp_path, likelihood):
    """VAE(conv encoder, conv decoder) unchanged: a finite fit step, same outputs after save/load."""
    keras.utils.set_random_seed(0)
    options = {}
    if likelihood == "gaussian":  # grey levels: floored learned variance, mean in (0, 1)
        options = dict(mean_activation="sigmoid",
                       min_log_var=losses.quantization_log_var_floor(1 / 255))
    encoder = conv.build_conv_encoder(latent_dim=J, **SMALL)
    decoder = conv.build_conv_decoder(latent_dim=J, likelihood=likelihood, **SMALL, **options)
    model = models.VAE(encoder, decoder, likelihood=likelihood, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = images(32)
    before = model.evaluate(x, verbose=0, return_dict=True)
    history = model.fit(x, epochs=2, batch_size=16, verbose=0).history
    assert set(history) == {"loss", "reconstruction", "kl"}
    assert np.all(np.isfinite(history["loss"]))
    after = model.evaluate(x, verbose=0, return_dict=True)
    assert after["reconstruction"] < before["reconstruction"]
    model.save(tmp_path / "conv.keras")
    restored = keras.models.load_model(tmp_path / "conv.keras")  # safe mode
    np.testing.assert_array_equal(restored.encode(x)[0], model.encode(x)[0])
    z = np.random.default_rng(1).normal(size=(4, J)).astype("float32")
    np.testing.assert_array_equal(restored.decode(z), model.decode(z))
    if likelihood == "gaussian":
        floor = losses.quantization_log_var_floor(1 / 255)
        log_var = ops.convert_to_numpy(decoder(z)[1])
        assert log_var.shape == (4, 784) and log_var.min() >= floor


BAD = {
    "image not divisible by 4": (lambda: conv.build_conv_encoder(image_shape=(27, 27, 1)),
                                 "image_shape"),
    "image of rank 2": (lambda: conv.build_conv_decoder(image_shape=(28, 28)), "image_shape"),
    "no filters": (lambda: conv.build_conv_encoder(filters=()), "filters"),
    "zero filters": (lambda: conv.build_conv_decoder(filters=(8, 0)), "filters"),
    "zero latent_dim": (lambda: conv.build_conv_encoder(latent_dim=0), "latent_dim"),
    "floor on a Bernoulli decoder": (lambda: conv.build_conv_decoder(min_log_var=-5.0),
                                     "likelihood='gaussian'"),
    "unknown likelihood": (lambda: conv.build_conv_decoder(likelihood="poisson"), "likelihood"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_get_a_clear_error(case):
    build, pattern = BAD[case]
    with clear_error(ValueError, pattern):
        build()
