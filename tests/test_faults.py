"""Faults and safety: killed training runs, interrupted saves, untrusted files and downloads.

- A training run killed by SIGKILL mid-epoch and started again with
  `keras.callbacks.BackupAndRestore` resumes from the last completed epoch and
  ends with exactly the weights of an uninterrupted run with the same seed
  (bit for bit: measured on the TensorFlow, JAX and PyTorch CPU backends).
  This holds because `vaelib.layers.Sampling` saves the state of its noise
  stream with the weights; Keras does not save a SeedGenerator's state, and
  without it the resumed run draws other ε and ends elsewhere.
- A save killed mid-write never leaves a file that loads as a different model:
  `vaelib.saving.save_model` writes a temporary file and renames it, so the
  old file survives; the same kill during `model.save` destroys it (the
  control that shows the kill lands mid-write).
- Every model vaelib saves loads with `safe_mode=True`; loading never runs code
  stored in a file; downloaded data are checked against their SHA-256 before
  the loaders return them.

The worker processes are tests/fault_worker.py; they run on the backend of
this session (KERAS_BACKEND is inherited).
"""

import ast
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import keras
import numpy as np
import pytest
import scipy.io

import fault_worker
from fault_worker import SEED
from tiny import random_bits, tiny_model
from vaelib import data, models, saving

WORKER = pathlib.Path(fault_worker.__file__)
ROOT = WORKER.parents[1]
START_TIMEOUT = 300  # seconds for a worker to reach its marker, on a busy 2-core machine

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")


def start(*args):
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process, timeout=START_TIMEOUT):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]


def kill_at_marker(process, marker):
    """Wait until the worker writes `marker` (it then waits mid-step), and SIGKILL it."""
    deadline = time.monotonic() + START_TIMEOUT
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"the worker ended before its marker: {process.communicate()[0][-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the worker did not reach its marker in time")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def log_lines(path):
    return path.read_text().splitlines()


# -- a training run killed mid-epoch ------------------------------------------------------


def test_training_killed_mid_epoch_resumes_from_the_last_epoch_and_ends_with_the_same_weights(tmp_path):
    """SIGKILL after batch 2 of epoch 2 (0-based); the restart resumes at epoch 2; weights equal exactly."""
    full = start("train", "--backup", tmp_path / "backup_full", "--out", tmp_path / "full.npz",
                 "--log", tmp_path / "full.log")
    killed = start("train", "--backup", tmp_path / "backup", "--out", tmp_path / "never.npz",
                   "--log", tmp_path / "run.log", "--hang-at-epoch", 2, "--hang-at-batch", 2,
                   "--marker", tmp_path / "marker")
    kill_at_marker(killed, tmp_path / "marker")
    # Killed inside epoch 2: epochs 0 and 1 completed and backed up, epoch 2 was not.
    assert log_lines(tmp_path / "run.log")[::2] == ["begin 0", "begin 1", "begin 2"]
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (tmp_path / "never.npz").exists()

    resumed = start("train", "--backup", tmp_path / "backup", "--out", tmp_path / "resumed.npz",
                    "--log", tmp_path / "run.log")
    finish(resumed)
    finish(full)
    lines = log_lines(tmp_path / "run.log")
    assert [line.split()[:2] for line in lines[5:]] == [["begin", "2"], ["end", "2"],
                                                        ["begin", "3"], ["end", "3"]]
    assert not (tmp_path / "backup").exists()  # BackupAndRestore removes its backup when fit ends

    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    weights = sorted(k for k in a.files if k.startswith("weight_"))
    assert weights and sorted(a.files) == sorted(b.files)
    for key in weights + ["seed_state", "iterations"]:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # exactly, not approximately
    assert a["epochs_run"].tolist() == [0, 1, 2, 3] and b["epochs_run"].tolist() == [2, 3]
    np.testing.assert_array_equal(a["loss"][2:], b["loss"])
    # The same per-epoch losses in the uninterrupted log and the interrupted-then-resumed one.
    assert log_lines(tmp_path / "full.log") == [lines[i] for i in (0, 1, 2, 3, 5, 6, 7, 8)]


# -- a save killed mid-write --------------------------------------------------------------


def _weights(model):
    return model.get_weights()


def _same(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def test_a_save_killed_mid_write_never_leaves_a_file_that_loads_as_another_model(tmp_path):
    """Kill while the archive's weights are written: save_model keeps the old file, model.save loses it."""
    old = tiny_model(seed=SEED)
    old_weights = _weights(old)
    folders = {how: tmp_path / how for how in ("atomic", "naive")}
    workers = {}
    for how, folder in folders.items():
        folder.mkdir()
        saving.save_model(old, folder / "vae.keras")
        workers[how] = start("save", "--path", folder / "vae.keras", "--how", how,
                             "--marker", folder / "marker")
    for how, folder in folders.items():
        kill_at_marker(workers[how], folder / "marker")
        (folder / "marker").unlink()

    # save_model: the file under the final name is still the old model, and loads as it.
    atomic = folders["atomic"]
    assert _same(_weights(saving.load_model(atomic / "vae.keras")), old_weights)
    # What the kill left beside it is a partial temporary file, which loads as nothing.
    leftovers = sorted(p.name for p in atomic.iterdir() if p.name != "vae.keras")
    assert len(leftovers) == 1 and leftovers[0].startswith(".vae.keras.") and \
        leftovers[0].endswith(".partial.keras"), leftovers
    with pytest.raises(ValueError, match=r"(?s)Expected .*Received"):
        saving.load_model(atomic / leftovers[0])
    with pytest.raises(Exception):
        keras.saving.load_model(atomic / leftovers[0])

    # model.save, the control: it had truncated the old file before writing; nothing loads now.
    naive = folders["naive"] / "vae.keras"
    assert naive.stat().st_size < (atomic / "vae.keras").stat().st_size
    with pytest.raises(ValueError, match=r"(?s)Expected a \.keras file \(a zip archive\).*Received"):
        saving.load_model(naive)


def test_a_byte_corrupted_anywhere_never_loads_as_another_model(tmp_path):
    """One byte flipped at 40 places spread over a saved file: refused clearly, or the same model."""
    model = tiny_model(seed=SEED)
    path = tmp_path / "vae.keras"
    saving.save_model(model, path)
    content, weights = path.read_bytes(), model.get_weights()
    outcomes = []
    for offset in np.linspace(0, len(content) - 1, 40).astype(int):
        corrupt = bytearray(content)
        corrupt[offset] ^= 0xFF
        (tmp_path / "corrupt.keras").write_bytes(bytes(corrupt))
        try:
            restored = saving.load_model(tmp_path / "corrupt.keras")
        except (ValueError, TypeError) as error:
            assert re.search(r"(?s)^Expected .*Received", str(error)), str(error)
            outcomes.append("refused")
        else:  # a byte the zip format does not read (e.g. a local header's date)
            assert _same(restored.get_weights(), weights)
            outcomes.append("same model")
    print({outcome: outcomes.count(outcome) for outcome in set(outcomes)})
    assert outcomes.count("refused") >= 30  # the zip CRCs and our checks catch nearly every byte


class DiskFull(OSError):
    pass


def _half_write_then_fail(model, path):
    keras.models.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    content = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(content[: len(content) // 2])
    raise DiskFull(28, "No space left on device")


def _write_then_corrupt(original):
    def save(model, path):
        original(model, path)
        content = bytearray(pathlib.Path(path).read_bytes())
        content[len(content) // 2] ^= 0xFF  # a bit flipped on its way to the disk
        pathlib.Path(path).write_bytes(bytes(content))
    return save


def _fail_rename(*args):
    raise PermissionError(13, "Permission denied")


@pytest.mark.parametrize("fault", ["disk full mid-write", "byte corrupted on disk", "rename refused"])
def test_a_failed_save_leaves_the_old_file_and_no_partial_file(fault, tmp_path, monkeypatch):
    """The write fails part-way, or writes a wrong byte, or cannot be renamed: the old model stays."""
    path = tmp_path / "vae.keras"
    old = tiny_model(seed=SEED)
    saving.save_model(old, path)
    new = tiny_model(seed=SEED + 1)
    if fault == "disk full mid-write":
        monkeypatch.setattr(keras.saving, "save_model", _half_write_then_fail)
        expected = pytest.raises(DiskFull)
    elif fault == "byte corrupted on disk":
        monkeypatch.setattr(keras.saving, "save_model", _write_then_corrupt(keras.saving.save_model))
        expected = pytest.raises(ValueError, match=r"(?s)Expected a model that loads back.*Received.*"
                                                   r"Bad CRC-32.*left unchanged")
    else:
        monkeypatch.setattr(os, "replace", _fail_rename)
        expected = pytest.raises(PermissionError)
    with expected:
        saving.save_model(new, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["vae.keras"]  # no temporary file left
    assert _same(_weights(saving.load_model(path)), _weights(old))


def test_save_model_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "vae.keras"
    saving.save_model(tiny_model(seed=SEED), path)
    new = tiny_model(seed=SEED + 1)
    assert saving.save_model(new, path) == str(path)
    assert [p.name for p in tmp_path.iterdir()] == ["vae.keras"]
    assert _same(_weights(saving.load_model(path)), _weights(new))


# -- safety: safe mode, no pickled code, hash-checked downloads ----------------------------

CONFIGURATIONS = {
    "bernoulli, estimator B": dict(likelihood="bernoulli", estimator="B"),
    "bernoulli, estimator A, L=3": dict(likelihood="bernoulli", estimator="A", num_samples=3),
    "gaussian, learned variance": dict(likelihood="gaussian", estimator="B"),
    "gaussian, fixed variance": dict(likelihood="gaussian", estimator="A", variance="fixed",
                                     decoder_log_var=-2.0),
}


def _h5_dtypes(h5_bytes, path):
    path.write_bytes(h5_bytes)
    dtypes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: dtypes.append(obj.dtype) if isinstance(obj, h5py.Dataset) else None)
    return dtypes


@pytest.mark.parametrize("config", list(CONFIGURATIONS))
def test_every_model_vaelib_saves_loads_in_safe_mode_with_no_code_in_the_file(config, tmp_path):
    """A trained VAE (with its optimizer state): config.json, metadata.json and numeric HDF5 only."""
    model = tiny_model(**CONFIGURATIONS[config])
    model.compile(optimizer="adam")
    x = random_bits(32, seed=0)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "vae.keras"
    saving.save_model(model, path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config_text = archive.read("config.json").decode()
        dtypes = _h5_dtypes(archive.read("model.weights.h5"), tmp_path / "weights.h5")
    json.loads(config_text)  # plain JSON
    assert "__lambda__" not in config_text and '"Lambda"' not in config_text
    assert dtypes and all(dtype.kind in "fiu" for dtype in dtypes), dtypes  # numbers, never objects
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, models.VAE)
    keys = ("likelihood", "estimator", "num_samples", "decoder_log_var", "seed")
    assert [restored.get_config()[k] for k in keys] == [model.get_config()[k] for k in keys]
    assert _same(restored.get_weights(), model.get_weights())
    # The noise stream continues where it was saved: the next draws of z are the same.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x[:4])["z"]),
                                  keras.ops.convert_to_numpy(model(x[:4])["z"]))


def _lambda_model(sentinel):
    """A model whose Lambda layer, if its stored bytecode ever runs, creates `sentinel`."""
    function = eval(f"lambda t: (open({str(sentinel)!r}, 'w').close(), t)[1]")  # noqa: S307
    return keras.Sequential([keras.Input((3,)), keras.layers.Lambda(function)])


def test_loading_never_runs_code_stored_in_a_file(tmp_path):
    """A .keras file with Python bytecode in it is refused before the code runs."""
    sentinel = tmp_path / "code_ran"
    path = tmp_path / "trojan.keras"
    _lambda_model(sentinel).save(path)  # saving calls the function once, at construction
    sentinel.unlink()
    with pytest.raises(ValueError, match=r"(?s)Expected a \.keras file that loads in safe mode.*Received"):
        saving.load_model(path)
    assert not sentinel.exists()
    # The control: loaded unsafely, the stored code does run.
    keras.saving.load_model(path, safe_mode=False)
    assert sentinel.exists()


def test_save_model_refuses_a_model_that_would_not_load_in_safe_mode(tmp_path):
    """save_model checks the written file in safe mode before it replaces anything."""
    sentinel = tmp_path / "code_ran"
    model = _lambda_model(sentinel)
    with pytest.raises(ValueError, match=r"(?s)Expected a model that loads back .* in safe mode.*Received.*"
                                         r"Lambda"):
        saving.save_model(model, tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code_ran"]  # written at construction only


def test_vaelib_never_unpickles_or_turns_safe_mode_off():
    """No pickle/marshal import, no allow_pickle=True, no safe_mode=False anywhere in vaelib."""
    for path in sorted((ROOT / "vaelib").glob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not {n.split(".")[0] for n in names} & {"pickle", "marshal", "dill", "cloudpickle",
                                                               "joblib", "shelve"}, path.name
            if isinstance(node, ast.keyword) and node.arg in ("allow_pickle", "safe_mode"):
                assert isinstance(node.value, ast.Constant), (path.name, node.arg)
                assert node.value.value is (node.arg == "safe_mode"), (path.name, node.arg)
        assert "enable_unsafe_deserialization" not in source, path.name


@pytest.fixture
def offline_keras_cache(tmp_path, monkeypatch):
    """No VAELIB_DATA_DIR and an empty Keras cache: the loaders take their download path."""
    monkeypatch.delenv("VAELIB_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "datasets"


def test_a_downloaded_mnist_is_hash_checked_by_keras_and_by_content(offline_keras_cache, monkeypatch):
    """Keras' mnist loader checks the file's SHA-256 (and loads it with allow_pickle=False); then
    vaelib checks the arrays' content hash: a tampered download never reaches the caller."""
    from keras.src.datasets import mnist as keras_mnist

    calls = []

    def fake_get_file(fname=None, origin=None, file_hash=None, **kwargs):
        calls.append(file_hash)
        offline_keras_cache.mkdir(parents=True, exist_ok=True)
        path = offline_keras_cache / "mnist.npz"
        rng = np.random.default_rng(0)
        np.savez(path, x_train=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
                 y_train=np.zeros(60000, np.uint8), x_test=np.zeros((10000, 28, 28), np.uint8),
                 y_test=np.zeros(10000, np.uint8))
        return str(path)

    monkeypatch.setattr(keras_mnist, "get_file", fake_get_file)
    with pytest.raises(ValueError, match=r"(?s)Expected .*train-images-idx3-ubyte from Keras' loader.*"
                                         r"Received: SHA-256"):
        data.load_mnist("none")
    assert len(calls) == 1 and len(calls[0]) == 64 and int(calls[0], 16) >= 0  # a SHA-256 was given


def test_a_tampered_frey_face_download_is_refused_before_it_is_returned(offline_keras_cache, monkeypatch):
    """The Frey Face file is checked by the SHA-256 of its content before load_frey_face returns."""
    downloads = []

    def fake_get_file(fname, origin, **kwargs):
        downloads.append(origin)
        offline_keras_cache.mkdir(parents=True, exist_ok=True)
        path = offline_keras_cache / fname
        ff = np.random.default_rng(0).integers(0, 256, (560, 1965), dtype=np.uint8)
        scipy.io.savemat(path, {"ff": ff})  # well-formed, other faces
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    with pytest.raises(ValueError, match=r"(?s)Expected .*frey_rawface\.mat to have content SHA-256 "
                                         + data.FREY_SHA256 + r".*Received: SHA-256"):
        data.load_frey_face()
    assert downloads == [data.FREY_URL]


def test_a_tampered_fashion_mnist_download_is_refused(offline_keras_cache, monkeypatch):
    """Keras downloads Fashion-MNIST without a hash; vaelib's content hash catches other data."""
    rng = np.random.default_rng(0)
    arrays = ((rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), np.zeros(60000, np.uint8)),
              (np.zeros((10000, 28, 28), np.uint8), np.zeros(10000, np.uint8)))
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: arrays)
    with pytest.raises(ValueError, match=r"(?s)Expected fashion-mnist train-images-idx3-ubyte from "
                                         r"Keras' loader to have content SHA-256.*Received"):
        data.load_fashion_mnist()
