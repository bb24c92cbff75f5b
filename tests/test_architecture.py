"""The architecture of vaelib, kept true: which module may import which, and a short core path.

CONTRIBUTING.md draws the layers: `_checks` at the bottom; the paper's model and loss
(`layers`, `losses`, `models`, with `data` for batching arrays) above it; the variants and
the tools around them (`conv`, `conditional`, `mmd`, `autoencoder`, `wake_sleep`,
`callbacks`, `saving`, `evaluation`, `plots`, `toy`) on top, each importing only from the
layers below it, never from one another. The book's own helpers (`vaebook`) and the
experiments sit outside vaelib, which never imports them, so that a copy of `vaelib/` alone
works. These tests fail when a module imports one it may not, when vaelib imports a backend
(`tensorflow`, `jax`, `torch`) or anything beyond keras, numpy, scipy and matplotlib, when the
core path grows past 500 lines or a quarter of checks, and when a file points outside the
repository.
"""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import vaelib_size  # noqa: E402

# What each module of vaelib may import from vaelib (besides `_checks`, open to all but itself).
CORE = {"layers": set(), "losses": set(), "data": set(), "models": {"layers", "losses", "data"}}
ON_TOP = {
    "conv": {"models"},
    "conditional": {"models", "data"},
    "mmd": {"layers", "models"},
    "autoencoder": {"layers", "models"},
    "wake_sleep": {"losses", "models"},
    "callbacks": set(),
    "saving": {"models"},
    "evaluation": {"data", "models"},
    "plots": {"models"},
    "toy": set(),
}
ALLOWED = {"_checks": set(), **{name: deps | {"_checks"} for name, deps in {**CORE, **ON_TOP}.items()}}
THIRD_PARTY = {"keras": None, "numpy": None, "scipy": {"data", "plots", "toy"},
               "matplotlib": {"plots"}}
STDLIB = {"gzip", "hashlib", "importlib", "inspect", "math", "os", "struct", "threading"}
MODULES = sorted(p.stem for p in (ROOT / "vaelib").glob("*.py") if p.stem != "__init__")


def _imports(path):
    """The top-level package and, for vaelib, the module of every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == "vaelib":  # from vaelib import losses, ...
                found += [f"vaelib.{alias.name}" for alias in node.names]
            else:
                found.append(module)
    return found


def test_every_module_has_a_place_in_the_architecture():
    assert set(MODULES) == set(ALLOWED), "add the new module to ALLOWED and to CONTRIBUTING.md"
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for name in MODULES:
        assert f"`{name}`" in contributing, f"CONTRIBUTING.md does not describe vaelib.{name}"


@pytest.mark.parametrize("name", MODULES)
def test_a_module_imports_only_what_its_layer_allows(name):
    for imported in _imports(ROOT / "vaelib" / f"{name}.py"):
        top = imported.split(".")[0]
        if top == "vaelib":
            module = imported.split(".")[1]
            assert module in ALLOWED[name], f"vaelib.{name} may not import vaelib.{module}"
        elif top in THIRD_PARTY:
            users = THIRD_PARTY[top]
            assert users is None or name in users, f"vaelib.{name} may not import {top}"
        else:
            assert top in STDLIB, f"vaelib.{name} imports {imported}, outside keras and numpy"


def test_the_package_imports_no_backend_and_nothing_of_the_book():
    """What `import vaelib` adds to what `import keras` loaded: no framework, no book module."""
    code = ("import sys, keras; before = set(sys.modules); import vaelib; "
            "from vaelib import data, plots, toy; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} & "
            "{'tensorflow', 'jax', 'torch', 'vaebook', 'experiments', 'benchmarks', 'tools'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_core_path_reads_in_one_sitting():
    """builders, Sampling, the KL and log-likelihoods, VAE.call and compute_loss: three files."""
    size = vaelib_size.report()
    assert size["core_lines"] <= 500, size["core_lines"]
    assert size["core_check_share"] <= 0.25 and size["core_check_share_of_code"] <= 0.25
    assert not size["raises_in_core"], "a check in the core is one line calling a helper"


def test_no_file_points_outside_the_repository():
    """Only .ci/run names the data folder beside the checkout; nothing cites a file not in it."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        path = ROOT / name
        if name in (".ci/run", "tests/test_architecture.py") or path.suffix not in {".py", ".md", ".ipynb", ".yml", ".toml",
                                                    ".txt", ".cfg", ""}:
            continue
        text = path.read_text(errors="ignore") if path.is_file() else ""
        for outside in ("../shared", "DESIGN.md", '"shared" / "data"'):
            assert outside not in text, f"{name} points outside the repository: {outside!r}"
