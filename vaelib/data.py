"""The book's datasets, found offline or online, and verified by content.

Every loader looks, in order, in

1. the folder named by the environment variable `VAELIB_DATA_DIR`, laid out as
   `mnist/` and `fashion-mnist/` (the four original IDX `.gz` files each) and
   `frey_rawface.mat`;
2. Keras' own loaders and cache (`keras.datasets.mnist.load_data()` downloads
   `mnist.npz` once and checks its hash);
3. for Frey Face, a download from the original address into Keras' cache.

Whatever the source, the content is checked against the SHA-256 of the
original decompressed data, so any faithful copy is accepted and a corrupted or
different file is refused with an error that names it.
"""

import gzip
import hashlib
import os
import struct
import threading

import keras
import numpy as np
from keras import ops

from vaelib._checks import (UNIT_INTERVAL, check_data, check_file, check_folder, check_option,
                            check_positive_int, check_unused)

# SHA-256 of the decompressed IDX files (magic number, dimensions, uint8 data).
IDX_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
# SHA-256 of Frey Face's `ff` matrix: uint8, shape (560, 1965), C order.
FREY_SHA256 = "fbd70c2c992104024a20f4d253da1a1132eb6bf8ed142dccbe7d2b1743b705c4"
FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
_IDX_NAMES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)
_KERAS_LOADERS = {"mnist": "mnist", "fashion-mnist": "fashion_mnist"}
BINARIZATIONS = ("static", "dynamic", "none")


# -- reading and verifying ----------------------------------------------------


def idx_bytes(array):
    """Return the IDX-format bytes of a uint8 array (the decompressed file's content)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim)  # zero, uint8 type code, ndim
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _verify(content, expected, what):
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected:
        raise ValueError(
            f"Expected {what} to have content SHA-256 {expected}. Received: SHA-256 "
            f"{digest}. The file is corrupt or holds different data: delete it and "
            "provide a faithful copy."
        )


def read_idx_gz(path, expected_sha256):
    """Read a gzip-compressed IDX file, verify its content and return the array."""
    check_file(path, "a gzip-compressed IDX file")
    try:
        with gzip.open(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as error:
        raise ValueError(
            f"Expected a gzip-compressed IDX file at {path}. Received: a file that "
            f"cannot be decompressed ({error})"
        ) from None
    _verify(content, expected_sha256, path)
    ndim = content[3]
    shape = struct.unpack(f">{ndim}I", content[4:4 + 4 * ndim])
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _missing_error(what, looked_in):
    return FileNotFoundError(
        f"Could not find {what}. Looked in: {'; '.join(looked_in)}. Provide it by "
        "setting VAELIB_DATA_DIR to a folder laid out as mnist/, fashion-mnist/ "
        "(the four original IDX .gz files each) and frey_rawface.mat, or run once "
        "with internet access so that it is downloaded into Keras' cache."
    )


def _load_idx_dataset(name, download):
    """Return ((x_train, y_train), (x_test, y_test)) as uint8 arrays, verified."""
    hashes = IDX_SHA256[name]
    looked_in = []
    data_dir = _data_dir()
    if data_dir:
        folder = os.path.join(data_dir, name)
        if os.path.exists(folder):
            check_folder(folder, f"VAELIB_DATA_DIR/{name}")
        paths = [os.path.join(folder, f + ".gz") for f in _IDX_NAMES]
        if all(os.path.exists(p) for p in paths):
            arrays = [read_idx_gz(p, hashes[f]) for p, f in zip(paths, _IDX_NAMES)]
            return (arrays[0], arrays[1]), (arrays[2], arrays[3])
        looked_in.append(f"VAELIB_DATA_DIR ({folder}: missing "
                         f"{', '.join(os.path.basename(p) for p in paths if not os.path.exists(p))})")
    else:
        looked_in.append("VAELIB_DATA_DIR (not set)")
    loader = getattr(keras.datasets, _KERAS_LOADERS[name])
    cache = _keras_cache_dir()
    looked_in.append(f"Keras' cache ({cache})")
    if not download and not _in_keras_cache(name, cache):
        raise _missing_error(f"the {name} dataset", looked_in + ["(downloads disabled)"])
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # offline, refused, or a broken cache
        raise _missing_error(f"the {name} dataset", looked_in + [f"download failed: {error}"]) from error
    for array, f in zip((x_train, y_train, x_test, y_test), _IDX_NAMES):
        _verify(idx_bytes(array), hashes[f], f"{name} {f} from Keras' loader")
    return (x_train, y_train), (x_test, y_test)


def _data_dir():
    """The folder named by VAELIB_DATA_DIR, or None where it is not set."""
    data_dir = os.environ.get("VAELIB_DATA_DIR")
    return data_dir and check_folder(data_dir, "VAELIB_DATA_DIR")


def _keras_cache_dir():
    """The folder where Keras' loaders keep downloaded datasets ($KERAS_HOME/datasets)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "datasets")


def _in_keras_cache(name, cache):
    paths = [os.path.join(cache, "mnist.npz")] if name == "mnist" else [
        os.path.join(cache, name, f + ".gz") for f in _IDX_NAMES]
    return all(os.path.exists(path) and check_file(path, "a cached download") for path in paths)


# -- binarization -----------------------------------------------------------------


def binarize(x, seed=0):
    """Return one Bernoulli sample of grey-level images: bit ~ Bernoulli(intensity).

    This is the stochastic binarization of Salakhutdinov & Murray (2008):
    a pixel of intensity 0.3 is 1 with probability 0.3.

    Args:
        x: grey levels in [0, 1], any shape.
        seed: seed of the draw (an int or a `np.random.SeedSequence`); the
            same seed gives the same bits.

    Returns:
        float32 array of 0s and 1s with the shape of `x`.
    """
    # Grey levels outside [0, 1] or NaN would silently give all-1 or all-0 bits.
    x = check_data(np.reshape(x, (1, -1)), name="x", value_range=UNIT_INTERVAL).reshape(np.shape(x))
    rng = np.random.default_rng(seed)
    return (rng.random(np.shape(x), dtype=np.float32) < x).astype("float32")


class DynamicBinarization(keras.utils.PyDataset):
    """Minibatches of freshly binarized images: a new Bernoulli draw every epoch.

    Dynamic binarization (used by most likelihood results on MNIST since
    Burda et al., 2015) acts as data augmentation: the model never sees the
    same bits twice. `draw()` shuffles and binarizes the whole array at once
    in NumPy, so a training step only slices it; an epoch draws when its
    first batch is asked for. (Keras reads one batch to build a model and
    calls `on_epoch_end` before the first epoch, so in `fit` the first epoch
    sees the second draw.)

    Args:
        images: grey levels in [0, 1], shape `(n, ...)`.
        batch_size: examples per batch (paper: 100).
        seed: seed of the binarization and the shuffling.
    """

    def __init__(self, images, batch_size=100, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.images = check_data(images, name="images", value_range=UNIT_INTERVAL)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.rng = np.random.default_rng(seed)
        self._epoch, self._lock = None, threading.Lock()  # this epoch's bits, once drawn

    def draw(self):
        """The next epoch of images: shuffled, each pixel a new Bernoulli draw, float32."""
        order = self.rng.permutation(len(self.images))
        draws = self.rng.random(self.images.shape, dtype=np.float32)
        return (draws < self.images[order]).astype("float32")

    def __len__(self):
        return -(-len(self.images) // self.batch_size)  # ceil

    def __getitem__(self, index):
        with self._lock:  # Keras' workers may ask for several batches at once
            if self._epoch is None:
                self._epoch = self.draw()
        start = index * self.batch_size
        return self._epoch[start:start + self.batch_size]

    def on_epoch_end(self):
        self._epoch = None  # the next epoch draws new bits


# -- in-memory data in batches -----------------------------------------------------

def batches(inputs, batch_size):
    """Slices of `inputs` (an array, or a list of arrays) of at most `batch_size` rows."""
    batch_size = check_positive_int("batch_size", batch_size)
    for start in range(0, len(keras.tree.flatten(inputs)[0]), batch_size):
        yield keras.tree.map_structure(lambda a: a[start:start + batch_size], inputs)


def in_batches(network, inputs, batch_size):
    """Apply `network` to `inputs` in slices of `batch_size`; its outputs as NumPy arrays."""
    parts = [[ops.convert_to_numpy(o) for o in keras.tree.flatten(network(piece, training=False))]
             for piece in batches(inputs, batch_size)]
    return [np.concatenate(column) for column in zip(*parts)]


# -- the datasets -------------------------------------------------------------


def _as_float(images, flatten):
    images = images.astype("float32") / 255.0
    return images.reshape(len(images), -1) if flatten else images


def load_mnist(binarization="static", seed=None, batch_size=None, flatten=True, download=True):
    """Load MNIST (60,000 training and 10,000 test digits), content-verified.

    Args:
        binarization: `"static"`: train and test images binarized once, by a
            Bernoulli draw with `seed`; `"dynamic"`: the training images come
            as a `DynamicBinarization` dataset (a new draw each epoch) and the
            test images binarized once with `seed`; `"none"`: grey levels in
            [0, 1].
        seed: seed of the binarization (default 0); not with `"none"`.
        batch_size: batch size of the `DynamicBinarization` dataset (default
            100); only with `binarization="dynamic"`.
        flatten: return images as vectors of 784 pixels (the paper's MLP);
            `False` gives `(n, 28, 28)`.
        download: allow Keras' loader to download `mnist.npz` if no local
            copy is found.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float32 images (or the
        dynamic dataset) and uint8 labels.
    """
    check_option("binarization", binarization, BINARIZATIONS)
    if binarization == "none":
        check_unused("seed", seed, "with binarization='none' (grey levels are not drawn)")
    if binarization != "dynamic":
        check_unused("batch_size", batch_size, f"with binarization={binarization!r}")
    seed, batch_size = (0 if seed is None else seed), (100 if batch_size is None else batch_size)
    (x_train, y_train), (x_test, y_test) = _load_idx_dataset("mnist", download)
    x_train, x_test = _as_float(x_train, flatten), _as_float(x_test, flatten)
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)  # independent streams
    if binarization == "static":
        x_train, x_test = binarize(x_train, train_seed), binarize(x_test, test_seed)
    elif binarization == "dynamic":
        x_train = DynamicBinarization(x_train, batch_size=batch_size, seed=train_seed)
        x_test = binarize(x_test, test_seed)
    return (x_train, y_train.copy()), (x_test, y_test.copy())


def load_fashion_mnist(flatten=True, download=True):
    """Load Fashion-MNIST (Zalando) as grey levels in [0, 1], content-verified.

    Args:
        flatten: return images as vectors of 784 pixels; `False` gives
            `(n, 28, 28)`.
        download: allow Keras' loader to download the files if no local copy
            is found.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float32 images, uint8 labels.
    """
    (x_train, y_train), (x_test, y_test) = _load_idx_dataset("fashion-mnist", download)
    return (_as_float(x_train, flatten), y_train.copy()), (_as_float(x_test, flatten), y_test.copy())


def load_frey_face(test_size=0.1, seed=0, flatten=True, download=True):
    """Load the 1,965 Frey Face images (20×28 pixels) as grey levels in [0, 1].

    The paper (§5) trains on Frey Face with a Gaussian decoder. It publishes
    no split, so a random `test_size` fraction is held out with `seed`.

    Args:
        test_size: fraction of the images held out as the test set, in [0, 1).
        seed: seed of the split.
        flatten: return vectors of 560 pixels; `False` gives `(n, 28, 20)`.
        download: allow a download from the original address into Keras'
            cache if no local copy is found.

    Returns:
        `(x_train, x_test)`, float32.
    """
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"Expected `test_size` in [0, 1). Received: test_size={test_size!r}")
    import scipy.io  # only Frey Face needs scipy

    looked_in = []
    path = None
    data_dir = _data_dir()
    if data_dir and os.path.exists(os.path.join(data_dir, "frey_rawface.mat")):
        path = check_file(os.path.join(data_dir, "frey_rawface.mat"), "frey_rawface.mat")
    else:
        looked_in.append(f"VAELIB_DATA_DIR ({data_dir or 'not set'})")
        cached = os.path.join(_keras_cache_dir(), "frey_rawface.mat")
        looked_in.append(f"Keras' cache ({cached})")
        if os.path.exists(cached):
            path = check_file(cached, "frey_rawface.mat")
        elif not download:
            raise _missing_error("frey_rawface.mat", looked_in + ["(downloads disabled)"])
        else:
            try:
                path = keras.utils.get_file("frey_rawface.mat", origin=FREY_URL)
            except Exception as error:
                raise _missing_error(
                    "frey_rawface.mat", looked_in + [f"download from {FREY_URL} failed: {error}"]
                ) from error
    try:
        ff = scipy.io.loadmat(path)["ff"]
    except Exception as error:
        raise ValueError(
            f"Expected a MATLAB file with a variable `ff` at {path}. Received: a file "
            f"that cannot be read as one ({type(error).__name__}: {error})"
        ) from None
    if ff.shape != (560, 1965):
        raise ValueError(
            f"Expected `ff` of shape (560, 1965), one image per column, in {path}. "
            f"Received: shape={ff.shape}"
        )
    _verify(np.ascontiguousarray(ff, dtype=np.uint8).tobytes(), FREY_SHA256, path)
    images = ff.T.astype("float32") / 255.0  # (1965, 560), one image per row
    if not flatten:
        images = images.reshape(-1, 28, 20)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(test_size * len(images)))
    return images[order[n_test:]], images[order[:n_test]]
