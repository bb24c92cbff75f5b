"""Shared settings of the end-to-end tests: where their artifacts go.

The end-to-end tests look at the book as a reader does (the website in Chromium, a chapter in a
Colab-like environment). They are in their own folder so that `pytest` (the README's command)
runs them once, while `pytest tests` runs only the unit tests, as CI does on every Keras backend.
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def artifacts_dir():
    """`$ARTIFACTS_DIR` if set, else `_build/` of the checkout: screenshots, executed notebooks."""
    path = pathlib.Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "_build")
    path.mkdir(parents=True, exist_ok=True)
    return path
