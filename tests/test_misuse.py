"""Misuse of vaelib, one table: every bad input gets a clear exception, never a backend crash or a NaN.

Each row of MISUSE is one way to misuse the library, in one of the categories
of CATEGORIES. The test checks the exception's type, that its message has the
form "Expected <what was expected> ... Received: <what came>", that the part
before "Received" names the expected thing and the part after it the received
one (two patterns per row), and that nothing was computed on the way: the
model's weights are unchanged and finite and its loss trackers never ran, so
no NaN was silently produced anywhere.

tests/test_models.py and tests/test_data.py hold further cases (bad data to
fit/encode/evaluate, bad builder arguments, corrupt dataset files); the rows
here are other ones, with the message checked in more detail.
"""

import gzip
import re
import struct
import zipfile
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from vaelib import data, evaluation, losses, models

D, H, J = 12, 16, 3  # pixels, hidden units, latent dimensions of the tiny models
CATEGORIES = {
    "shape": "wrong shapes",
    "dtype": "wrong dtypes or types",
    "range": "values out of range for the likelihood",
    "nan": "NaN or inf",
    "empty": "empty arrays",
    "latent": "wrong latent size at load time",
    "architecture": "a .keras file of a different architecture",
    "corrupt file": "a truncated or corrupt .keras file",
    "dataset": "a corrupt dataset file",
    "option": "unknown option names",
}


def tiny_vae(latent_dim=J, likelihood="bernoulli", seed=0, input_dim=D):
    keras.utils.set_random_seed(seed)
    encoder = models.build_encoder(input_dim=input_dim, hidden_units=H, latent_dim=latent_dim)
    decoder = models.build_decoder(latent_dim=latent_dim, hidden_units=H, output_dim=input_dim,
                                   likelihood=likelihood)
    return models.VAE(encoder, decoder, likelihood=likelihood, seed=seed)


def bits(n=8, seed=1):
    return (np.random.default_rng(seed).random((n, D)) < 0.5).astype("float32")


def parts():
    """Encoder and decoder of a tiny Gaussian VAE, for the constructor's rows."""
    keras.utils.set_random_seed(0)
    return (models.build_encoder(input_dim=D, hidden_units=H, latent_dim=J),
            models.build_decoder(latent_dim=J, hidden_units=H, output_dim=D, likelihood="gaussian"))


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
    models.save_model(tiny_vae(), paths.good)
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
    paths.missing = folder / "never_saved.keras"

    paths.classifier = folder / "classifier.keras"
    keras.Sequential([keras.Input((D,)), keras.layers.Dense(10, activation="softmax")]).save(
        paths.classifier)
    # The configuration of a latent-J VAE with the weights of a latent-2 one.
    paths.other_latent = folder / "latent2.keras"
    models.save_model(tiny_vae(latent_dim=2), paths.other_latent)
    paths.mixed = folder / "mixed.keras"
    with zipfile.ZipFile(paths.good) as a, zipfile.ZipFile(paths.other_latent) as b, \
            zipfile.ZipFile(paths.mixed, "w") as mixed:
        for name in a.namelist():
            mixed.writestr(name, (b if name.endswith(".h5") else a).read(name))
    paths.mnist_sized = folder / "mnist_sized.keras"
    models.save_model(tiny_vae(input_dim=784), paths.mnist_sized)

    paths.nan_weights = folder / "nan_weights.keras"
    diverged = tiny_vae()
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
    return paths


def _load_dataset(ctx, folder, load):
    ctx.monkeypatch.setenv("VAELIB_DATA_DIR", str(folder))
    return load(download=False)


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
        "dtype", lambda c: models.VAE(*parts(), likelihood="gaussian", decoder_log_var="-2"),
        TypeError, r"`decoder_log_var` to be a real number", r"decoder_log_var='-2' of type str"),
    "VAE: a layer as the encoder": (
        "dtype", lambda c: models.VAE(keras.layers.Dense(2 * J), parts()[1], likelihood="gaussian"),
        TypeError, r"`encoder` to be a functional keras.Model", r"Dense"),
    "VAE: num_samples=True": (
        "dtype", lambda c: models.VAE(*parts(), likelihood="gaussian", num_samples=True),
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
    # NaN and inf
    "VAE: decoder_log_var NaN": (
        "nan", lambda c: models.VAE(*parts(), likelihood="gaussian", decoder_log_var=float("nan")),
        ValueError, r"`decoder_log_var` to be a finite number", r"decoder_log_var=nan"),
    "VAE: decoder_log_var -inf": (
        "nan", lambda c: models.VAE(*parts(), likelihood="gaussian", decoder_log_var=-np.inf),
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
        "nan", lambda c: models.load_model(c.files.nan_weights),
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
    # wrong latent size at load time
    "load_model: latent size 3 where 2 is expected": (
        "latent", lambda c: models.load_model(c.files.good, expected_latent_dim=2),
        ValueError, r"VAE with latent_dim=2 in .*vae\.keras", r"latent_dim=3"),
    "load_model: latent size 2 where 3 is expected": (
        "latent", lambda c: models.load_model(c.files.other_latent, expected_latent_dim=J),
        ValueError, r"VAE with latent_dim=3 in .*latent2\.keras", r"latent_dim=2"),
    # a .keras file of a different architecture
    "load_model: a classifier's file": (
        "architecture", lambda c: models.load_model(c.files.classifier),
        TypeError, r"classifier\.keras to hold a vaelib\.models\.VAE", r"a Sequential named"),
    "load_model: weights of another architecture": (
        "architecture", lambda c: models.load_model(c.files.mixed),
        ValueError, r"whose weights fit its architecture at .*mixed\.keras",
        r"could not be loaded"),
    "load_model: a 784-pixel VAE where 12 pixels are expected": (
        "architecture", lambda c: models.load_model(c.files.mnist_sized, expected_input_shape=D),
        ValueError, r"VAE for data of shape \(12,\)", r"input shape \(784,\)"),
    # a truncated or corrupt .keras file
    "load_model: truncated file": (
        "corrupt file", lambda c: models.load_model(c.files.truncated),
        ValueError, r"\.keras file \(a zip archive\) at .*truncated\.keras",
        r"\d+ bytes without a zip archive's closing directory: a truncated file"),
    "load_model: empty file": (
        "corrupt file", lambda c: models.load_model(c.files.empty),
        ValueError, r"\(a zip archive\) at .*empty\.keras", r"^: 0 bytes without"),
    "load_model: one byte of the weights flipped": (
        "corrupt file", lambda c: models.load_model(c.files.flipped),
        ValueError, r"complete, uncorrupted \.keras file", r"BadZipFile: Bad CRC-32 for file 'model\.weights\.h5'"),
    "load_model: a text file named .keras": (
        "corrupt file", lambda c: models.load_model(c.files.text),
        ValueError, r"zip archive\) at .*notes\.keras", r"240 bytes without a zip archive's closing directory"),
    "load_model: no such file": (
        "corrupt file", lambda c: models.load_model(c.files.missing),
        FileNotFoundError, r"\.keras file at .*never_saved\.keras", r"no such file"),
    "load_model: Python code in the file (safe mode)": (
        "corrupt file", lambda c: models.load_model(c.files.unsafe),
        ValueError, r"loads in safe mode, without running Python code",
        r"lambda\.keras asks to deserialize code .*Python lambda"),
    # a corrupt dataset file
    "load_mnist: truncated gzip file": (
        "dataset", lambda c: _load_dataset(c, c.files.truncated_mnist, data.load_mnist),
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
    # unknown option names
    "VAE: likelihood 'Bernoulli' (capitalized)": (
        "option", lambda c: models.VAE(*parts(), likelihood="Bernoulli"),
        ValueError, r"`likelihood` to be one of \['bernoulli', 'gaussian'\]", r"likelihood='Bernoulli'"),
    "VAE: estimator 'b'": (
        "option", lambda c: models.VAE(*parts(), likelihood="gaussian", estimator="b"),
        ValueError, r"`estimator` to be one of \['A', 'B'\]", r"estimator='b'"),
    "load_mnist: binarization 'stochastic'": (
        "option", lambda c: data.load_mnist(binarization="stochastic"),
        ValueError, r"`binarization` to be one of \['static', 'dynamic', 'none'\]",
        r"binarization='stochastic'"),
    "VAE: misspelt keyword likelihod=": (
        "option", lambda c: models.VAE(*parts(), likelihod="gaussian"),
        TypeError, r"arguments of VAE \(encoder, decoder, likelihood", r"unknown keyword argument\(s\) \['likelihod'\]"),
    "save_model: an .h5 path": (
        "option", lambda c: models.save_model(c.model, c.files.folder / "vae.h5"),
        ValueError, r"path ending in \.keras", r"path='.*vae\.h5'"),
}


def test_the_table_covers_every_category_with_at_least_twenty_cases():
    assert len(MISUSE) >= 20
    assert {row[0] for row in MISUSE.values()} == set(CATEGORIES)


@pytest.mark.parametrize("case", list(MISUSE))
def test_misuse_gets_a_clear_error_and_no_nan(case, files, monkeypatch):
    """The exception names what was expected and what was received; nothing ran, no NaN appeared."""
    category, call, error, expected, received = MISUSE[case]
    model = tiny_vae()
    model.compile(optimizer="adam")
    before = model.get_weights()
    ctx = SimpleNamespace(model=model, files=files, monkeypatch=monkeypatch)
    with pytest.raises(error, match=r"(?s)^Expected .*Received") as info:
        call(ctx)
    message = str(info.value)
    head, _, tail = message.partition("Received")
    assert re.search(expected, head), f"the message does not name what was expected: {message}"
    assert re.search(received, tail), f"the message does not name what was received: {message}"
    # Refused at the boundary: no step ran, the weights are untouched and finite.
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.all(np.isfinite(w)) for w in after)
    assert keras.ops.convert_to_numpy(model.reconstruction_tracker.count) == 0
    assert keras.ops.convert_to_numpy(model.kl_tracker.count) == 0
