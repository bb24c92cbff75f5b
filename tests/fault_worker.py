"""A process for tests/test_faults.py to kill: a short training run, or a save.

Run as a script (never collected by pytest):

    python tests/fault_worker.py train --backup DIR --out RESULT.npz --log LOG
        [--hang-at-epoch E --hang-at-batch B --marker FILE]

trains a tiny VAE (tests/tiny.py) for EPOCHS epochs with `keras.callbacks.BackupAndRestore`
and writes its final weights, noise-stream state and loss history to
RESULT.npz. With `--hang-at-*` it writes FILE after batch B of epoch E (both
0-based) and waits there to be killed, so that the kill lands mid-epoch at a
known step. Started again with the same DIR, it resumes from the last
completed epoch. LOG gets one line per epoch begun and ended.

    python tests/fault_worker.py save --path P --how atomic|naive --marker FILE

saves model "new" over the model at P (which the test wrote before) with
`vaelib.saving.save_model` (`atomic`) or with `model.save` (`naive`), and
stops in the middle of writing the archive: after its configuration, while
its weights are being written, it writes FILE and waits to be killed.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tiny import H, binary_data, tiny_model  # noqa: E402
from vaelib import saving  # noqa: E402

SEED = 3  # of the weights and the noise of the model "old" (the model "new": SEED + 1)
N = 192  # examples
EPOCHS, BATCH_SIZE = 4, 32  # 6 batches per epoch
HANG_SECONDS = 120  # never reached when the test kills the process


def training_data():
    """Binary vectors with structure: three prototypes with 10% of the bits flipped."""
    return binary_data(N, seed=SEED, num_prototypes=3, flip=0.1)


def wait_to_be_killed(marker):
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(HANG_SECONDS)
    os._exit(3)  # the test did not kill us: fail loudly


class Recorder(keras.callbacks.Callback):
    """Log epochs begun and ended; optionally hang after one batch of one epoch."""

    def __init__(self, log, hang_at=None, marker=None):
        super().__init__()
        self.log, self.hang_at, self.marker = log, hang_at, marker
        self.epoch = None

    def _write(self, line):
        with open(self.log, "a") as f:
            f.write(line + "\n")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._write(f"begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self._write(f"end {epoch} {float(logs['loss'])!r}")

    def on_train_batch_end(self, batch, logs=None):
        if self.hang_at == (self.epoch, batch):
            wait_to_be_killed(self.marker)


def train(args):
    model = tiny_model(seed=SEED)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    hang_at = None if args.hang_at_epoch is None else (args.hang_at_epoch, args.hang_at_batch)
    callbacks = [
        # double_checkpoint: a kill during the backup's own write falls back to the previous one.
        keras.callbacks.BackupAndRestore(args.backup, double_checkpoint=True),
        Recorder(args.log, hang_at, args.marker),
    ]
    # shuffle=False: Keras draws each epoch's batch order from a global random
    # state that the backup does not hold, so a resumed run would see other
    # batches. The data are in random order already.
    history = model.fit(training_data(), epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=False,
                        verbose=0, callbacks=callbacks)
    result = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    result["seed_state"] = keras.ops.convert_to_numpy(model.sampling.seed_generator.state)
    result["iterations"] = keras.ops.convert_to_numpy(model.optimizer.iterations)
    result["epochs_run"] = np.array(history.epoch)
    result["loss"] = np.array(history.history["loss"])
    np.savez(args.out, **result)


def save(args):
    model = tiny_model(seed=SEED + 1, hidden_units=H + 8)  # "new": other weights, other shapes
    original = keras.layers.Dense.save_own_variables

    def save_then_hang(layer, store):
        original(layer, store)
        wait_to_be_killed(args.marker)  # the archive is half written

    keras.layers.Dense.save_own_variables = save_then_hang
    if args.how == "atomic":
        saving.save_model(model, args.path)
    else:
        model.save(args.path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--backup", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--log", required=True)
    t.add_argument("--hang-at-epoch", type=int)
    t.add_argument("--hang-at-batch", type=int, default=0)
    t.add_argument("--marker")
    s = sub.add_parser("save")
    s.add_argument("--path", required=True)
    s.add_argument("--how", choices=["atomic", "naive"], required=True)
    s.add_argument("--marker", required=True)
    args = parser.parse_args(argv)
    train(args) if args.command == "train" else save(args)


if __name__ == "__main__":
    sys.exit(main())
