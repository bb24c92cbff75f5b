"""The hardware limit: this CPU's sustained float32 matmul rate, measured with NumPy.

Two rates: a large square matmul (what the CPU's BLAS sustains at best), and
the matmuls of one training step of the recipe's network at its own shapes,
batch 128 (forward, and the two gradient products of backward), which is the
most a training step made of those matmuls alone could reach.
"""

import time

import numpy as np

from benchmarks.common import RECIPE, layer_shapes, training_flops_per_example


def _best_rate(fn, flops, seconds, min_repeats=3):
    """FLOP/s of `fn`: best of repeated timed rounds (each round ≥ ~0.1 s), over about `seconds`."""
    fn()  # warm-up: thread pool, page faults
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-6)
    per_round = max(1, int(0.1 / once))
    rounds = max(min_repeats, int(seconds / (once * per_round)))
    best = np.inf
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = min(best, (time.perf_counter() - t) / per_round)
    return flops / best


def large_matmul_rate(n=2048, seconds=3.0):
    """FLOP/s of an n×n by n×n float32 matmul (2n³ FLOPs)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    out = np.empty((n, n), np.float32)
    return _best_rate(lambda: np.matmul(a, b, out=out), 2.0 * n**3, seconds)


def model_matmul_rate(batch=RECIPE["batch_size"], seconds=3.0):
    """FLOP/s of one training step's matmuls at the recipe's shapes, in float32.

    Per dense layer with weight (m, n): forward X·W (batch×m by m×n), the
    weight gradient Xᵀ·G (m×batch by batch×n) and, except for the first
    layer, the input gradient G·Wᵀ — exactly what `training_flops_per_example`
    counts.
    """
    rng = np.random.default_rng(0)
    work = []
    for i, (m, n) in enumerate(layer_shapes()):
        x = rng.standard_normal((batch, m), dtype=np.float32)
        w = rng.standard_normal((m, n), dtype=np.float32)
        g = rng.standard_normal((batch, n), dtype=np.float32)
        work.append((x, w, g, i > 0))

    def step():
        for x, w, g, input_grad in work:
            x @ w
            x.T @ g
            if input_grad:
                g @ w.T

    return _best_rate(step, float(batch * training_flops_per_example()), seconds)


def measure(smoke=False):
    seconds = 0.3 if smoke else 3.0
    large_n = 512 if smoke else 2048
    large = large_matmul_rate(n=large_n, seconds=seconds)
    model = model_matmul_rate(seconds=seconds)
    flops = training_flops_per_example()
    return {
        "large_matmul_n": large_n,
        "large_matmul_gflops": large / 1e9,
        "model_shape_matmul_gflops": model / 1e9,
        "training_flops_per_example": flops,
        # The throughput a training step could reach if it ran at those rates.
        "limit_examples_per_s": large / flops,
        "model_shape_limit_examples_per_s": model / flops,
        "numpy_blas": _blas_name(),
    }


def _blas_name():
    try:
        config = np.show_config(mode="dicts")
        return config["Build Dependencies"]["blas"]["name"]
    except Exception:  # older NumPy: no dict mode
        return "unknown"
