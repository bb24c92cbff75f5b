"""Chapter 4's MNIST VAE, trained once and measured by importance sampling (Chapter 7).

Chapter 4 trains the paper's MNIST model in two minutes and reports its test ELBO.
Chapter 7 asks how far that lower bound is from the model's log-likelihood, and the
answer needs k = 5000 importance samples for each of the 10,000 test digits: about
ten minutes on an idle 2-core CPU, too long for a chapter. This script does the
heavy part once and writes small files that the chapter loads:

- `results/chapter04_model.keras`: the trained model (weights only, no optimizer
  state), which `keras.models.load_model` rebuilds in safe mode on any backend;
- `results/chapter04_model.json`: the recipe, the training curves, the test ELBO,
  the importance-sampled test log-likelihood (k = 5000), and the command, seeds,
  versions, machine and wall times that produced them;
- a *prefix* of the training run (the running mean of the loss after the first
  50 and 100 steps of the first epoch), saved per Keras backend, which
  `tests/test_experiment_chapter04.py` re-runs and compares.

The recipe is Chapter 4's, line for line: a 784-500-20 tanh MLP encoder and
decoder with a Bernoulli decoder (paper Appendix C.1), estimator B (Eq. 7) with
L = 1, Adam with learning rate 1e-3, minibatches of 100, 30 epochs on the first
50,000 training digits (the last 10,000 are the validation set), MNIST statically
binarized with seed 0, and `keras.utils.set_random_seed(1312)`.

Usage, from the repository root:

    python experiments/chapter04_model.py             # train, save, evaluate (TensorFlow)
    KERAS_BACKEND=jax python experiments/chapter04_model.py --prefix-only
    KERAS_BACKEND=torch python experiments/chapter04_model.py --prefix-only

`--prefix-only` trains only the first 100 steps and adds this backend's prefix to
the existing result file (the test compares each backend with its own record:
the random initialization differs from one backend to another).
"""

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no timestamped start-up logs
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the same digits on every x86 CPU

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root
from experiments import common  # noqa: E402  the builder and the record of a run
from vaelib import data, evaluation  # noqa: E402

RESULT_FILE = common.RESULTS / "chapter04_model.json"
MODEL_FILE = common.RESULTS / "chapter04_model.keras"

# Chapter 4's recipe (chapters/04_training_a_vae.ipynb).
RECIPE = {
    "global_seed": 1312,  # keras.utils.set_random_seed: weight initialization, shuffling
    "data_seed": 0,  # data.load_mnist(binarization="static", seed=0)
    "sampling_seed": 1,  # VAE(seed=1): the noise epsilon of the reparameterization
    "input_dim": 784,
    "hidden_units": 500,
    "latent_dim": 20,
    "activation": "tanh",
    "likelihood": "bernoulli",
    "estimator": "B",
    "num_samples": 1,
    "train_size": 50_000,  # the first 50,000 training digits; the last 10,000 validate
    "optimizer": "Adam",
    "learning_rate": 1e-3,
    "batch_size": 100,
    "epochs": 30,
    "steps_per_execution": 50,
    "jit_compile": False,
}
# How the trained model is measured.
EVALUATION = {
    "elbo_num_samples": 1,  # L for the test ELBO, as in Chapter 4
    "elbo_seed": 0,
    "importance_samples": 5000,  # k, as in Burda et al. (2016) and Kingma & Welling (2019)
    "importance_seed": 0,
    "subset_size": 500,  # the first 500 test digits: what Chapter 7 recomputes
    "train_subset_size": 1000,  # training digits measured the same way, for overfitting
}
PREFIX_STEPS = (50, 100)  # training steps after which the running loss is recorded


def load_data():
    """Chapter 4's split: 50,000 training, 10,000 validation and 10,000 test digits.

    Returns:
        `(x_train, x_val, x_test)`, float32 arrays of 0s and 1s, 784 pixels each.
    """
    (x_train_all, _), (x_test, _) = data.load_mnist(binarization="static", seed=RECIPE["data_seed"])
    n = RECIPE["train_size"]
    return x_train_all[:n], x_train_all[n:], x_test


def build_model():
    """Seed Keras and build Chapter 4's VAE, compiled with its optimizer."""
    vae = common.build_mlp_vae(RECIPE)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=RECIPE["learning_rate"]),
                jit_compile=RECIPE["jit_compile"], steps_per_execution=steps_per_execution())
    return vae


def steps_per_execution():
    """The recipe's 50 training steps per call into the compiled function, or 1 on PyTorch.

    Keras' PyTorch trainer accepts only 1. The setting changes how often Python is
    called back, not the arithmetic of the training steps.
    """
    return 1 if keras.backend.backend() == "torch" else RECIPE["steps_per_execution"]


class PrefixRecorder(keras.callbacks.Callback):
    """Record the running mean of the training loss after given steps of the first epoch.

    With `steps_per_execution=50`, Keras calls batch callbacks every 50 steps (with
    1, after every step), with the mean loss of the epoch so far. If `stop_after` is
    set, training stops once that many steps are done.
    """

    def __init__(self, steps=PREFIX_STEPS, stop_after=None):
        super().__init__()
        self.steps, self.stop_after, self.loss_at_step = tuple(steps), stop_after, {}
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = batch + 1  # Keras passes the index of the last batch of the execution
        if self._epoch == 0 and step in self.steps:
            self.loss_at_step[str(step)] = float(logs["loss"])
        if self.stop_after is not None and step >= self.stop_after:
            self.model.stop_training = True


def train(x_train, x_val=None, epochs=RECIPE["epochs"], stop_after=None):
    """Build Chapter 4's VAE and train it with its recipe.

    Args:
        x_train: training digits, shape `(50000, 784)`.
        x_val: validation digits, or `None` (no validation pass).
        epochs: passes over `x_train`.
        stop_after: stop the first epoch after this many steps (the prefix).

    Returns:
        `(vae, history, loss_at_step)`: the trained model, Keras' per-epoch
        history, and the running training loss after each of `PREFIX_STEPS`.
    """
    vae = build_model()
    recorder = PrefixRecorder(stop_after=stop_after)
    history = vae.fit(x_train, epochs=epochs, batch_size=RECIPE["batch_size"],
                      validation_data=None if x_val is None else (x_val,),
                      callbacks=[recorder], verbose=0)
    return vae, history.history, recorder.loss_at_step


def run_prefix(x_train=None, steps=max(PREFIX_STEPS)):
    """Re-run the first `steps` training steps; return the running loss after each of
    `PREFIX_STEPS` reached (after 50 and 100 steps by default)."""
    if x_train is None:
        x_train = load_data()[0]
    _, _, loss_at_step = train(x_train, epochs=1, stop_after=steps)
    return loss_at_step


def full_run():
    """Train, save, evaluate; write the model and the result file."""
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    result = {
        "experiment": "chapter04_model",
        "description": "Chapter 4's MNIST VAE (784-500-20 tanh MLPs, Bernoulli decoder, estimator B), "
                       "trained with Chapter 4's recipe; its test ELBO and importance-sampled "
                       "test log-likelihood (nats per digit).",
        "command": common.command(),
        "started_utc": started.isoformat(timespec="seconds"),
        "git_commit": common.git_commit(),
        "recipe": RECIPE,
        "evaluation": EVALUATION,
        "versions": common.versions(),
        "machine_at_start": common.machine(),
    }
    x_train, x_val, x_test = load_data()
    common.log(f"training on {keras.backend.backend()} for {RECIPE['epochs']} epochs")
    tick = time.perf_counter()
    vae, history, loss_at_step = train(x_train, x_val)
    training_s = time.perf_counter() - tick
    common.log(f"trained in {training_s:.0f} s; last validation loss {history['val_loss'][-1]:.2f}")
    result["history"] = {name: [float(v) for v in values] for name, values in history.items()}

    common.RESULTS.mkdir(exist_ok=True)
    saved = common.save_weights_only(vae, MODEL_FILE)
    restored = keras.models.load_model(MODEL_FILE, safe_mode=True)
    for model in (saved, restored):  # the file holds exactly the trained weights
        assert all(np.array_equal(a, b) for a, b in zip(vae.get_weights(), model.get_weights()))
    result["model_file"] = {"path": str(MODEL_FILE.relative_to(common.ROOT)), "bytes": MODEL_FILE.stat().st_size,
                            "sha256": common.sha256(MODEL_FILE)}

    tick = time.perf_counter()
    elbo = evaluation.elbo(restored, x_test, num_samples=EVALUATION["elbo_num_samples"],
                           seed=EVALUATION["elbo_seed"])
    elbo_s = time.perf_counter() - tick
    common.log(f"test ELBO {elbo.mean():.2f} in {elbo_s:.1f} s; importance sampling with k = "
        f"{EVALUATION['importance_samples']} next")
    tick = time.perf_counter()
    log_px = evaluation.log_likelihood(restored, x_test, num_samples=EVALUATION["importance_samples"],
                                       seed=EVALUATION["importance_seed"])
    log_px_s = time.perf_counter() - tick
    common.log(f"test log p(x) {log_px.mean():.2f} in {log_px_s:.0f} s")
    n = EVALUATION["subset_size"]
    result["test"] = {
        "digits": len(x_test),
        "elbo": common.mean_and_se(elbo),
        "log_likelihood_k5000": common.mean_and_se(log_px),
        "nll_k5000": float(-log_px.mean()),
        "gap_log_likelihood_minus_elbo": common.mean_and_se(log_px - elbo),
        f"first_{n}_log_likelihood_k5000": common.mean_and_se(log_px[:n]),
        # Per-digit values of the first 10 digits, for tests that recompute a few.
        "first_10_elbo": [float(v) for v in elbo[:10]],
        "first_10_log_likelihood_k5000": [float(v) for v in log_px[:10]],
    }

    # The same measurements on digits the model was trained on: how much it overfits.
    m = EVALUATION["train_subset_size"]
    tick = time.perf_counter()
    train_elbo = evaluation.elbo(restored, x_train[:m], num_samples=EVALUATION["elbo_num_samples"],
                                 seed=EVALUATION["elbo_seed"])
    train_log_px = evaluation.log_likelihood(restored, x_train[:m], num_samples=EVALUATION["importance_samples"],
                                             seed=EVALUATION["importance_seed"])
    train_s = time.perf_counter() - tick
    common.log(f"first {m} training digits: ELBO {train_elbo.mean():.2f}, log p(x) {train_log_px.mean():.2f}")
    result["train_subset"] = {
        "digits": m, "which": f"the first {m} of the 50,000 training digits",
        "elbo": common.mean_and_se(train_elbo),
        "log_likelihood_k5000": common.mean_and_se(train_log_px),
        f"test_first_{m}_log_likelihood_k5000": common.mean_and_se(log_px[:m]),
    }
    result["prefix"] = {"steps": list(PREFIX_STEPS), "by_backend": {keras.backend.backend(): {
        "loss_at_step": loss_at_step, "command": result["command"], "versions": result["versions"],
        "source": "the first epoch of the full run"}}}
    result["wall_time_s"] = {"training": round(training_s, 1), "test_elbo": round(elbo_s, 1),
                             "test_log_likelihood_k5000": round(log_px_s, 1),
                             "train_subset_elbo_and_log_likelihood": round(train_s, 1),
                             "total": round(time.perf_counter() - start, 1)}
    result["machine_at_end"] = common.machine()
    RESULT_FILE.write_text(json.dumps(result, indent=1) + "\n")
    common.log(f"wrote {RESULT_FILE.relative_to(common.ROOT)} and {MODEL_FILE.relative_to(common.ROOT)} "
        f"({MODEL_FILE.stat().st_size / 2**20:.1f} MiB)")


def prefix_only():
    """Record this backend's training prefix in the existing result file."""
    result = json.loads(RESULT_FILE.read_text())
    tick = time.perf_counter()
    loss_at_step = run_prefix()
    record = {"loss_at_step": loss_at_step, "steps_per_execution": steps_per_execution(),
              "command": common.command(), "versions": common.versions(),
              "machine": common.machine(), "wall_time_s": round(time.perf_counter() - tick, 1),
              "source": "--prefix-only"}
    result["prefix"]["by_backend"][keras.backend.backend()] = record
    RESULT_FILE.write_text(json.dumps(result, indent=1) + "\n")
    common.log(f"{keras.backend.backend()}: loss after steps {loss_at_step}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix-only", action="store_true",
                        help="train only the first 100 steps and record them for this backend")
    args = parser.parse_args(argv)
    prefix_only() if args.prefix_only else full_run()


if __name__ == "__main__":
    main()
