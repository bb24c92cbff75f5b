"""Fig. 2 of Kingma & Welling (2013): AEVB against wake-sleep, lower bound vs training samples.

The paper (§5) trains the same encoder and decoder with two algorithms, AEVB
(`vaelib.models.VAE`) and wake-sleep (`vaelib.wake_sleep.WakeSleep`), for
J ∈ {3, 5, 10, 20, 200} latent dimensions on MNIST and J ∈ {2, 5, 10, 20} on
Frey Face, and plots the variational lower bound per data point on the training
and the test set against the number of training samples evaluated. This script
repeats that with the paper's setup:

- one hidden layer of tanh units in encoder and decoder: 500 for MNIST, 200
  for Frey Face; a Bernoulli decoder for MNIST (Appendix C.1) and for Frey Face
  a Gaussian decoder "identical to the encoder, except that the means were
  constrained to the interval (0, 1) using a sigmoidal activation function";
- every parameter, weights and biases, initialized from N(0, 0.01²) (the
  paper's "N(0, 0.01)", read as a standard deviation of 0.01);
- Adagrad, global step size chosen from {0.01, 0.02, 0.1} by a short run
  (`select`), its steps those of Keras' Adagrad on the paper's summed objective
  (see `paper_adagrad`); minibatches of M = 100, L = 1 sample of z per data point;
- weight decay as the prior p(θ) = N(0, I) of the paper's MAP objective on all
  parameters (encoder and decoder): see `weight_decay_coefficient`.

What differs from the paper, and why:

- the budget: 10⁶ training samples per MNIST run and 2·10⁶ per Frey Face run
  on a shared 2-core CPU, where the paper goes to 10⁸ (about 20-40 minutes
  per million samples on its CPU);
- the data: MNIST binarized once with seed 0 (as in Chapter 4), all 60,000
  training images; Frey Face split 90/10 with seed 0 (the paper publishes no
  split), 1,769 training and 196 test images;
- the step size is chosen on a validation set held out from the training set
  (the paper used the training set); the test set is only ever evaluated;
- the bound is evaluated at log-spaced points on 5,000 fixed training images
  (MNIST; all 1,769 for Frey Face) and on the whole test set, with the SGVB
  estimate of estimator B (Eq. 7) and L = 1, as in `vaelib.evaluation.elbo`.

Usage, from the repository root (the results go to experiments/results/fig2/):

    KERAS_BACKEND=jax python experiments/fig2.py select --dataset frey
    KERAS_BACKEND=jax python experiments/fig2.py run --dataset frey --method aevb --latent-dim 2
    KERAS_BACKEND=jax python experiments/fig2.py all --dataset mnist   # select, then every run
    python experiments/fig2.py prefix      # the short reference run of the test, this backend

Add `--adagrad keras-default` to any of them for the ablation with Keras' default
Adagrad on the averaged loss (results in experiments/results/fig2/keras_default_adagrad/).

Each run writes one JSON file when it finishes, with the curve, the
configuration, seed, command, versions, machine, backend and wall times.
"""

import argparse
import json
import os
import pathlib
import sys
import time

if __name__ == "__main__":  # run as a script: JAX, the backend of the saved runs
    os.environ.setdefault("KERAS_BACKEND", "jax")  # (imported by a test: its backend is kept)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root
from experiments.common import provenance, write_json  # noqa: E402
from vaelib import data, evaluation, models  # noqa: E402
from vaelib.wake_sleep import WakeSleep  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "fig2"
# Which Adagrad (see `paper_adagrad`); `--adagrad keras-default` reruns the ablation whose
# results live in results/fig2/keras_default_adagrad/.
ADAGRAD_VARIANTS = ("paper-scale", "keras-default")
ADAGRAD = "paper-scale"

# The paper's setup (§5).
BATCH_SIZE = 100  # M
NUM_SAMPLES = 1  # L
INIT_STDDEV = 0.01  # "initialized by random sampling from N(0, 0.01)"
STEP_SIZES = (0.01, 0.02, 0.1)  # Adagrad global step sizes
SEED = 1

DATASETS = {
    "mnist": {
        "hidden_units": 500,
        "latent_dims": (3, 5, 10, 20, 200),
        "likelihood": "bernoulli",
        "total_samples": 1_000_000,
        "train_eval_size": 5000,
        "validation_size": 10_000,
        "selection_latent_dim": 10,
        "selection_samples": 200_000,
    },
    "frey": {
        "hidden_units": 200,
        "latent_dims": (2, 5, 10, 20),
        "likelihood": "gaussian",
        "total_samples": 2_000_000,
        "train_eval_size": None,  # all training images
        "validation_size": 177,  # 10% of the 1,769 training images
        "selection_latent_dim": 10,
        "selection_samples": 400_000,
    },
}
METHODS = ("aevb", "wake_sleep")
STEPS_PER_EXECUTION = 50
CHUNK = BATCH_SIZE * STEPS_PER_EXECUTION  # every evaluation point is a multiple of this
MAX_FIT_SAMPLES = 60_000  # examples handed to one fit() call

# The test's short reference run (tests/test_experiment_fig2.py).
PREFIX = {"dataset": "frey", "method": "aevb", "latent_dim": 2, "eval_points": (0, 5000, 10_000)}


# -- data -----------------------------------------------------------------------------


def load_data(dataset):
    """Return `(x_train, x_test)` as float32 arrays of shape (n, D).

    MNIST: the 60,000 training and 10,000 test digits, binarized once with
    seed 0 (Chapter 4's data). Frey Face: the 1,965 faces in [0, 1], 90/10
    split with seed 0.
    """
    if dataset == "mnist":
        (x_train, _), (x_test, _) = data.load_mnist(binarization="static", seed=0)
    elif dataset == "frey":
        x_train, x_test = data.load_frey_face(test_size=0.1, seed=0)
    else:
        raise ValueError(f"Expected dataset 'mnist' or 'frey'. Received: {dataset!r}")
    return x_train, x_test


class MinibatchStream:
    """An endless stream of training examples: one fresh permutation per epoch.

    `take(n)` returns the next n examples, crossing epoch boundaries, so that
    training can stop at any number of samples (the x-axis of Fig. 2).
    """

    def __init__(self, x, seed):
        self.x = x
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))
        self.position = 0

    def take(self, n):
        parts = []
        while n > 0:
            if self.position == len(self.order):
                self.order, self.position = self.rng.permutation(len(self.x)), 0
            k = min(n, len(self.order) - self.position)
            parts.append(self.order[self.position:self.position + k])
            self.position += k
            n -= k
        return self.x[np.concatenate(parts)]


# -- the model --------------------------------------------------------------------------


def weight_decay_coefficient(num_train):
    """The L2 coefficient that makes weight decay the paper's prior p(θ) = N(0, I).

    The paper maximizes the MAP objective Σ_i L(θ, φ; x⁽ⁱ⁾) + log p(θ) over the
    N training points, estimated on a minibatch of M as
    (N/M) Σ_{i∈batch} L(θ, φ; x⁽ⁱ⁾) + log p(θ). vaelib's loss is the negative
    bound *averaged* over the minibatch, i.e. that objective divided by -N:

        -(1/M) Σ_{i∈batch} L(θ, φ; x⁽ⁱ⁾) - (1/N) log p(θ)
        = -(1/M) Σ_{i∈batch} L(θ, φ; x⁽ⁱ⁾) + (1/(2N)) ‖θ‖² + const,

    since log N(θ; 0, I) = -½ ‖θ‖² + const. A Keras `L2(c)` regularizer adds
    c · Σ θ², so c = 1/(2N).
    """
    return 1.0 / (2.0 * num_train)


def build_model(dataset, method, latent_dim, num_train, seed=SEED):
    """Build the paper's encoder and decoder, initialized and regularized as in §5.

    Every weight and bias is drawn from N(0, 0.01²) with a NumPy generator
    seeded by `seed` (the same initial values on every backend) and gets the
    L2 penalty `weight_decay_coefficient(num_train)`.

    Returns:
        A `vaelib.models.VAE` (`method="aevb"`) or `vaelib.wake_sleep.WakeSleep`
        (`method="wake_sleep"`), not compiled.
    """
    config = DATASETS[dataset]
    input_dim = 784 if dataset == "mnist" else 560
    encoder = models.build_encoder(input_dim, config["hidden_units"], latent_dim)
    if config["likelihood"] == "bernoulli":
        decoder = models.build_decoder(latent_dim, config["hidden_units"], input_dim)
    else:  # §5: "the means were constrained to the interval (0, 1) using a sigmoidal activation"
        decoder = models.build_decoder(latent_dim, config["hidden_units"], input_dim,
                                       likelihood="gaussian", mean_activation="sigmoid")
    rng = np.random.default_rng(seed)
    decay = keras.regularizers.L2(weight_decay_coefficient(num_train))
    for network in (encoder, decoder):
        for variable in network.trainable_weights:
            variable.assign(rng.normal(0.0, INIT_STDDEV, variable.shape).astype("float32"))
            variable.regularizer = decay  # picked up by model.losses
    cls = {"aevb": models.VAE, "wake_sleep": WakeSleep}[method]
    return cls(encoder, decoder, likelihood=config["likelihood"], num_samples=NUM_SAMPLES,
               seed=seed)


def paper_adagrad(step_size, num_train):
    """Adagrad that takes the paper's steps although vaelib's loss is averaged over examples.

    The paper differentiates the summed objective, N times vaelib's loss (see
    `weight_decay_coefficient`). Adagrad divides each gradient by the root of
    its accumulated squares, so a constant factor cancels, except in the
    accumulator's initial value a₀ and the ε added to the root: scaling the
    loss by N is the same as keeping the loss and using a₀/N² and ε/N. With
    Keras' defaults (a₀ = 0.1, ε = 1e-7) on the averaged loss the accumulator
    would start N² times too large, and the first thousands of steps would
    be damped (measured: a bound about 15 nats lower after 10⁵ MNIST samples, J = 10).
    """
    return keras.optimizers.Adagrad(learning_rate=step_size,
                                    initial_accumulator_value=0.1 / num_train**2,
                                    epsilon=1e-7 / num_train)


def compile_model(model, step_size, num_train):
    """Compile with `paper_adagrad` (or, for the ablation, Keras' default Adagrad).

    Several steps run per compiled call, except on PyTorch, which allows one.
    """
    steps = 1 if keras.backend.backend() == "torch" else STEPS_PER_EXECUTION
    if ADAGRAD == "paper-scale":
        optimizer = paper_adagrad(step_size, num_train)
    else:  # a0 = 0.1 and epsilon = 1e-7 on the averaged loss
        optimizer = keras.optimizers.Adagrad(learning_rate=step_size)
    model.compile(optimizer=optimizer, steps_per_execution=steps)
    return model


def results_dir():
    """results/fig2/, or its keras_default_adagrad/ folder for the ablation."""
    return RESULTS if ADAGRAD == "paper-scale" else RESULTS / "keras_default_adagrad"


def optimizer_description():
    if ADAGRAD == "paper-scale":
        return ("Adagrad, initial_accumulator_value=0.1/N^2, epsilon=1e-7/N "
                "(Keras' defaults on the paper's summed objective)")
    return "Adagrad, Keras' defaults (initial_accumulator_value=0.1, epsilon=1e-7) on the averaged loss"


def lower_bound(model, x):
    """Average SGVB estimate of the lower bound per data point (estimator B, L = 1)."""
    return float(np.mean(evaluation.elbo(model, x, num_samples=1, seed=0)))


def eval_points(total_samples, first=10_000, num=14):
    """0, then `num` log-spaced sample counts up to `total_samples`, multiples of CHUNK."""
    points = np.geomspace(first, total_samples, num)
    points = sorted({int(round(p / CHUNK)) * CHUNK for p in points})
    return [0] + points


# -- training -------------------------------------------------------------------------


def train(dataset, method, latent_dim, step_size, points, x_train, x_eval, seed=SEED,
          log=None):
    """Train one model and record the lower bound at each number of samples in `points`.

    Args:
        dataset, method, latent_dim: which model (see `build_model`).
        step_size: Adagrad's global step size.
        points: increasing numbers of training samples (multiples of CHUNK) at
            which the model is evaluated; the last one ends training.
        x_train: the training set (all of it is trained on).
        x_eval: dict name -> array of the sets to evaluate (e.g. train, test).
        seed: seed of the initialization, the noise and the minibatch order.
        log: optional callable taking a line of progress text.

    Returns:
        dict with `samples` and one list of bounds per name of `x_eval`, the
        mean training loss of each segment (`train_loss`), `diverged`
        (True if the loss became NaN, which ends the run), and timings.
    """
    keras.utils.set_random_seed(seed)
    model = compile_model(build_model(dataset, method, latent_dim, len(x_train), seed), step_size,
                          len(x_train))
    stream = MinibatchStream(x_train, seed)
    curve = {"samples": [], **{name: [] for name in x_eval}, "train_loss": []}
    done, train_seconds, eval_seconds, diverged = 0, 0.0, 0.0, False
    for point in points:
        start, losses = time.perf_counter(), []
        while done < point:
            n = min(point - done, MAX_FIT_SAMPLES)
            history = model.fit(stream.take(n), batch_size=BATCH_SIZE, epochs=1, shuffle=False,
                                verbose=0)
            losses.append((n, history.history["loss"][-1]))
            done += n
        train_seconds += time.perf_counter() - start
        mean_loss = sum(n * v for n, v in losses) / max(1, sum(n for n, _ in losses))
        if not np.isfinite(mean_loss):
            diverged = True
            break
        start = time.perf_counter()
        bounds = {name: lower_bound(model, x) for name, x in x_eval.items()}
        eval_seconds += time.perf_counter() - start
        if not all(np.isfinite(v) for v in bounds.values()):
            diverged = True
            break
        curve["samples"].append(point)
        for name, value in bounds.items():
            curve[name].append(value)
        curve["train_loss"].append(mean_loss if losses else None)
        if log:
            log(f"  {dataset} {method} J={latent_dim} lr={step_size}: {point:>9,} samples "
                + " ".join(f"{k} {v:8.2f}" for k, v in bounds.items())
                + f"  ({train_seconds:.0f} s)")
    curve.update(diverged=diverged, train_seconds=round(train_seconds, 1),
                 eval_seconds=round(eval_seconds, 1))
    return curve


def train_eval_subset(dataset, x_train):
    size = DATASETS[dataset]["train_eval_size"]
    if size is None or size >= len(x_train):
        return x_train
    index = np.random.default_rng(12345).choice(len(x_train), size, replace=False)
    return x_train[np.sort(index)]


# -- records ----------------------------------------------------------------------------


def run_path(dataset, method, latent_dim):
    return results_dir() / f"{dataset}_{method}_J{latent_dim}.json"


def selection_path(dataset, method):
    return results_dir() / f"step_size_{dataset}_{method}.json"


def print_flush(line):
    print(line, flush=True)


# -- the three commands -------------------------------------------------------------------


def select(dataset, method, seed=SEED):
    """Choose Adagrad's step size from {0.01, 0.02, 0.1} on held-out training data.

    Trains at `selection_latent_dim` for `selection_samples` samples on the
    training set minus its last `validation_size` images, and picks the step
    size with the highest lower bound on those held-out images. The test set
    is not used.
    """
    config = DATASETS[dataset]
    x_train, _ = load_data(dataset)
    n_val = config["validation_size"]
    x_fit, x_val = x_train[:-n_val], x_train[-n_val:]
    started = time.perf_counter()
    trials = []
    for step_size in STEP_SIZES:
        curve = train(dataset, method, config["selection_latent_dim"], step_size,
                      [config["selection_samples"]], x_fit, {"validation": x_val}, seed,
                      log=print_flush)
        value = curve["validation"][-1] if curve["validation"] else None
        trials.append({"step_size": step_size, "validation_bound": value,
                       "diverged": curve["diverged"], "train_seconds": curve["train_seconds"]})
    finite = [t for t in trials if t["validation_bound"] is not None and not t["diverged"]]
    best = max(finite, key=lambda t: t["validation_bound"])["step_size"]
    record = {
        "dataset": dataset, "method": method, "step_size": best, "trials": trials,
        "latent_dim": config["selection_latent_dim"], "samples": config["selection_samples"],
        "training_images": len(x_fit), "validation_images": len(x_val), "seed": seed,
        "optimizer": optimizer_description(),
        "wall_seconds": round(time.perf_counter() - started, 1), **provenance(),
    }
    write_json(selection_path(dataset, method), record)
    print_flush(f"{dataset} {method}: step size {best}")
    return best


def run(dataset, method, latent_dim, total_samples=None, seed=SEED):
    """Train one model of Fig. 2 and write its curve to results/fig2/."""
    config = DATASETS[dataset]
    total_samples = total_samples or config["total_samples"]
    step_size = json.loads(selection_path(dataset, method).read_text())["step_size"]
    x_train, x_test = load_data(dataset)
    started = time.perf_counter()
    points = eval_points(total_samples)
    curve = train(dataset, method, latent_dim, step_size, points, x_train,
                  {"train_bound": train_eval_subset(dataset, x_train), "test_bound": x_test},
                  seed, log=print_flush)
    record = {
        "dataset": dataset, "method": method, "latent_dim": latent_dim,
        "step_size": step_size, "seed": seed, "total_samples": total_samples,
        "curve": {k: curve[k] for k in ("samples", "train_bound", "test_bound", "train_loss")},
        "diverged": curve["diverged"],
        "config": {
            "hidden_units": config["hidden_units"], "likelihood": config["likelihood"],
            "batch_size": BATCH_SIZE, "num_samples_L": NUM_SAMPLES, "init_stddev": INIT_STDDEV,
            "optimizer": optimizer_description(),
            "weight_decay_l2": weight_decay_coefficient(len(x_train)),
            "training_images": len(x_train), "test_images": len(x_test),
            "train_bound_images": len(train_eval_subset(dataset, x_train)),
            "bound_estimator": "SGVB estimator B (Eq. 7), L = 1, vaelib.evaluation.elbo(seed=0)",
            "steps_per_execution": STEPS_PER_EXECUTION,
        },
        "train_seconds": curve["train_seconds"], "eval_seconds": curve["eval_seconds"],
        "wall_seconds": round(time.perf_counter() - started, 1), **provenance(),
    }
    write_json(run_path(dataset, method, latent_dim), record)
    return record


def prefix_run(dataset=PREFIX["dataset"], method=PREFIX["method"],
               latent_dim=PREFIX["latent_dim"], points=PREFIX["eval_points"], seed=SEED):
    """The first `points` of a run, as the test re-runs it: returns the curve dict."""
    step_size = json.loads(selection_path(dataset, method).read_text())["step_size"]
    x_train, x_test = load_data(dataset)
    return train(dataset, method, latent_dim, step_size, list(points), x_train,
                 {"train_bound": train_eval_subset(dataset, x_train), "test_bound": x_test}, seed)


def record_prefix():
    """Add this backend's prefix run to results/fig2/prefix.json (the test's reference)."""
    path = results_dir() / "prefix.json"
    record = json.loads(path.read_text()) if path.exists() else {**PREFIX, "backends": {}}
    started = time.perf_counter()
    curve = prefix_run()
    info = provenance()
    record["backends"][info["backend"]] = {
        "samples": curve["samples"], "train_bound": curve["train_bound"],
        "test_bound": curve["test_bound"], "wall_seconds": round(time.perf_counter() - started, 1),
        **info,
    }
    write_json(path, record)
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["select", "run", "all", "prefix"])
    parser.add_argument("--dataset", choices=sorted(DATASETS))
    parser.add_argument("--method", choices=METHODS)
    parser.add_argument("--latent-dim", type=int)
    parser.add_argument("--samples", type=int, help="training samples (default: the budget)")
    parser.add_argument("--adagrad", choices=ADAGRAD_VARIANTS, default="paper-scale",
                        help="Adagrad's scaling (see paper_adagrad); keras-default is an ablation")
    args = parser.parse_args(argv)
    global ADAGRAD
    ADAGRAD = args.adagrad
    print_flush(f"backend {keras.backend.backend()}")
    if args.command == "prefix":
        record_prefix()
        return
    methods = [args.method] if args.method else list(METHODS)
    if args.command == "select":
        for method in methods:
            select(args.dataset, method)
    elif args.command == "run":
        run(args.dataset, args.method, args.latent_dim, args.samples)
    else:  # all: select the step sizes, then every J, AEVB and wake-sleep in turn
        for method in methods:
            if not selection_path(args.dataset, method).exists():
                select(args.dataset, method)
        for latent_dim in DATASETS[args.dataset]["latent_dims"]:
            for method in methods:
                if run_path(args.dataset, method, latent_dim).exists():
                    continue  # done in an earlier invocation
                run(args.dataset, method, latent_dim, args.samples)


if __name__ == "__main__":
    main()
