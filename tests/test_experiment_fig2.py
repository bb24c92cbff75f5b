"""experiments/fig2.py: its saved results are complete, and a short prefix of a run reproduces.

`python experiments/fig2.py prefix`, run once under each Keras backend, saved the
first 10,000 training samples of the Frey Face J = 2 AEVB run (the lower bound
after 0, 5,000 and 10,000 samples) in results/fig2/prefix.json (and, with
`--adagrad keras-default`, in the ablation's folder). The test re-runs
that prefix with the script's own functions and compares it with the record of
the backend it runs under: each backend has its own random streams for the
noise ε, so the curves of different backends agree only statistically, while a
re-run on the same backend repeats the same arithmetic. The full runs were made
with one backend (JAX); their first points are compared with that backend's
prefix, so the committed curves are shown to come from this code.
"""

import contextlib
import json
import pathlib
import sys

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import fig2  # noqa: E402

VARIANTS = fig2.ADAGRAD_VARIANTS  # the main results and the Adagrad ablation
# A re-run on the same backend and machine repeats the saved numbers to about
# 1e-3 nats; another CPU may order float additions differently, and 100 steps of
# training can amplify that. 0.5 nats is 0.1% of the bounds compared (about 500).
SAME_BACKEND_TOLERANCE = 0.5
# The first 50 steps (5,000 samples) repeat to 0.5 nats on other CPUs too; after them the Frey Face
# run amplifies those last-digit differences: the JAX prefix, identical to the full run
# on the machine that made it, re-ran here to 2e-3 nats at 5,000 samples but 19 nats lower at
# 10,000. So later points are compared with a wide tolerance, still far below the 100+ nats that
# training gains (checked below).
EARLY_SAMPLES = 5000
LATE_TOLERANCE = 40.0
# Before training the decoder is nearly constant (all weights ~ N(0, 0.01²), the
# same values on every backend), so the bound barely depends on ε.
INITIAL_BOUND_TOLERANCE = 0.5


@contextlib.contextmanager
def _one_torch_thread():
    """Run PyTorch on one thread: 100 tiny steps are dominated by thread hand-offs on a
    busy 2-core machine (measured: 2 s of training instead of 97 s, the same numbers)."""
    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(params=VARIANTS)
def variant(request, monkeypatch):
    """Point fig2 at one set of results: the main runs or the Adagrad ablation."""
    monkeypatch.setattr(fig2, "ADAGRAD", request.param)
    return request.param


def _runs():
    for dataset, config in fig2.DATASETS.items():
        for method in fig2.METHODS:
            for latent_dim in config["latent_dims"]:
                yield dataset, method, latent_dim


def test_prefix_of_a_run_reproduces_the_saved_one(variant):
    record = json.loads((fig2.results_dir() / "prefix.json").read_text())
    backend = keras.backend.backend()
    if backend not in record["backends"]:
        pytest.skip(f"no saved prefix for the {backend} backend "
                    f"(run `KERAS_BACKEND={backend} python experiments/fig2.py prefix "
                    f"--adagrad {variant}`)")
    saved = record["backends"][backend]
    with _one_torch_thread():
        curve = fig2.prefix_run()
    assert curve["samples"] == saved["samples"] == list(fig2.PREFIX["eval_points"])
    early = [i for i, s in enumerate(curve["samples"]) if s <= EARLY_SAMPLES]
    late = [i for i, s in enumerate(curve["samples"]) if s > EARLY_SAMPLES]
    for key in ("train_bound", "test_bound"):
        got, want = np.asarray(curve[key]), np.asarray(saved[key])
        np.testing.assert_allclose(got[early], want[early], rtol=0, atol=SAME_BACKEND_TOLERANCE)
        np.testing.assert_allclose(got[late], want[late], rtol=0, atol=LATE_TOLERANCE)
    # Training moved the bound far from its initial value, so the comparison is not vacuous.
    assert curve["test_bound"][-1] > curve["test_bound"][0] + 100
    # The untrained model's bound agrees across backends.
    for other in record["backends"].values():
        assert abs(other["test_bound"][0] - curve["test_bound"][0]) < INITIAL_BOUND_TOLERANCE


def test_committed_run_starts_with_the_prefix_of_its_backend(variant):
    run = json.loads(fig2.run_path(fig2.PREFIX["dataset"], fig2.PREFIX["method"],
                                   fig2.PREFIX["latent_dim"]).read_text())
    saved = json.loads((fig2.results_dir() / "prefix.json").read_text())["backends"][run["backend"]]
    common = [s for s in saved["samples"] if s in run["curve"]["samples"]]
    assert len(common) >= 2  # the untrained model and at least one trained point
    for s in common:
        i, j = run["curve"]["samples"].index(s), saved["samples"].index(s)
        for key in ("train_bound", "test_bound"):
            assert abs(run["curve"][key][i] - saved[key][j]) < SAME_BACKEND_TOLERANCE, (s, key)


@pytest.mark.parametrize("dataset, method, latent_dim", list(_runs()))
def test_result_file_is_complete_and_self_describing(variant, dataset, method, latent_dim):
    run = json.loads(fig2.run_path(dataset, method, latent_dim).read_text())
    selection = json.loads(fig2.selection_path(dataset, method).read_text())
    assert (run["dataset"], run["method"], run["latent_dim"]) == (dataset, method, latent_dim)
    assert run["step_size"] == selection["step_size"] in fig2.STEP_SIZES
    for key in ("command", "seed", "versions", "backend", "machine", "wall_seconds"):
        assert run[key] is not None, key
    assert run["versions"]["keras"] and run["versions"][run["backend"]]
    assert ("0.1/N^2" in run["config"]["optimizer"]) == (variant == "paper-scale")
    curve = run["curve"]
    assert curve["samples"] == fig2.eval_points(run["total_samples"])  # it ran to the end
    assert not run["diverged"]
    assert len(curve["train_bound"]) == len(curve["test_bound"]) == len(curve["samples"])
    assert np.all(np.isfinite(curve["train_bound"])) and np.all(np.isfinite(curve["test_bound"]))
    # Weight decay is the N(0, I) prior, scaled per training example: 1 / (2N).
    assert run["config"]["weight_decay_l2"] == 1 / (2 * run["config"]["training_images"])


def test_step_sizes_were_chosen_on_held_out_training_data(variant):
    for dataset, config in fig2.DATASETS.items():
        x_train, _ = fig2.load_data(dataset)
        for method in fig2.METHODS:
            selection = json.loads(fig2.selection_path(dataset, method).read_text())
            assert selection["training_images"] + selection["validation_images"] == len(x_train)
            assert [t["step_size"] for t in selection["trials"]] == list(fig2.STEP_SIZES)
            finite = [t for t in selection["trials"] if t["validation_bound"] is not None
                      and not t["diverged"]]
            best = max(finite, key=lambda t: t["validation_bound"])
            assert selection["step_size"] == best["step_size"]


def test_weight_decay_coefficient_is_the_gaussian_prior_per_example():
    """(1/N) · (-log N(θ; 0, I)) = (1/(2N)) ‖θ‖² + const, and Keras' L2(c) adds c ‖θ‖²."""
    theta = np.random.default_rng(0).normal(size=50)
    n = 1769
    minus_log_prior = 0.5 * np.sum(theta**2) + 0.5 * theta.size * np.log(2 * np.pi)
    l2 = keras.regularizers.L2(fig2.weight_decay_coefficient(n))
    constant = 0.5 * theta.size * np.log(2 * np.pi) / n
    penalty = float(keras.ops.convert_to_numpy(l2(keras.ops.convert_to_tensor(theta))))
    np.testing.assert_allclose(penalty + constant, minus_log_prior / n, rtol=1e-6)


def test_paper_adagrad_on_the_averaged_loss_steps_like_keras_adagrad_on_the_summed_one():
    """Scaling a loss by N is the same as dividing Adagrad's a₀ by N² and its ε by N."""
    n = 1769
    rng = np.random.default_rng(0)
    start = rng.normal(size=7).astype("float32")
    on_mean, on_sum = keras.Variable(start), keras.Variable(start)
    paper = fig2.paper_adagrad(0.02, n)
    default = keras.optimizers.Adagrad(learning_rate=0.02)
    for _ in range(5):
        gradient = (1e-3 * rng.normal(size=7)).astype("float32")  # of the averaged loss
        paper.apply_gradients([(keras.ops.convert_to_tensor(gradient), on_mean)])
        default.apply_gradients([(keras.ops.convert_to_tensor(n * gradient), on_sum)])
    moved = keras.ops.convert_to_numpy(on_sum) - start
    assert np.min(np.abs(moved)) > 1e-3  # the steps are not damped away
    np.testing.assert_allclose(keras.ops.convert_to_numpy(on_mean),
                               keras.ops.convert_to_numpy(on_sum), rtol=1e-5, atol=1e-6)
