"""The committed benchmark results and the tables shown from them agree (no figure typed by hand).

`python -m benchmarks.report` writes `benchmarks/results/latest.md` from `latest.json` and puts
the same Markdown in README.md; the book's Performance page includes the
file. These tests recompute the Markdown from the committed JSON files.
"""

import json
import pathlib

import pytest

from benchmarks import report

RESULTS = pathlib.Path(report.RESULTS)
LATEST = RESULTS / "latest.json"


@pytest.fixture(scope="module")
def expected():
    return report.markdown(json.loads(LATEST.read_text()))


def test_latest_result_is_a_full_measurement():
    latest = json.loads(LATEST.read_text())
    assert latest["mode"] != "smoke" and not latest["failures"] and not latest["loaded"]
    assert (RESULTS / "throughput.png").stat().st_size > 0
    for entry in latest["contenders"].values():
        assert entry["examples_per_s"] > 0, entry["label"]


def test_markdown_file_is_what_the_results_give(expected):
    assert (RESULTS / "latest.md").read_text() == expected


def test_readme_shows_the_same_tables(expected):
    readme = (RESULTS.parents[1] / "README.md").read_text()
    assert report.replace_block(readme, expected) == readme
