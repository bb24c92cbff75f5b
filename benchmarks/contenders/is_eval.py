"""vaelib's importance-sampled log-likelihood, `evaluation.log_likelihood`, as Chapter 7 calls it.

The model is the recipe's network built with vaelib; its weights are those the
`vaelib_fit` contender saved (if given), or freshly initialized: the cost of
the evaluation does not depend on the weights' values.
"""

import resource
import time

import keras
import numpy as np

from benchmarks.contenders.vaelib_fit import recipe_vae
from vaelib import evaluation


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def evaluate(x_test, options):
    vae = recipe_vae(seed=0)
    trained = bool(options.get("weights"))
    if trained:
        vae.load_weights(options["weights"])
    k = options["num_samples"]
    rss_before = _rss_mib()
    start = time.perf_counter()
    log_px = evaluation.log_likelihood(vae, x_test, num_samples=k, seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {
        "backend": keras.backend.backend(),
        "num_samples": k,
        "num_images": len(x_test),
        "trained_weights": trained,
        "seconds": seconds,
        "decoder_evaluations_per_s": k * len(x_test) / seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "mean_log_likelihood": float(np.mean(log_px)),
        "all_finite": bool(np.all(np.isfinite(log_px))),
    }
