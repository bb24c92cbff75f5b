"""Re-execute chapters top to bottom, in place, the way nbval re-runs them in CI.

    python -m tools.run_chapter chapters/04_training_a_vae.ipynb [more.ipynb ...]

Each notebook runs in a fresh kernel, in its own folder, with the settings of `conftest.py`
(TensorFlow's start-up logs off, oneDNN off, so that the stored outputs are the ones nbval
reproduces), and is written back with its new outputs. Read the chapter again afterwards:
prose that the new outputs contradict is a bug.
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402


def run(path, timeout=1200):
    """Execute the notebook at `path` and store its outputs; return the seconds it took."""
    path = pathlib.Path(path)
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {run(name):.0f} s", flush=True)
