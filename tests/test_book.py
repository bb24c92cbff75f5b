"""Hygiene of the book and of vaelib: the conventions of CONTRIBUTING.md, checked.

nbval checks that each chapter's outputs are reproduced; these tests check that
the chapters are written the way every chapter must be, that the table of
contents and the chapters agree, and that vaelib stays backend-agnostic.
"""

import ast
import importlib
import inspect
import json
import pathlib
import re

import keras
import pytest
import yaml

import vaelib
from vaelib import (autoencoder, callbacks, conditional, conv, data, evaluation, layers, losses, mmd,
                    models, plots, saving, toy, wake_sleep)

MODULES = (autoencoder, callbacks, conditional, conv, data, evaluation, layers, losses, mmd, models,
           plots, saving, toy, wake_sleep)  # the public modules of vaelib, one idea each

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _toc_files():
    files = [TOC["root"]]
    for part in TOC["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_chapters_and_they_follow_the_naming_scheme():
    assert CHAPTERS, "no notebooks in chapters/"
    for path in CHAPTERS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


def test_toc_lists_every_chapter_and_only_existing_files():
    listed = _toc_files()
    for entry in listed:
        matches = [p for p in ROOT.glob(entry + ".*") if p.suffix in (".md", ".ipynb")]
        assert len(matches) == 1, f"_toc.yml entry {entry!r} matches {matches}"
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in listed, f"{path.name} is missing from _toc.yml"
    captions = [part["caption"] for part in TOC["parts"]]
    for numeral in ["Part I:", "Part II:", "Part III:", "Part IV:"]:
        assert any(c.startswith(numeral) for c in captions), captions


def test_chapter_order_in_toc_follows_the_number_prefixes():
    chapters = [f for f in _toc_files() if f.startswith("chapters/")]
    assert chapters == sorted(chapters)


def test_book_is_configured_as_designed():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert {"dollarmath", "amsmath"} <= set(CONFIG["parse"]["myst_enable_extensions"])
    assert CONFIG["bibtex_bibfiles"] == ["references.bib"]
    assert "1312.6114" in (ROOT / "references.bib").read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_opens_as_designed(path):
    """CONTRIBUTING.md, "Notebooks": title cell, Colab-only install from the configured repository, seeded imports."""
    cells = json.loads(path.read_text())["cells"]
    title, setup = cells[0], cells[1]
    assert title["cell_type"] == "markdown"
    text = _source(title)
    assert text.startswith("# "), "the first cell must be the chapter's title"
    assert "§" in text and re.search(r"[Rr]un time", text), "title cell: paper sections and run time"

    assert setup["cell_type"] == "code"
    setup_source = _source(setup)
    assert '"google.colab" in sys.modules' in setup_source
    install = re.search(r"pip install .*git\+(\S+?)\"", setup_source)
    assert install, "the setup cell must install vaelib from the repository on Colab"
    assert install.group(1) == CONFIG["repository"]["url"]

    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    seeded = [i for i, s in enumerate(code) if "keras.utils.set_random_seed(" in s]
    assert seeded and seeded[0] <= 2, "one visible keras.utils.set_random_seed(...) among the imports"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_closes_with_summary_and_exercises(path):
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert "## Summary" in markdown and "## Exercises" in markdown
    # A solution is a sphinx-exercise block (```{solution} or :::{solution}) or a
    # <details> toggle, which also opens on Colab and GitHub.
    solutions = len(re.findall(r"(?:```|:::)\{solution\}|<summary>Solution</summary>", markdown))
    assert solutions >= 2, "exercises come with solutions"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_stored_executed_in_order_without_errors(path):
    """The stored outputs are what readers see and what nbval compares against."""
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run the notebook top to bottom once"
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", _source(cell)[:80]
            text = "".join(output.get("text", ""))
            assert "Traceback" not in text and " I tensorflow/" not in text, text[:200]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_figures_have_captions_and_ignore_tags_cover_only_timings(path):
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        if any("image/png" in o.get("data", {}) for o in cell["outputs"]):
            caption = cell["metadata"].get("mystnb", {}).get("figure", {}).get("caption", "")
            assert caption, f"figure without a caption: {_source(cell)[:80]!r}"
        if "nbval-ignore-output" in cell["metadata"].get("tags", []):
            assert "time" in _source(cell).lower(), "nbval-ignore-output is only for timings and logs"
            assert "assert" not in _source(cell), "a check must never hide in an ignored cell"


def test_vaelib_is_backend_agnostic_and_small():
    """CONTRIBUTING.md, "vaelib": keras.ops/keras.random only, never a backend import; a flat folder."""
    allowed = {"keras", "numpy", "scipy", "matplotlib", "vaelib"}
    stdlib = {"gzip", "hashlib", "importlib", "inspect", "math", "os", "struct", "threading"}
    for path in sorted((ROOT / "vaelib").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed | stdlib, f"{path.name} imports {name}"
    assert not list((ROOT / "vaelib").glob("*/")), "vaelib must stay a flat folder"


def test_the_module_lists_name_every_public_module_of_vaelib():
    """MODULES here, vaelib.__all__ and the files of vaelib/ name the same modules."""
    files = {path.stem for path in (ROOT / "vaelib").glob("*.py") if not path.stem.startswith("_")}
    names = {module.__name__.removeprefix("vaelib.") for module in MODULES}
    assert names == files
    assert names <= set(vaelib.__all__)
    for name in names:
        assert getattr(vaelib, name).__name__ == f"vaelib.{name}"


def test_the_top_level_names_are_those_of_the_modules():
    """`vaelib.X` is the object of the module that defines it; the version is the package's."""
    for name in vaelib.__all__:
        obj = getattr(vaelib, name)
        if not inspect.ismodule(obj):
            assert getattr(importlib.import_module(obj.__module__), name) is obj, name
    assert {"MMDVAE", "Autoencoder", "LogVarianceFloor", "save_model", "load_model"} <= set(vaelib.__all__)
    assert vaelib.save_model is saving.save_model and vaelib.KLAnnealing is callbacks.KLAnnealing
    version = re.search(r'(?m)^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert vaelib.__version__ == version


def test_every_layer_and_model_has_its_own_get_config():
    for module in MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, keras.layers.Layer):
                assert "get_config" in cls.__dict__, f"{cls.__name__} lacks get_config"


def test_public_functions_have_docstrings():
    for module in (vaelib, *MODULES):
        for name, obj in inspect.getmembers(module):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
