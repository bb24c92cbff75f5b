"""The datasets (vaelib.data), read from the verified copies under VAELIB_DATA_DIR.

No test here downloads anything: the tests of the Keras fallback replace Keras'
loader by a local one, and the tests of missing files pass `download=False`.
"""

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.io

from tiny import tiny_model
from vaelib import data

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# SHA-256 of the decompressed IDX files, as published with the datasets.
PUBLISHED_SHA256 = {
    ("mnist", "train-images-idx3-ubyte"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ("mnist", "train-labels-idx1-ubyte"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("mnist", "t10k-images-idx3-ubyte"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("fashion-mnist", "train-images-idx3-ubyte"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion-mnist", "train-labels-idx1-ubyte"): "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ("fashion-mnist", "t10k-images-idx3-ubyte"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def data_dir():
    """The folder of VAELIB_DATA_DIR (skip where it is unset: these tests read the files)."""
    configured = os.environ.get("VAELIB_DATA_DIR")
    if not configured:
        pytest.skip("no dataset copies: VAELIB_DATA_DIR is unset")
    path = Path(configured)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAELIB_DATA_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def mnist_static(data_dir):
    return data.load_mnist("static", seed=0, download=False)


@pytest.fixture(scope="module")
def mnist_grey(data_dir):
    return data.load_mnist("none", download=False)


@pytest.fixture
def no_download(monkeypatch):
    """Make any attempt to download fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download a dataset")
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", refuse)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", refuse)


def read_idx(path):
    """Read an IDX .gz file with nothing but the format's definition; return (array, raw bytes)."""
    raw = gzip.decompress(Path(path).read_bytes())
    assert raw[:3] == b"\x00\x00\x08"  # zero, zero, uint8 type code
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape), raw


# -- MNIST -------------------------------------------------------------------------


def test_static_mnist_shapes_bits_and_labels(mnist_static):
    """60,000/10,000 binary digits with the known class counts; E[bit] = grey level (mean 0.1307)."""
    (x_train, y_train), (x_test, y_test) = mnist_static
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and y_train.shape == (60000,) and y_test.shape == (10000,)
    assert set(np.unique(x_train)) == {0.0, 1.0} and set(np.unique(x_test)) == {0.0, 1.0}
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert abs(x_train.mean() - 0.1307) < 1e-3


def test_static_binarization_is_a_seeded_bernoulli_draw_of_the_grey_levels(mnist_static, mnist_grey):
    """bit ~ Bernoulli(grey): black pixels stay 0, white stay 1; same seed same bits, other seed other bits."""
    (x_train, y_train), (x_test, _) = mnist_static
    (grey_train, grey_labels), _ = mnist_grey
    np.testing.assert_array_equal(y_train, grey_labels)
    assert np.all(x_train[grey_train == 0] == 0) and np.all(x_train[grey_train == 1] == 1)
    (again, _), (again_test, _) = data.load_mnist("static", seed=0, download=False)
    np.testing.assert_array_equal(again, x_train)
    np.testing.assert_array_equal(again_test, x_test)
    (other, _), _ = data.load_mnist("static", seed=1, download=False)
    grey = (grey_train > 0) & (grey_train < 1)
    assert np.mean(other[grey] != x_train[grey]) > 0.05  # the uncertain pixels are re-drawn


def test_grey_mnist_has_the_published_statistics(mnist_grey, data_dir):
    """binarization='none': intensities / 255 with mean 0.1307 and std 0.3081; flatten=False keeps 28x28."""
    (x_train, _), (x_test, _) = mnist_grey
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert round(float(x_train.mean()), 4) == 0.1307
    assert round(float(x_train.std()), 4) == 0.3081
    (images, _), (test_images, _) = data.load_mnist("none", flatten=False, download=False)
    assert images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(images.reshape(60000, 784), x_train)


def test_dynamic_binarization_draws_new_bits_every_epoch(mnist_static, data_dir):
    """'dynamic': a DynamicBinarization of binary batches that are re-drawn by on_epoch_end()."""
    (x_train, y_train), (x_test, _) = data.load_mnist("dynamic", seed=0, batch_size=100, download=False)
    assert isinstance(x_train, data.DynamicBinarization)
    assert len(x_train) == 600 and y_train.shape == (60000,)
    np.testing.assert_array_equal(x_test, mnist_static[1][0])  # the test set is binarized once, as for static
    first = np.array(x_train[0])
    assert first.shape == (100, 784) and set(np.unique(first)) <= {0.0, 1.0}
    epoch = np.concatenate([x_train[i] for i in range(len(x_train))])
    assert epoch.shape == (60000, 784) and abs(epoch.mean() - 0.1307) < 1e-3
    x_train.on_epoch_end()
    assert not np.array_equal(np.array(x_train[0]), first)


def test_dynamic_binarization_averages_to_the_grey_levels(mnist_grey):
    """Over many epochs the mean bit of each pixel tends to its grey level (E[Bernoulli(p)] = p)."""
    image = mnist_grey[0][0][:1]  # one digit, repeated so that the shuffling does not matter
    dataset = data.DynamicBinarization(np.repeat(image, 10, axis=0), batch_size=10, seed=3)
    epochs = 400
    total = np.zeros(784)
    for _ in range(epochs):
        total += dataset[0].sum(axis=0)
        dataset.on_epoch_end()
    mean, p = total / (10 * epochs), image[0].astype("float64")
    se = np.sqrt(p * (1 - p) / (10 * epochs))
    assert np.all(np.abs(mean - p) <= 5 * se + 1e-12), np.max(np.abs(mean - p) - 5 * se)
    assert np.sum((p > 0.2) & (p < 0.8)) > 10  # the check covers uncertain pixels


def test_fit_accepts_a_dynamic_binarization(mnist_grey):
    """VAE.fit streams a DynamicBinarization (no array check) and re-draws it after every epoch."""
    model = tiny_model(input_dim=784, hidden_units=32, latent_dim=2)
    model.compile(optimizer="adam")
    dataset = data.DynamicBinarization(mnist_grey[0][0][:256], batch_size=64, seed=0)
    before = np.array(dataset[0])
    history = model.fit(dataset, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"]))
    assert not np.array_equal(np.array(dataset[0]), before)


def test_in_memory_data_in_batches():
    """batches slices an array, or every array of a list alike; in_batches concatenates the outputs."""
    x, labels = np.arange(14.0).reshape(7, 2), np.arange(7)
    assert [len(part) for part in data.batches(x, 3)] == [3, 3, 1]
    pairs = list(data.batches([x, labels], 3))
    assert len(pairs) == 3 and all(len(a) == len(b) for a, b in pairs)
    np.testing.assert_array_equal(pairs[2][0], x[6:])
    np.testing.assert_array_equal(pairs[2][1], [6])
    network = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    (whole,) = data.in_batches(network, x.astype("float32"), batch_size=1000)
    (sliced,) = data.in_batches(network, x.astype("float32"), batch_size=2)
    assert isinstance(sliced, np.ndarray) and sliced.shape == (7, 4)
    np.testing.assert_allclose(sliced, whole, rtol=1e-6)
    with pytest.raises(ValueError, match=r"Expected `batch_size` to be a positive integer.*Received"):
        list(data.batches(x, 0))


@pytest.mark.parametrize("bad", ["stochastic", "Static", None])
def test_unknown_binarization_is_refused(bad, data_dir):
    with pytest.raises(ValueError, match=r"Expected `binarization` to be one of .*Received"):
        data.load_mnist(bad)


# -- Fashion-MNIST and Frey Face -----------------------------------------------------------


def test_fashion_mnist_shapes_and_range(data_dir):
    """Fashion-MNIST: 60,000/10,000 grey images in [0, 1], 6,000/1,000 per class."""
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(download=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784) and x_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.min() == 0.0 and x_test.max() == 1.0
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    (images, _), _ = data.load_fashion_mnist(flatten=False, download=False)
    assert images.shape == (60000, 28, 28)


def test_frey_face_split(data_dir):
    """1,965 faces of 20x28 = 560 pixels in [0, 1], split by test_size into disjoint sets."""
    x_train, x_test = data.load_frey_face(test_size=0.1, seed=0, download=False)
    assert x_train.shape == (1769, 560) and x_test.shape == (196, 560) and x_train.dtype == np.float32
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0 and x_train.max() > 0.9
    train_rows, test_rows = {r.tobytes() for r in x_train}, {r.tobytes() for r in x_test}
    assert len(train_rows) == 1769 and len(test_rows) == 196 and not train_rows & test_rows
    everything, empty = data.load_frey_face(test_size=0.0, download=False)
    assert everything.shape == (1965, 560) and empty.shape == (0, 560)
    assert train_rows | test_rows == {r.tobytes() for r in everything}
    quarter = data.load_frey_face(test_size=0.25, seed=0, download=False)
    assert [len(part) for part in quarter] == [1474, 491]
    again, other = data.load_frey_face(seed=0, download=False), data.load_frey_face(seed=1, download=False)
    np.testing.assert_array_equal(again[1], x_test)
    assert not np.array_equal(other[1], x_test)
    images, _ = data.load_frey_face(flatten=False, download=False)
    assert images.shape == (1769, 28, 20)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_frey_face_refuses_a_bad_test_size(bad, data_dir):
    with pytest.raises(ValueError, match=r"Expected `test_size` in \[0, 1\).*Received"):
        data.load_frey_face(test_size=bad, download=False)


# -- verification by content ------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_idx_bytes_reproduces_the_published_sha256(dataset, data_dir):
    """idx_bytes(array) is the decompressed IDX file, so its SHA-256 is the published one."""
    for name in IDX_NAMES:
        array, raw = read_idx(data_dir / dataset / f"{name}.gz")
        content = data.idx_bytes(array)
        assert content == raw
        assert hashlib.sha256(content).hexdigest() == PUBLISHED_SHA256[dataset, name]
        assert data.IDX_SHA256[dataset][name] == PUBLISHED_SHA256[dataset, name]


def test_loaded_arrays_are_the_published_content(mnist_grey):
    """load_mnist's grey images times 255 are the original uint8 training images, bit for bit."""
    (x_train, y_train), _ = mnist_grey
    images = np.rint(x_train * 255).astype(np.uint8).reshape(60000, 28, 28)
    assert hashlib.sha256(data.idx_bytes(images)).hexdigest() == PUBLISHED_SHA256["mnist", "train-images-idx3-ubyte"]
    assert hashlib.sha256(data.idx_bytes(y_train)).hexdigest() == PUBLISHED_SHA256["mnist", "train-labels-idx1-ubyte"]


def _arrays_from_files(data_dir):
    arrays = [read_idx(data_dir / "mnist" / f"{name}.gz")[0] for name in IDX_NAMES]
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def test_arrays_from_keras_loader_are_verified(monkeypatch, tmp_path, data_dir, mnist_grey):
    """Without VAELIB_DATA_DIR, Keras' loader is used and its arrays are checked by content."""
    arrays = _arrays_from_files(data_dir)
    monkeypatch.delenv("VAELIB_DATA_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: arrays)  # no download
    (x_train, _), _ = data.load_mnist("none")
    np.testing.assert_array_equal(x_train, mnist_grey[0][0])
    changed = arrays[0][0].copy()
    changed[0, 0, 0] ^= 1  # one pixel of one image
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: ((changed, arrays[0][1]), arrays[1]))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte from Keras' loader.*Received: SHA-256"):
        data.load_mnist("none")


def _truncate(path):
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def _flip_one_label(path):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8 + 1234] = (raw[8 + 1234] + 1) % 10  # a valid IDX file with one other label
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))


def _garbage(path):
    path.write_bytes(b"this is not a gzip file\n" * 100)


@pytest.mark.parametrize("corrupt, message", [
    (_truncate, "cannot be decompressed"),
    (_flip_one_label, "Received: SHA-256"),
    (_garbage, "cannot be decompressed"),
])
def test_a_corrupt_mnist_file_is_refused(corrupt, message, monkeypatch, tmp_path, data_dir, no_download):
    """A truncated, garbled or different (but well-formed) file is refused with its name in the message."""
    copy = tmp_path / "data"
    (copy / "mnist").mkdir(parents=True)
    for name in IDX_NAMES:  # copyfile: the copies are writable even if the originals are not
        shutil.copyfile(data_dir / "mnist" / f"{name}.gz", copy / "mnist" / f"{name}.gz")
    target = copy / "mnist" / "train-labels-idx1-ubyte.gz"
    corrupt(target)
    monkeypatch.setenv("VAELIB_DATA_DIR", str(copy))
    with pytest.raises(ValueError, match=message) as info:
        data.load_mnist(download=False)
    assert str(target) in str(info.value)
    assert "Expected" in str(info.value) and "Received" in str(info.value)


def _frey_matrix(data_dir):
    return scipy.io.loadmat(data_dir / "frey_rawface.mat")["ff"]


@pytest.mark.parametrize("variant", ["one pixel changed", "transposed", "no ff variable", "not a .mat file"])
def test_a_corrupt_frey_face_file_is_refused(variant, monkeypatch, tmp_path, data_dir, no_download):
    """A .mat file with other content, or a file that is no .mat file, is refused (ValueError)."""
    path = tmp_path / "frey_rawface.mat"
    ff = _frey_matrix(data_dir)
    if variant == "one pixel changed":
        ff = ff.copy()
        ff[100, 200] ^= 1
        scipy.io.savemat(path, {"ff": ff})
    elif variant == "transposed":
        scipy.io.savemat(path, {"ff": ff.T})
    elif variant == "no ff variable":
        scipy.io.savemat(path, {"faces": ff})
    else:
        path.write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setenv("VAELIB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="Expected") as info:
        data.load_frey_face(download=False)
    assert str(path) in str(info.value) and "Received" in str(info.value)


def test_frey_face_with_the_right_bytes_in_another_shape_is_refused(monkeypatch, tmp_path, data_dir, no_download):
    """The published hash is of `ff` with shape (560, 1965): the same bytes in another shape are other data."""
    path = tmp_path / "frey_rawface.mat"
    ff = np.ascontiguousarray(_frey_matrix(data_dir))
    scipy.io.savemat(path, {"ff": ff.reshape(1965, 560)})  # same C-order bytes, rows are not images
    monkeypatch.setenv("VAELIB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="Expected"):
        data.load_frey_face(download=False)


# -- missing files -----------------------------------------------------------------------


@pytest.mark.parametrize("load, missing", [
    (lambda: data.load_mnist(download=False), "train-images-idx3-ubyte.gz"),
    (lambda: data.load_fashion_mnist(download=False), "train-images-idx3-ubyte.gz"),
    (lambda: data.load_frey_face(download=False), "frey_rawface.mat"),
])
def test_a_missing_dataset_says_where_it_looked_and_how_to_provide_it(load, missing, monkeypatch, tmp_path,
                                                                       no_download):
    """Offline with no copy: FileNotFoundError naming the file, VAELIB_DATA_DIR and Keras' cache."""
    (tmp_path / "data").mkdir()
    (tmp_path / "keras").mkdir()
    monkeypatch.setenv("VAELIB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(FileNotFoundError) as info:
        load()
    message = str(info.value)
    assert missing in message
    assert f"VAELIB_DATA_DIR ({tmp_path / 'data'}" in message
    assert str(tmp_path / "keras") in message  # Keras' cache was looked in too
    assert "Provide it by setting VAELIB_DATA_DIR" in message and "downloads disabled" in message
