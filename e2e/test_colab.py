"""Colab fidelity: a chapter runs in an environment that holds only what a Colab runtime has.

A reader who clicks a chapter's Colab button gets the notebook on a Colab runtime, where the
setup cell sees `google.colab` and installs `vaelib` from the repository with `%pip install`.
This test rebuilds that situation here:

1. a fresh virtual environment, on Colab's Python version when this machine has one, holding
   exactly the packages of `e2e/colab_packages.txt` (Colab's own versions, and where they come
   from), installed without dependencies so that nothing else sneaks in;
2. a kernel of that environment in which `"google.colab" in sys.modules` is true (an IPython
   startup file registers an empty module, as Colab's runtime has the real one imported);
3. the chapter itself, unchanged but for one thing: its `%pip install "vaelib @ git+<repository>"`
   line installs from a copy of this checkout (`vaelib @ file://...`) instead, since the
   repository on the internet does not hold the code under test.

It checks that every cell runs without error (each chapter asserts its own claims), that `vaelib`
was imported from the environment and not from the checkout, and that installing it changed no
Colab package. The executed notebook and the install logs are kept in `<artifacts>/colab/`.

The datasets are read from `VAELIB_DATA_DIR` (CI has no internet; on Colab, Keras downloads them).
`VAELIB_COLAB_CHAPTERS` (comma-separated notebook names, or `all`) runs other chapters than the
default one: the quickest, to keep CI short.
"""

import glob
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import warnings

import nbformat
import pytest
import yaml
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "e2e" / "colab_packages.txt"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
DEFAULT_CHAPTERS = ["04_training_a_vae"]  # the quickest chapter with the whole model in it
COLAB_PYTHON_VERSION = (3, 13)  # e2e/colab_packages.txt: Colab runs Python 3.13


def _chapters():
    wanted = os.environ.get("VAELIB_COLAB_CHAPTERS", "").strip()
    if wanted == "all":
        return sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
    return [name.strip().removesuffix(".ipynb") for name in wanted.split(",")] if wanted else DEFAULT_CHAPTERS


def _pins():
    pins = {}
    for line in PACKAGES.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _run(command, log, **kwargs):
    """Run a command, append its output to `log`, and fail with that output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, command))}\n{result.stdout}{result.stderr}\n")
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


def _python_version(executable):
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=60,
        )
    except OSError:
        return None
    return tuple(map(int, out.stdout.split())) if out.returncode == 0 else None


def _colab_python():
    """Colab's Python version if this machine has it (pyenv's included), else this Python."""
    if os.environ.get("COLAB_PYTHON"):
        return os.environ["COLAB_PYTHON"]
    name = "python%d.%d" % COLAB_PYTHON_VERSION
    candidates = [shutil.which(name)] + sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{COLAB_PYTHON_VERSION[0]}.{COLAB_PYTHON_VERSION[1]}*/bin/{name}")),
        reverse=True,
    )
    for candidate in filter(None, candidates):
        if _python_version(candidate) == COLAB_PYTHON_VERSION:
            return candidate
    warnings.warn(f"no {name} on this machine: the Colab environment uses {sys.executable} instead")
    return sys.executable


def _freeze(python, log):
    """{name: version, or "@ url" for a direct install} of what `python` has installed."""
    frozen = {}
    for line in _run([python, "-m", "pip", "freeze", "--all"], log).splitlines():
        name, sep, rest = line.partition("==") if "==" in line else line.partition(" @ ")
        if sep:
            frozen[re.sub(r"[-_.]+", "-", name.strip()).lower()] = rest.strip() if sep == "==" else "@ " + rest.strip()
    return frozen


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory, artifacts_dir):
    """A fresh venv holding exactly Colab's packages; the wheels are kept between runs."""
    out = artifacts_dir / "colab"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = out / "install.log"
    base_python = _colab_python()
    venv = tmp_path_factory.mktemp("colab") / "venv"
    _run([base_python, "-m", "venv", venv], log)
    python = str(venv / "bin" / "python")
    # pip's own cache stayed empty on this project's machines, so the wheels are kept in a folder
    # of their own, named after the pinned list and the Python version.
    version = "%d.%d" % _python_version(python)
    digest = hashlib.sha256(json.dumps(sorted(_pins().items())).encode()).hexdigest()[:12]
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    wheels = cache / "vaelib-e2e" / f"colab-wheels-py{version}-{digest}"
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
               "--find-links", wheels, "-r", PACKAGES]
    offline = subprocess.run(install, capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, install))}\n{offline.stdout}{offline.stderr}\n")
    if offline.returncode != 0:  # the first run on this machine: fetch the wheels once
        _run([python, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", wheels, "-r", PACKAGES], log)
        _run(install, log)
    installed = _freeze(python, log)
    assert installed == _pins(), "the environment does not hold exactly e2e/colab_packages.txt"
    return {"python": python, "venv": venv, "packages": installed, "log": log, "out": out}


def _checkout_copy(destination):
    """The files git would clone (tracked and untracked-but-not-ignored), as Colab's pip gets them."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if listing.returncode != 0:  # not a git checkout (an unpacked archive, say): copy it all
        shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
            ".git", ".venv", "_build", "*.egg-info", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"))
        return destination
    for name in filter(None, listing.stdout.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def _as_on_colab(nb, checkout):
    """Point the setup cell's Colab-only install at the local checkout; nothing else changes."""
    pattern = re.compile(r'(%pip install [^\n]*")vaelib @ git\+' + re.escape(REPOSITORY) + r'(@[^"\s]+)?(")')
    setups = [c for c in nb.cells if c.cell_type == "code" and pattern.search(c.source)]
    assert len(setups) == 1, f"expected one `%pip install \"vaelib @ git+{REPOSITORY}\"` line"
    setup = setups[0]
    assert 'if "google.colab" in sys.modules:' in setup.source, "the install must be Colab-only"
    setup.source = pattern.sub(lambda m: f"{m[1]}vaelib @ {checkout.as_uri()}{m[3]}", setup.source)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import keras, vaelib\nprint(keras.backend.backend(), keras.__version__, vaelib.__file__)"
    ))
    return nb


@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_runs_on_a_colab_runtime(chapter, colab_env, tmp_path):
    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    checkout = _checkout_copy(tmp_path / "checkout")
    nb = _as_on_colab(nb, checkout)

    # Colab's kernel: the environment's Python, with google.colab among the imported modules.
    kernels = tmp_path / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [colab_env["python"], "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python",
    }))
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-google-colab.py").write_text(
        "import sys, types\nsys.modules.setdefault('google.colab', types.ModuleType('google.colab'))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in {"KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                        "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MPLBACKEND"}}  # Colab sets none
    env.update(IPYTHONDIR=str(tmp_path / "ipython"), VIRTUAL_ENV=str(colab_env["venv"]),
               PATH=f"{colab_env['venv'] / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    work = tmp_path / "content"  # Colab's working folder, outside the checkout
    work.mkdir()

    km = AsyncKernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=900, kernel_name="colab", resources={"metadata": {"path": str(work)}})
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, colab_env["out"] / f"{chapter}.ipynb")

    setup_output = "".join(o.get("text", "") for c in nb.cells if "vaelib @ file://" in c.source for o in c.outputs)
    assert "ERROR" not in setup_output, setup_output
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    assert last[0] == "tensorflow", f"Colab's Keras backend is TensorFlow, got {last}"
    assert last[1] == colab_env["packages"]["keras"], last
    assert pathlib.Path(last[2]).is_relative_to(colab_env["venv"]), f"vaelib came from {last[2]}"
    after = _freeze(colab_env["python"], colab_env["log"])
    assert after.pop("vaelib", None) == "@ " + checkout.as_uri(), "vaelib was not installed from the checkout"
    assert after == colab_env["packages"], "installing vaelib changed Colab's packages: " + str(
        {k: (colab_env["packages"].get(k), v) for k, v in after.items() if colab_env["packages"].get(k) != v}
    )

