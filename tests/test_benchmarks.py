"""benchmarks/: the speed benchmark still runs and writes a valid result file (smoke mode).

`python -m benchmarks.run --smoke` trains every contender for a few steps on 1,024 digits: a
check that the benchmark works, not a measurement (the real one is `python -m benchmarks.run`,
minutes on an idle machine). To keep CI short this runs two contenders, vaelib on TensorFlow and
the keras.io-style baseline, with the hardware limit, the time-to-quality runs and the
importance-sampling evaluation, and only under the README's test command (TensorFlow).
"""

import json
import math
import os
import subprocess
import sys
import pathlib

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONTENDERS = ("vaelib_tensorflow", "keras_io_tensorflow")

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the benchmark starts its own processes per backend: one smoke run (TensorFlow) is enough",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    command = [sys.executable, "-m", "benchmarks.run", "--smoke", "--only", ",".join(CONTENDERS),
               "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ratios" in result.stdout  # the table was printed
    return json.loads(out.read_text()), out


def test_smoke_run_writes_a_complete_result_file(report):
    data, _ = report
    assert data["mode"] == "smoke" and data["failures"] == []
    for key in ("machine", "versions", "recipe", "settings", "hardware", "ratios"):
        assert data[key], key
    assert data["hardware"]["large_matmul_gflops"] > 0
    assert data["hardware"]["training_flops_per_example"] > 0
    for name in CONTENDERS:
        entry = data["contenders"][name]
        assert entry["examples_per_s"] > 0 and math.isfinite(entry["examples_per_s"]), name
        assert 0 < entry["fraction_of_limit"], name


def test_smoke_run_measures_quality_and_importance_sampling(report):
    data, _ = report
    runs = {name: run for name, run in data["time_to_quality"].items() if "skipped" not in run}
    assert set(CONTENDERS) <= set(runs)  # pytorch_eager is skipped: not among the contenders
    for run in runs.values():
        assert all(math.isfinite(v) for v in run["test_nelbo"])
        assert run["test_nelbo"][-1] < run["test_nelbo"][0]  # training lowered the -ELBO
    sampling = data["importance_sampling"]
    assert sampling["all_finite"] and sampling["peak_rss_mib"] > 0 and sampling["seconds"] > 0


def test_ratios_are_those_the_table_reports(report):
    data, out = report
    by_name = {r["name"]: r for r in data["ratios"]}
    ratio = by_name["vaelib_tensorflow / keras_io_tensorflow"]
    contenders = data["contenders"]
    expected = contenders["vaelib_tensorflow"]["examples_per_s"] / contenders["keras_io_tensorflow"]["examples_per_s"]
    assert ratio["value"] == pytest.approx(expected)
    assert ratio["target"] == 1.5 and ratio["meets_target"] == (ratio["value"] >= 1.5)
    assert (out.parent / "throughput.png").stat().st_size > 0  # the bar chart beside the JSON
