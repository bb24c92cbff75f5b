"""Saving and loading a model safely: atomic writes, safe-mode loads, clear errors."""

import os

import keras
import numpy as np
from keras import ops

from vaelib._checks import check_file, check_keras_path, check_model, check_positive_int, check_sizes
from vaelib.models import VAE


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
    check_model("model", model, keras.Model)
    path = check_keras_path(path)
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        found = "is a file" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(
            f"Expected an existing folder to save {name} in. Received: path={path!r}, "
            f"and {folder} {found}"
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
    path = check_file(check_keras_path(path), "a .keras file")
    if expected_latent_dim is not None:
        expected_latent_dim = check_positive_int("expected_latent_dim", expected_latent_dim)
    if expected_input_shape is not None:
        expected_input_shape = check_sizes("expected_input_shape", expected_input_shape)
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
