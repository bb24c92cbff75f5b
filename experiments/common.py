"""What the experiments (and the benchmark) share: a recipe's VAE, and the record of a run.

- `build_mlp_vae(recipe)`: the MLP VAE a recipe dict describes, with its seeds;
  Chapter 4's experiment, the best-likelihood run and the benchmark's vaelib
  contender all build theirs with it.
- `save_weights_only(vae, path)`: the trained model without its optimizer state.
- The record of how a result was made, written into every result file:
  `command()`, `versions()`, `machine()`, `git_commit()`, `provenance()`, and
  `write_json(path, record)`, which never leaves half a file.

Import it as `from experiments.common import ...` (the scripts put the repository
root on `sys.path` first, so that they also run as `python experiments/NAME.py`).
"""

import datetime
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys

import keras
import numpy as np

import vaelib
from vaelib import models, saving

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def build_mlp_vae(recipe, **options):
    """Seed Keras and build the MLP VAE that `recipe` describes (not compiled).

    Args:
        recipe: a dict with `global_seed` (weights), `input_dim`,
            `hidden_units`, `latent_dim`, `activation`, `likelihood` and,
            optionally, `estimator` ("B"), `num_samples` (1) and
            `sampling_seed` (1, the seed of the noise ε).
        **options: further arguments of `vaelib.models.VAE` (e.g. `beta`).
    """
    keras.utils.set_random_seed(recipe["global_seed"])
    sizes = {"hidden_units": recipe["hidden_units"], "activation": recipe["activation"]}
    encoder = models.build_encoder(input_dim=recipe["input_dim"], latent_dim=recipe["latent_dim"],
                                   **sizes)
    decoder = models.build_decoder(latent_dim=recipe["latent_dim"], output_dim=recipe["input_dim"],
                                   likelihood=recipe["likelihood"], **sizes)
    return models.VAE(encoder, decoder, likelihood=recipe["likelihood"],
                      estimator=recipe.get("estimator", "B"),
                      num_samples=recipe.get("num_samples", 1),
                      seed=recipe.get("sampling_seed", 1), **options)


def save_weights_only(vae, path):
    """Save `vae` without its optimizer state (a third of the size), checked to load back.

    Returns the fresh copy that was saved: same configuration, same weights.
    """
    copy = type(vae).from_config(vae.get_config())
    copy.set_weights(vae.get_weights())
    saving.save_model(copy, path)
    return copy


# -- the record of a run ---------------------------------------------------------------


def command():
    """The command line that is running, with its Keras backend."""
    backend = os.environ.get("KERAS_BACKEND", keras.backend.backend())
    script = pathlib.Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([f"KERAS_BACKEND={backend}", "python", str(script), *sys.argv[1:]])


def versions():
    """Versions of Python, the libraries and the backend that produced a result."""
    backend = keras.backend.backend()
    return {"python": platform.python_version(), "keras": keras.__version__,
            "numpy": np.__version__, "vaelib": vaelib.__version__, "backend": backend,
            backend: __import__(_BACKEND_MODULES[backend]).__version__}


def machine():
    """The CPU and its load, which the wall times depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "load_average_1_5_15_min": [round(x, 2) for x in load] if load else None}


def git_commit():
    """The commit of the checkout, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance():
    """Command, backend, versions, machine and time: the record of a finished run."""
    return {"command": command(), "backend": keras.backend.backend(), "versions": versions(),
            "machine": machine(), "git_commit": git_commit(),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_json(path, record):
    """Write `record` to `path` as JSON through a temporary file: never half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    temporary.replace(path)


def mean_and_se(values):
    """The mean of `values` and its standard error."""
    return {"mean": float(np.mean(values)),
            "standard_error": float(np.std(values, ddof=1) / np.sqrt(len(values)))}


def sha256(path):
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def log(message):
    """Print a line of progress with the time of day."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)
