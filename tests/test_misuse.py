"""Misuse of vaelib, one table: every bad input gets a clear exception, never a backend crash or a NaN.

Each row of MISUSE is one way to misuse the library, in one of the categories
of CATEGORIES. The test checks the exception's type, that its message has the
form "Expected <what was expected> ... Received: <what came>", that the part
before "Received" names the expected thing and the part after it the received
one (two patterns per row), and that nothing was computed or written on the
way: the weights of every model the row used are unchanged and finite, their
loss trackers never ran, so no NaN was silently produced anywhere, and no file
was written or changed.

tests/test_models.py and tests/test_data.py hold further cases (bad data to
fit/encode/evaluate, bad builder arguments, corrupt dataset files); the rows
here are other ones, with the message checked in more detail.
"""

import gzip
import os
import re
import struct
import zipfile
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from tiny import D, J, decoder, grey_data, networks, random_bits, tiny_model
from vaelib import callbacks, conv, data, evaluation, losses, models, plots, saving, toy
from vaelib.autoencoder import Autoencoder
from vaelib.conditional import ConditionalVAE
from vaelib.mmd import MMDVAE

CATEGORIES = {
    "shape": "wrong shapes",
    "dtype": "wrong dtypes or types",
    "range": "values out of range for the likelihood",
    "bounded": "data outside the range of a bounded decoder mean (a sigmoid, a tanh)",
    "nan": "NaN or inf",
    "empty": "empty arrays",
    "ignored": "arguments that would be silently ignored",
    "latent": "wrong latent size at load time",
    "architecture": "a .keras file of a different architecture",
    "corrupt file": "a truncated or corrupt .keras file",
    "directory": "a directory where a file is expected, or a file or nothing where a folder is",
    "dataset": "a corrupt dataset file",
    "model": "the wrong kind of model for a function or callback",
    "option": "unknown option names",
}

# The models a row may use, as `c.<name>`: each is made and compiled when a row first asks for
# it, so that the test can check afterwards that none of them was trained.
MODELS = {
    "model": lambda: tiny_model(),  # Bernoulli
    "sigmoid": lambda: tiny_model(likelihood="gaussian", mean_activation="sigmoid"),
    "tanh": lambda: tiny_model(likelihood="gaussian", mean_activation="tanh"),
    "fixed_sigmoid": lambda: tiny_model(likelihood="gaussian", variance="fixed",
                                        mean_activation="sigmoid", decoder_log_var=-2.0),
    "conv_sigmoid": lambda: models.VAE(
        conv.build_conv_encoder(filters=(2,), hidden_units=4, latent_dim=J),
        conv.build_conv_decoder(latent_dim=J, filters=(2,), hidden_units=4, likelihood="gaussian",
                                mean_activation="sigmoid"), likelihood="gaussian"),
    "autoencoder": lambda: tiny_model(Autoencoder),
    "mmd": lambda: tiny_model(MMDVAE),
    "cvae": lambda: tiny_model(ConditionalVAE),
}


class Context:
    """What a row's call gets: the models of MODELS (made on first use), the files, monkeypatch."""

    def __init__(self, files, monkeypatch):
        self.files, self.monkeypatch, self.made = files, monkeypatch, {}

    def __getattr__(self, name):
        if name not in MODELS:
            raise AttributeError(name)
        model = MODELS[name]()
        model.compile(optimizer="adam")
        self.made[name] = (model, model.get_weights())
        setattr(self, name, model)
        return model


def bits(n=8, seed=1):
    return random_bits(n, seed)


def pixels_0_255(n=8, dim=D):
    """8-bit grey levels not scaled by 1/255: values from 0 to 255."""
    x = np.round(grey_data(n, dim=dim) * 255)
    x[0, :2] = 0, 255
    return x


def stream(n=8):
    """A dataset that makes its own batches of 4."""
    return data.DynamicBinarization(bits(n), batch_size=4)


def batches_forever():
    """A generator of batches (x,), another kind of data that makes its own batches."""
    while True:
        yield (bits(4),)


# -- files for the loading rows ----------------------------------------------------------


def _member_offset(path, member):
    """Offset of a stored (uncompressed) zip member's data in the archive."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])  # local file header
    return info.header_offset + 30 + name_length + extra_length, info.file_size


def _idx_gz(array):
    return gzip.compress(data.idx_bytes(array))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The .keras files and dataset folders that the loading rows open."""
    folder = tmp_path_factory.mktemp("misuse")
    paths = SimpleNamespace(folder=folder)
    paths.good = folder / "vae.keras"  # latent J, D pixels
    saving.save_model(tiny_model(), paths.good)
    content = paths.good.read_bytes()

    paths.truncated = folder / "truncated.keras"
    paths.truncated.write_bytes(content[: len(content) // 2])
    paths.empty = folder / "empty.keras"
    paths.empty.write_bytes(b"")
    paths.text = folder / "notes.keras"
    paths.text.write_text("not a model\n" * 20)
    paths.flipped = folder / "flipped.keras"
    start, size = _member_offset(paths.good, "model.weights.h5")
    corrupt = bytearray(content)
    corrupt[start + size // 2] ^= 0xFF  # one byte of the weights
    paths.flipped.write_bytes(bytes(corrupt))

    paths.classifier = folder / "classifier.keras"
    keras.Sequential([keras.Input((D,)), keras.layers.Dense(10, activation="softmax")]).save(
        paths.classifier)
    # The configuration of a latent-J VAE with the weights of a latent-2 one.
    paths.other_latent = folder / "latent2.keras"
    saving.save_model(tiny_model(latent_dim=2), paths.other_latent)
    paths.mixed = folder / "mixed.keras"
    with zipfile.ZipFile(paths.good) as a, zipfile.ZipFile(paths.other_latent) as b, \
            zipfile.ZipFile(paths.mixed, "w") as mixed:
        for name in a.namelist():
            mixed.writestr(name, (b if name.endswith(".h5") else a).read(name))
    paths.mnist_sized = folder / "mnist_sized.keras"
    saving.save_model(tiny_model(input_dim=784), paths.mnist_sized)

    paths.nan_weights = folder / "nan_weights.keras"
    diverged = tiny_model()
    kernel, bias = diverged.decoder.get_layer("logits").get_weights()
    kernel[0, 0] = np.nan  # as after a diverged training run
    diverged.decoder.get_layer("logits").set_weights([kernel, bias])
    diverged.save(paths.nan_weights)

    paths.unsafe = folder / "lambda.keras"
    keras.Sequential([keras.Input((D,)), keras.layers.Lambda(lambda t: 2 * t)]).save(paths.unsafe)

    # Dataset folders laid out as VAELIB_DATA_DIR, each with one bad file.
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    paths.truncated_mnist = folder / "data_truncated"
    (paths.truncated_mnist / "mnist").mkdir(parents=True)
    for name in names:
        array = np.zeros((5, 28, 28) if "images" in name else (5,), np.uint8)
        (paths.truncated_mnist / "mnist" / f"{name}.gz").write_bytes(_idx_gz(array)[:20])
    paths.other_fashion = folder / "data_other"
    (paths.other_fashion / "fashion-mnist").mkdir(parents=True)
    for name in names:  # well-formed IDX files of five blank images: other content
        array = np.zeros((5, 28, 28) if "images" in name else (5,), np.uint8)
        (paths.other_fashion / "fashion-mnist" / f"{name}.gz").write_bytes(_idx_gz(array))
    paths.bad_frey = folder / "data_frey"
    paths.bad_frey.mkdir()
    (paths.bad_frey / "frey_rawface.mat").write_bytes(b"\x00garbage" * 100)

    # Folders where files are expected, and a VAELIB_DATA_DIR that is no folder.
    paths.keras_folder = folder / "folder.keras"
    paths.keras_folder.mkdir()
    paths.idx_folder = folder / "data_idx_folder"
    (paths.idx_folder / "mnist").mkdir(parents=True)
    for name in names:  # the four files are there, the first one as a folder
        target = paths.idx_folder / "mnist" / f"{name}.gz"
        target.mkdir() if "train-images" in name else target.write_bytes(_idx_gz(np.zeros(5, np.uint8)))
    paths.frey_folder = folder / "data_frey_folder"
    (paths.frey_folder / "frey_rawface.mat").mkdir(parents=True)
    paths.no_data_dir = folder / "no_such_data_dir"
    return paths


def _load_dataset(ctx, folder, load, **options):
    """Load a dataset from `folder` as VAELIB_DATA_DIR, offline (the rows vary the loaders'
    other options, which a refusal of the folder or its files must not depend on)."""
    ctx.monkeypatch.setenv("VAELIB_DATA_DIR", str(folder))
    return load(download=False, **options)


# -- the table --------------------------------------------------------------------------

# name: (category, call(ctx), exception, expected (before "Received"), received (after it))
MISUSE = {
    # wrong shapes
    "fit: images not flattened": (
        "shape", lambda c: c.model.fit(np.zeros((8, 3, 4), "float32"), verbose=0),
        ValueError, r"shape \(n, 12\)", r"shape=\(8, 3, 4\)"),
    "predict: one pixel too many": (
        "shape", lambda c: c.model.predict(np.zeros((5, D + 1), "float32"), verbose=0),
        ValueError, r"shape \(n, 12\)", r"shape=\(5, 13\)"),
    "elbo: one example without its batch axis": (
        "shape", lambda c: evaluation.elbo(c.model, np.zeros(D, "float32")),
        ValueError, r"non-empty batch of shape \(n, \.\.\.\)", r"shape=\(12,\)"),
    "kl_divergence: mu and log-variance of different sizes": (
        "shape", lambda c: losses.kl_divergence(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32")),
        ValueError, r"`z_mean` and `z_log_var` to have broadcastable shapes",
        r"z_mean.shape=\(4, 3\), z_log_var.shape=\(4, 2\)"),
    "bernoulli_log_likelihood: logits for other pixels": (
        "shape", lambda c: losses.bernoulli_log_likelihood(bits(4), np.zeros((4, D - 1), "float32")),
        ValueError, r"`x` and `logits` to have broadcastable shapes",
        r"x.shape=\(4, 12\), logits.shape=\(4, 11\)"),
    "gaussian_log_likelihood: mean of another batch": (
        "shape", lambda c: losses.gaussian_log_likelihood(bits(4), np.zeros((3, D), "float32"), 0.0),
        ValueError, r"`x` and `mean` and `log_var` to have broadcastable shapes",
        r"x.shape=\(4, 12\), mean.shape=\(3, 12\), log_var.shape=\(\)"),
    # wrong dtypes and types
    "encode: complex numbers": (
        "dtype", lambda c: c.model.encode(np.zeros((2, D), complex)),
        TypeError, r"real numbers \(a float or integer dtype\)", r"dtype=complex128"),
    "log_likelihood: strings": (
        "dtype", lambda c: evaluation.log_likelihood(c.model, np.array([["1"] * D])),
        TypeError, r"real numbers", r"dtype=<U1"),
    "VAE: decoder_log_var as a string": (
        "dtype", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", decoder_log_var="-2"),
        TypeError, r"`decoder_log_var` to be a real number", r"decoder_log_var='-2' of type str"),
    "VAE: a layer as the encoder": (
        "dtype", lambda c: models.VAE(keras.layers.Dense(2 * J), decoder("gaussian"), likelihood="gaussian"),
        TypeError, r"`encoder` to be a functional keras.Model", r"Dense"),
    "VAE: num_samples=True": (
        "dtype", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", num_samples=True),
        ValueError, r"`num_samples` to be a positive integer", r"num_samples=True"),
    # values out of range for the likelihood
    "fit: uint8 images not scaled by 1/255": (
        "range", lambda c: c.model.fit((bits() * 255).astype(np.uint8), verbose=0),
        ValueError, r"`x` to lie in \[0, 1\] for a Bernoulli decoder", r"values in \[0, 255\]"),
    "log_likelihood: centred pixels": (
        "range", lambda c: evaluation.log_likelihood(c.model, bits() - 0.5, num_samples=2),
        ValueError, r"\[0, 1\] for a Bernoulli decoder", r"values in \[-0.5, 0.5\]"),
    "DynamicBinarization: 0-255 grey levels": (
        "range", lambda c: data.DynamicBinarization(bits() * 255, batch_size=4),
        ValueError, r"`images` to lie in \[0, 1\]", r"values in \[0, 255\]"),
    "binarize: grey levels above 1": (
        "range", lambda c: data.binarize(np.full((2, 3), 1.5)),
        ValueError, r"`x` to lie in \[0, 1\]", r"values in \[1.5, 1.5\]"),
    # data outside the range of a bounded decoder mean
    "fit: 0-255 pixels for a sigmoid mean": (
        "bounded", lambda c: c.sigmoid.fit(x=pixels_0_255(), batch_size=4, epochs=2),
        ValueError, r"`x` to lie in \[0, 1\], the range of the decoder's mean \(a sigmoid\)",
        r"values in \[0, 255\]"),
    "evaluate: 0-255 pixels for a sigmoid mean": (
        "bounded", lambda c: c.sigmoid.evaluate(pixels_0_255(), verbose=0),
        ValueError, r"\[0, 1\], the range of the decoder's mean \(a sigmoid\) \(scale 0-255 images by 1/255\)",
        r"values in \[0, 255\]"),
    "encode: 0-255 pixels for a sigmoid mean": (
        "bounded", lambda c: c.sigmoid.encode(pixels_0_255()),
        ValueError, r"`x` to lie in \[0, 1\], the range of the decoder's mean", r"values in \[0, 255\]"),
    "elbo: 0-255 pixels for a sigmoid mean": (
        "bounded", lambda c: evaluation.elbo(c.sigmoid, pixels_0_255()),
        ValueError, r"the range of the decoder's mean \(a sigmoid\)", r"values in \[0, 255\]"),
    "log_likelihood: 0-255 pixels for a sigmoid mean": (
        "bounded", lambda c: evaluation.log_likelihood(c.sigmoid, pixels_0_255(), num_samples=3),
        ValueError, r"`x` to lie in \[0, 1\]", r"values in \[0, 255\]"),
    "fit: 0-255 validation pixels for a sigmoid mean": (
        "bounded",
        lambda c: c.sigmoid.fit(grey_data(), validation_data=(pixels_0_255(),), verbose=0),
        ValueError, r"`validation_data` to lie in \[0, 1\]", r"values in \[0, 255\]"),
    "encode: grey levels up to 2 for a tanh mean": (
        "bounded", lambda c: c.tanh.encode(2 * grey_data()),
        ValueError, r"`x` to lie in \[-1, 1\], the range of the decoder's mean \(a tanh\)",
        r"values in \[0\.\d+, 1\.\d+\]"),
    "reconstruct: 0-255 pixels for a fixed-variance sigmoid mean": (
        "bounded", lambda c: c.fixed_sigmoid.reconstruct(x=pixels_0_255()),
        ValueError, r"\[0, 1\], the range of the decoder's mean \(a sigmoid\)", r"values in \[0, 255\]"),
    "fit: 0-255 images for a convolutional sigmoid mean": (
        "bounded", lambda c: c.conv_sigmoid.fit(pixels_0_255(4, 784), verbose=0),
        ValueError, r"\[0, 1\], the range of the decoder's mean \(a sigmoid\)", r"values in \[0, 255\]"),
    # NaN and inf
    "VAE: decoder_log_var NaN": (
        "nan", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", decoder_log_var=float("nan")),
        ValueError, r"`decoder_log_var` to be a finite number", r"decoder_log_var=nan"),
    "VAE: decoder_log_var -inf": (
        "nan", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", decoder_log_var=-np.inf),
        ValueError, r"`decoder_log_var` to be a finite number", r"decoder_log_var=-inf"),
    "elbo: a NaN pixel": (
        "nan", lambda c: evaluation.elbo(c.model, np.where(np.eye(8, D) > 0, np.nan, bits())),
        ValueError, r"`x` to hold only finite values", r"8 NaN or infinite value\(s\)"),
    "decode: infinite codes": (
        "nan", lambda c: c.model.decode(np.full((2, J), np.inf, "float32")),
        ValueError, r"`z` to hold only finite values", r"6 NaN or infinite value\(s\)"),
    "DynamicBinarization: NaN grey levels": (
        "nan", lambda c: data.DynamicBinarization(np.full((4, D), np.nan), batch_size=2),
        ValueError, r"`images` to hold only finite values", r"48 NaN or infinite"),
    "load_model: NaN weights": (
        "nan", lambda c: saving.load_model(c.files.nan_weights),
        ValueError, r"finite weights in .*nan_weights\.keras", r"1 NaN or infinite value\(s\) in logits/kernel"),
    # empty arrays
    "decode: no codes": (
        "empty", lambda c: c.model.decode(np.zeros((0, J), "float32")),
        ValueError, r"non-empty batch of shape \(n, \.\.\.\) with n >= 1", r"shape=\(0, 3\)"),
    "log_likelihood: empty test set": (
        "empty", lambda c: evaluation.log_likelihood(c.model, np.zeros((0, D), "float32")),
        ValueError, r"non-empty batch", r"shape=\(0, 12\)"),
    "DynamicBinarization: no images": (
        "empty", lambda c: data.DynamicBinarization(np.zeros((0, 784), "float32")),
        ValueError, r"non-empty batch", r"shape=\(0, 784\)"),
    "fit: an empty list": (
        "empty", lambda c: c.model.fit([], verbose=0),
        ValueError, r"non-empty batch", r"shape=\(0,\)"),
    # arguments that would be silently ignored
    "fit: the data again as the target y": (
        "ignored", lambda c: c.model.fit(bits(), bits(), verbose=0),
        ValueError, r"no `y` in fit\(\): a VAE learns from x alone", r"y of type ndarray"),
    "evaluate: a target y": (
        "ignored", lambda c: c.model.evaluate(bits(), np.zeros(8), verbose=0),
        ValueError, r"no `y` in evaluate\(\)", r"y of type ndarray"),
    "fit: class weights": (
        "ignored", lambda c: c.model.fit(bits(), class_weight={0: 1.0, 1: 3.0}, verbose=0),
        ValueError, r"no `class_weight` in fit\(\): a VAE has no classes", r"a class_weight"),
    "fit: sample weights": (
        "ignored", lambda c: c.model.fit(bits(), sample_weight=np.arange(8.0), verbose=0),
        ValueError, r"no `sample_weight`: every example of the ELBO counts once", r"a sample_weight"),
    "fit: batch_size with a DynamicBinarization": (
        "ignored", lambda c: c.model.fit(stream(), batch_size=2, verbose=0),
        ValueError, r"no `batch_size` with a DynamicBinarization: it makes its own batches",
        r"batch_size=2"),
    "evaluate: batch_size with a generator": (
        "ignored", lambda c: c.model.evaluate(batches_forever(), steps=2, batch_size=8, verbose=0),
        ValueError, r"no `batch_size` with a generator", r"batch_size=8"),
    "predict: batch_size with a DynamicBinarization": (
        "ignored", lambda c: c.model.predict(stream(16), batch_size=16, verbose=0),
        ValueError, r"no `batch_size` with a DynamicBinarization", r"batch_size=16"),
    "fit: validation_batch_size with streamed validation data": (
        "ignored",
        lambda c: c.model.fit(bits(), validation_data=stream(), validation_batch_size=4, verbose=0),
        ValueError, r"no `validation_batch_size` with a DynamicBinarization", r"validation_batch_size=4"),
    "fit: validation data as (x_val, y_val)": (
        "ignored", lambda c: c.model.fit(bits(), validation_data=(bits(4), bits(4)), verbose=0),
        ValueError, r"`validation_data` as \(x_val,\): a VAE has no targets", r"a tuple of 2 items"),
    "fit: validation data with sample weights": (
        "ignored", lambda c: c.model.fit(bits(), validation_data=(bits(4), None, np.ones(4)), verbose=0),
        ValueError, r"`validation_data` as \(x_val,\)", r"a tuple of 3 items"),
    "VAE: decoder_log_var for a Bernoulli decoder": (
        "ignored", lambda c: models.VAE(*networks(), decoder_log_var=-2.0),
        ValueError, r"`decoder_log_var` only with likelihood='gaussian'",
        r"decoder_log_var=-2.0 with likelihood='bernoulli'"),
    "VAE: decoder_log_var for a decoder that learns its variance": (
        "ignored", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", decoder_log_var=-1.0),
        ValueError, r"gaussian decoder with a fixed `decoder_log_var` to have 1 output", r"2 outputs"),
    "load_mnist: a seed for grey levels that are not drawn": (
        "ignored", lambda c: data.load_mnist("none", seed=1, download=False),
        ValueError, r"no `seed` with binarization='none'", r"seed=1"),
    "load_mnist: batch_size for static binarization": (
        "ignored", lambda c: data.load_mnist(batch_size=50, download=False),
        ValueError, r"no `batch_size` with binarization='static'", r"batch_size=50"),
    # wrong latent size at load time
    "load_model: latent size 3 where 2 is expected": (
        "latent", lambda c: saving.load_model(c.files.good, expected_latent_dim=2),
        ValueError, r"VAE with latent_dim=2 in .*vae\.keras", r"latent_dim=3"),
    "load_model: latent size 2 where 3 is expected": (
        "latent", lambda c: saving.load_model(c.files.other_latent, expected_latent_dim=J),
        ValueError, r"VAE with latent_dim=3 in .*latent2\.keras", r"latent_dim=2"),
    # a .keras file of a different architecture
    "load_model: a classifier's file": (
        "architecture", lambda c: saving.load_model(c.files.classifier),
        TypeError, r"classifier\.keras to hold a vaelib\.models\.VAE", r"a Sequential named"),
    "load_model: weights of another architecture": (
        "architecture", lambda c: saving.load_model(str(c.files.mixed), compile=False),
        ValueError, r"whose weights fit its architecture at .*mixed\.keras",
        r"could not be loaded"),
    "load_model: a 784-pixel VAE where 12 pixels are expected": (
        "architecture", lambda c: saving.load_model(c.files.mnist_sized, expected_input_shape=D),
        ValueError, r"VAE for data of shape \(12,\)", r"input shape \(784,\)"),
    # a truncated or corrupt .keras file
    "load_model: truncated file": (
        "corrupt file", lambda c: saving.load_model(c.files.truncated),
        ValueError, r"\.keras file \(a zip archive\) at .*truncated\.keras",
        r"\d+ bytes without a zip archive's closing directory: a truncated file"),
    "load_model: empty file": (
        "corrupt file", lambda c: saving.load_model(str(c.files.empty)),
        ValueError, r"\(a zip archive\) at .*empty\.keras", r"^: 0 bytes without"),
    "load_model: one byte of the weights flipped": (
        "corrupt file", lambda c: saving.load_model(c.files.flipped, compile=False),
        ValueError, r"complete, uncorrupted \.keras file",
        r"BadZipFile: Bad CRC-32 for file 'model\.weights\.h5'"),
    "load_model: a text file named .keras": (
        "corrupt file", lambda c: saving.load_model(os.fspath(c.files.text)),
        ValueError, r"zip archive\) at .*notes\.keras", r"240 bytes without a zip archive's closing directory"),
    "load_model: no such file": (
        "corrupt file", lambda c: saving.load_model(c.files.folder / "never_saved.keras"),
        FileNotFoundError, r"\.keras file at .*never_saved\.keras", r"no such file"),
    "load_model: Python code in the file (safe mode)": (
        "corrupt file", lambda c: saving.load_model(path=c.files.unsafe),
        ValueError, r"loads in safe mode, without running Python code",
        r"lambda\.keras asks to deserialize code .*Python lambda"),
    # a directory where a file is expected, or no folder where one is
    "save_model: a folder named folder.keras": (
        "directory", lambda c: saving.save_model(c.model, c.files.keras_folder),
        IsADirectoryError, r"a \.keras file at .*folder\.keras", r"a directory"),
    "load_model: a folder named folder.keras": (
        "directory", lambda c: saving.load_model(c.files.keras_folder, expected_latent_dim=J),
        IsADirectoryError, r"a \.keras file at .*folder\.keras", r"a directory"),
    "load_mnist: an IDX file that is a folder": (
        "directory", lambda c: _load_dataset(c, c.files.idx_folder, data.load_mnist),
        IsADirectoryError, r"gzip-compressed IDX file at .*mnist/train-images-idx3-ubyte\.gz",
        r"a directory"),
    "load_frey_face: frey_rawface.mat that is a folder": (
        "directory", lambda c: _load_dataset(c, c.files.frey_folder, data.load_frey_face, test_size=0.2),
        IsADirectoryError, r"frey_rawface\.mat at .*data_frey_folder/frey_rawface\.mat", r"a directory"),
    "load_mnist: VAELIB_DATA_DIR names a file": (
        "directory", lambda c: _load_dataset(c, c.files.good, data.load_mnist, binarization="dynamic"),
        NotADirectoryError, r"VAELIB_DATA_DIR to name a folder", r"vae\.keras \(a file\)"),
    "load_fashion_mnist: VAELIB_DATA_DIR names no folder": (
        "directory", lambda c: _load_dataset(c, c.files.no_data_dir, data.load_fashion_mnist, flatten=False),
        NotADirectoryError, r"VAELIB_DATA_DIR to name a folder", r"no_such_data_dir \(no such folder\)"),
    "load_frey_face: VAELIB_DATA_DIR names a file": (
        "directory", lambda c: _load_dataset(c, c.files.text, data.load_frey_face),
        NotADirectoryError, r"VAELIB_DATA_DIR to name a folder", r"notes\.keras \(a file\)"),
    # a corrupt dataset file
    "load_mnist: truncated gzip file": (
        "dataset", lambda c: _load_dataset(c, c.files.truncated_mnist, data.load_mnist, binarization="none"),
        ValueError, r"gzip-compressed IDX file at .*train-images-idx3-ubyte\.gz",
        r"cannot be decompressed"),
    "load_fashion_mnist: a well-formed file of other images": (
        "dataset", lambda c: _load_dataset(c, c.files.other_fashion, data.load_fashion_mnist),
        ValueError, r"train-images-idx3-ubyte\.gz to have content SHA-256 c59f468a",
        r"SHA-256 [0-9a-f]{64}\. The file is corrupt"),
    "load_frey_face: not a MATLAB file": (
        "dataset", lambda c: _load_dataset(c, c.files.bad_frey, data.load_frey_face),
        ValueError, r"MATLAB file with a variable `ff` at .*frey_rawface\.mat",
        r"cannot be read as one"),
    # the wrong kind of model
    "elbo: a Keras classifier": (
        "model", lambda c: evaluation.elbo(_classifier(), bits()),
        TypeError, r"`model` to be a vaelib VAE", r"Sequential"),
    "log_likelihood: a toy model": (
        "model", lambda c: evaluation.log_likelihood(toy.ToyModel(data_dim=D), bits(), num_samples=2),
        TypeError, r"`model` to be a vaelib VAE", r"ToyModel"),
    "manifold: a Keras model of a 2-D input": (
        "model", lambda c: plots.manifold(keras.Sequential([keras.Input((2,)), keras.layers.Dense(D)])),
        TypeError, r"`model` to be a vaelib VAE", r"^: Sequential$"),
    "quadrature: a VAE": (
        "model", lambda c: toy.quadrature(c.model, np.zeros(D), 10),
        TypeError, r"`model` to be a vaelib ToyModel", r"^: VAE$"),
    "log_evidence: an MMDVAE": (
        "model", lambda c: toy.log_evidence(c.mmd, bits(2), 10),
        TypeError, r"vaelib ToyModel", r"MMDVAE"),
    "save_model: a file name for the model": (
        "model", lambda c: saving.save_model("vae.keras", c.files.folder / "model.keras"),
        TypeError, r"`model` to be a .*Model", r"^: str$"),
    "elbo: an Autoencoder, which has no ELBO": (
        "model", lambda c: evaluation.elbo(c.autoencoder, bits()),
        ValueError, r"no noise `epsilon`: an Autoencoder's code is z = μ_φ\(x\)",
        r"epsilon of shape \(8, 1, 3\)"),
    "log_likelihood: an Autoencoder": (
        "model", lambda c: evaluation.log_likelihood(c.autoencoder, bits(), num_samples=2),
        ValueError, r"no ELBO or importance-sampled likelihood to estimate", r"epsilon of shape \(8, 2, 3\)"),
    "elbo: a ConditionalVAE without the labels": (
        "model", lambda c: evaluation.elbo(c.cvae, bits()),
        ValueError, r"`x` to be the pair \[x, labels\] of a ConditionalVAE", r"a ndarray"),
    "KLAnnealing: an MMDVAE, whose loss has no β": (
        "model", lambda c: c.mmd.fit(bits(), verbose=0, callbacks=[callbacks.KLAnnealing()]),
        ValueError, r"a model whose loss weighs a KL term by β", r"a MMDVAE, whose loss has no β"),
    "KLAnnealing: an Autoencoder": (
        "model", lambda c: c.autoencoder.fit(bits(), epochs=3, verbose=0,
                                             callbacks=[callbacks.KLAnnealing(epochs=3)]),
        ValueError, r"weighs a KL term by β \(a VAE or ConditionalVAE\)", r"a Autoencoder"),
    # unknown option names
    "VAE: likelihood 'Bernoulli' (capitalized)": (
        "option", lambda c: models.VAE(*networks("gaussian"), likelihood="Bernoulli"),
        ValueError, r"`likelihood` to be one of \['bernoulli', 'gaussian'\]", r"likelihood='Bernoulli'"),
    "VAE: estimator 'b'": (
        "option", lambda c: models.VAE(*networks("gaussian"), likelihood="gaussian", estimator="b"),
        ValueError, r"`estimator` to be one of \['A', 'B'\]", r"estimator='b'"),
    "load_mnist: binarization 'stochastic'": (
        "option", lambda c: data.load_mnist(binarization="stochastic"),
        ValueError, r"`binarization` to be one of \['static', 'dynamic', 'none'\]",
        r"binarization='stochastic'"),
    "VAE: misspelt keyword likelihod=": (
        "option", lambda c: models.VAE(*networks("gaussian"), likelihod="gaussian"),
        TypeError, r"arguments of VAE \(encoder, decoder, likelihood", r"unknown keyword argument\(s\) \['likelihod'\]"),
    "VAE: the regularizer of vaelib 0.1": (
        "option", lambda c: models.VAE(*networks(), regularizer="mmd", mmd_weight=10.0),
        TypeError,
        r"arguments of VAE \(encoder, decoder, likelihood, estimator, num_samples, decoder_log_var, seed, beta\)",
        r"unknown keyword argument\(s\) \['mmd_weight', 'regularizer'\]"),
    "MMDVAE: misspelt keyword mmd_wieght=": (
        "option", lambda c: tiny_model(MMDVAE, mmd_wieght=10.0),
        TypeError, r"arguments of MMDVAE \(.*mmd_weight\) or of keras\.Model", r"\['mmd_wieght'\]"),
    "save_model: an .h5 path": (
        "option", lambda c: saving.save_model(c.model, c.files.folder / "vae.h5"),
        ValueError, r"path ending in \.keras", r"path='.*vae\.h5'"),
}


def _classifier():
    return keras.Sequential([keras.Input((D,)), keras.layers.Dense(10, activation="softmax")])


def _own_message(error):
    """The message vaelib wrote: Keras frames an error raised in a layer's call() with
    "Exception encountered when calling ..." and the call's arguments, the original in bold."""
    message = str(error)
    framed = re.match(r"(?s)Exception encountered when calling [^\n]*\n\n\x1b\[1m(.*?)\x1b\[0m", message)
    return framed.group(1) if framed else message


def _folder_state(folder):
    return {path: (path.is_dir(), path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


def test_the_table_covers_every_category_with_at_least_twenty_cases():
    assert len(MISUSE) >= 20
    assert {row[0] for row in MISUSE.values()} == set(CATEGORIES)


@pytest.mark.parametrize("case", list(MISUSE))
def test_misuse_gets_a_clear_error_and_no_nan(case, files, monkeypatch):
    """The exception names what was expected and what was received; nothing ran, no NaN appeared."""
    category, call, error, expected, received = MISUSE[case]
    ctx = Context(files, monkeypatch)
    assert isinstance(ctx.model, models.VAE)  # every row has the tiny Bernoulli VAE, used or not
    written = _folder_state(files.folder)
    with pytest.raises(error) as info:
        call(ctx)
    message = _own_message(info.value)
    assert re.search(r"(?s)^Expected .*Received", message), message
    head, _, tail = message.partition("Received")
    assert re.search(expected, head), f"the message does not name what was expected: {message}"
    assert re.search(received, tail), f"the message does not name what was received: {message}"
    # Refused at the boundary: no step ran, the weights are untouched and finite, no file changed.
    for name, (model, before) in ctx.made.items():
        after = model.get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(before, after)), name
        assert all(np.all(np.isfinite(w)) for w in after), name
        for term, tracker in model.trackers.items():
            assert keras.ops.convert_to_numpy(tracker.count) == 0, (name, term)
    assert _folder_state(files.folder) == written
