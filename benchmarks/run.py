"""Measure vaelib's training speed against the baselines, on this machine: `python -m benchmarks.run`.

One run measures, for the recipe of `benchmarks.common` (the pytorch/examples
VAE: 784-400-20 ReLU MLP, Bernoulli decoder, grey-level MNIST, batch 128,
Adam 1e-3):

1. the hardware limit: NumPy's float32 matmul rate, large and at the model's
   shapes, and the model's training FLOPs per example;
2. training throughput of every contender (examples per second: the median
   over `--epochs` epochs after one warm-up epoch, all data in memory);
3. time-to-quality: training seconds until the test -ELBO first drops below
   105 nats, for the fastest vaelib backend and the two main baselines;
4. vaelib's importance-sampled log-likelihood (k = 5000 on the 10,000 test
   digits): wall time and peak memory.

Each measurement runs in its own process (`benchmarks.worker`), one after the
other. The results, with the machine, the versions, the load and the ratios
(vaelib ÷ each baseline, vaelib ÷ the limit), go to `--out` as JSON, a table
to the terminal, and a bar chart beside the JSON (`benchmarks/plot.py`).

`--smoke` runs everything on a few steps (a check that the benchmark works,
not a measurement).
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RECIPE, TARGET_NATS
from benchmarks.contenders import BY_NAME, CONTENDERS, IS_BACKEND, TIME_TO_QUALITY_BASELINES
from benchmarks.report import terminal_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"


# (numerator, denominator, target, "higher" or "lower" is better) for the ratio table.
THROUGHPUT_TARGETS = [
    ("vaelib_fastest", "pytorch_eager", 2.3),
    ("vaelib_fastest", "pytorch_compile", 1.7),
    ("vaelib_fastest", "keras_io_tensorflow", 2.3),
    ("vaelib_tensorflow", "keras_io_tensorflow", 1.5),
    ("vaelib_tensorflow", "keras_fit_tensorflow", 1.2),
    ("vaelib_jax", "keras_fit_jax", 0.95),  # the library costs nothing on any backend
    ("vaelib_torch", "keras_fit_torch", 0.95),
]
LIMIT_TARGET = 0.75  # vaelib's fastest backend ÷ the large-matmul limit
TTQ_TARGET = 0.5  # vaelib's time-to-quality ÷ eager PyTorch's
IS_SECONDS_TARGET, IS_MEMORY_TARGET_MIB = 300.0, 2048.0


# -- the machine ---------------------------------------------------------------------


def machine():
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo") as f:
            memory_gib = int(f.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


def versions():
    found = {"python": platform.python_version()}
    for package in ("keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def load_average():
    one, five, fifteen = os.getloadavg()
    return {"1min": one, "5min": five, "15min": fifteen}


def _busy_cpu_seconds():
    """CPU seconds spent busy by the whole machine since boot (all cores, /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- running one measurement -----------------------------------------------------------


def run_worker(spec, backend=None, timeout=None):
    """Run `benchmarks.worker` on `spec` in a fresh process; return its result dict.

    Adds `wall_seconds`, and `others_cpu_fraction`: the share of the machine's
    CPU time used by other processes meanwhile (0 on an idle machine; > 0.1
    means the measurement was disturbed).
    """
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if backend:
        env["KERAS_BACKEND"] = backend
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        busy0, mine0, t0 = _busy_cpu_seconds(), _children_cpu_seconds(), time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", json.dumps(spec), str(out)],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        wall = time.perf_counter() - t0
        others = (_busy_cpu_seconds() - busy0) - (_children_cpu_seconds() - mine0)
        if proc.returncode != 0 or not out.exists():
            return {"error": f"exit status {proc.returncode}: {proc.stderr[-3000:]}"}
        result = json.loads(out.read_text())
    result["wall_seconds"] = wall
    result["others_cpu_fraction"] = max(0.0, others / (wall * (os.cpu_count() or 1)))
    return result


def throughput(result):
    """Examples per second: the training set over the median epoch time after the warm-up epoch."""
    measured = result["epoch_seconds"][1:]
    median = statistics.median(measured)
    return result["train_examples"] / median, median


# -- the run ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true",
                   help="a few steps of everything, to check that it runs (seconds, not a measurement)")
    p.add_argument("--epochs", type=int, default=None,
                   help="measured epochs after the warm-up epoch (default 3; smoke 1)")
    p.add_argument("--train-size", type=int, default=None,
                   help="use only the first N training digits (default all 60,000; smoke 1,024)")
    p.add_argument("--only", default=None,
                   help="comma-separated contenders to run (default all): " + ", ".join(BY_NAME))
    p.add_argument("--no-time-to-quality", action="store_true", help="skip the time-to-quality runs")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="time-to-quality gives up after this many epochs (default 30; smoke 2)")
    p.add_argument("--no-is", action="store_true", help="skip the importance-sampling evaluation")
    p.add_argument("--is-k", type=int, default=None, help="importance samples k (default 5000; smoke 20)")
    p.add_argument("--is-images", type=int, default=None,
                   help="test digits for the importance sampling (default all 10,000; smoke 64)")
    p.add_argument("--label", default=None, help="a note stored in the JSON, e.g. 'under load'")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"result file (default {DEFAULT_OUT.relative_to(ROOT)}); the chart goes beside it")
    p.add_argument("--no-plot", action="store_true", help="do not draw the bar chart")
    args = p.parse_args(argv)
    smoke = args.smoke
    args.epochs = args.epochs or (1 if smoke else 3)
    args.train_size = args.train_size or (1024 if smoke else None)
    args.max_epochs = args.max_epochs or (2 if smoke else 30)
    args.is_k = args.is_k or (20 if smoke else 5000)
    args.is_images = args.is_images or (64 if smoke else None)
    args.test_size = 512 if smoke else None
    args.timeout = 600 if smoke else None
    if args.only:
        unknown = set(args.only.split(",")) - set(BY_NAME)
        if unknown:
            p.error(f"unknown contenders {sorted(unknown)}; choose from {sorted(BY_NAME)}")
    return args


def mode(args):
    if args.smoke:
        return "smoke"
    full = (args.epochs >= 3 and args.train_size is None and args.is_k == 5000
            and args.is_images is None and not args.only)
    return "full" if full else "reduced"


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "schema": 1,
        "command": "python -m benchmarks.run " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv)),
        "mode": mode(args),
        "label": args.label,
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "environment": {k: os.environ.get(k) for k in (
            "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS", "XLA_FLAGS")},
        "load_average": {"start": load_average()},
        "recipe": RECIPE,
        "settings": {"warmup_epochs": 1, "measured_epochs": args.epochs,
                     "train_size": args.train_size, "target_nats": TARGET_NATS,
                     "max_epochs_to_target": args.max_epochs},
    }
    failures = []

    log("== hardware limit (NumPy float32 matmul)")
    hw = run_worker({"task": "hardware", "smoke": args.smoke}, timeout=args.timeout)
    if "error" in hw:
        failures.append(("hardware", hw["error"]))
    report["hardware"] = hw

    selected = [c for c in CONTENDERS if not args.only or c.name in args.only.split(",")]
    report["contenders"] = {}
    weights_dir = tempfile.mkdtemp(prefix="vaelib-bench-")
    is_weights = os.path.join(weights_dir, "vaelib.weights.h5")
    for c in selected:
        entry = {"label": c.label, "group": c.group, "module": c.module, "backend": c.backend}
        missing = c.missing()
        if missing:
            entry["skipped"] = f"package {missing!r} is not installed"
            log(f"== {c.name}: skipped ({entry['skipped']})")
            report["contenders"][c.name] = entry
            continue
        log(f"== {c.name}: {args.epochs} + 1 epochs")
        options = dict(c.options)
        if c.module == "vaelib_fit" and c.backend == IS_BACKEND:
            options["save_weights"] = is_weights  # the trained model for the IS evaluation
        spec = {"task": "train", "module": c.module, "options": options, "epochs": 1 + args.epochs,
                "train_size": args.train_size, "test_size": args.test_size}
        entry["load_before"] = load_average()["1min"]
        result = run_worker(spec, c.backend, timeout=args.timeout)
        if "error" in result:
            failures.append((c.name, result["error"]))
            entry["error"] = result["error"]
        else:
            rate, median = throughput(result)
            entry.update(result)
            entry["median_epoch_seconds"] = median
            entry["examples_per_s"] = rate
            if "error" not in hw:
                entry["fraction_of_limit"] = rate / hw["limit_examples_per_s"]
                entry["fraction_of_model_shape_limit"] = rate / hw["model_shape_limit_examples_per_s"]
        report["contenders"][c.name] = entry

    rates = {n: e["examples_per_s"] for n, e in report["contenders"].items() if "examples_per_s" in e}
    vaelib_rates = {n: r for n, r in rates.items() if BY_NAME[n].group == "vaelib"}
    fastest = max(vaelib_rates, key=vaelib_rates.get) if vaelib_rates else None
    report["vaelib_fastest"] = fastest

    report["time_to_quality"] = {}
    if not args.no_time_to_quality:
        for name in ([fastest] if fastest else []) + list(TIME_TO_QUALITY_BASELINES):
            c = BY_NAME[name]
            if name not in rates:
                report["time_to_quality"][name] = {"skipped": "no throughput result"}
                continue
            log(f"== time to quality: {name} (at most {args.max_epochs} epochs)")
            spec = {"task": "train", "module": c.module, "options": dict(c.options), "epochs": 1,
                    "time_to_quality": True, "max_epochs": args.max_epochs,
                    "train_size": args.train_size, "test_size": args.test_size}
            result = run_worker(spec, c.backend, timeout=args.timeout)
            if "error" in result:
                failures.append((f"time_to_quality {name}", result["error"]))
            report["time_to_quality"][name] = result

    if not args.no_is:
        log(f"== importance-sampled log-likelihood: k = {args.is_k}, "
            f"{args.is_images or 'all'} test digits, {IS_BACKEND}")
        options = {"num_samples": args.is_k}
        if os.path.exists(is_weights):
            options["weights"] = is_weights
        result = run_worker({"task": "is_eval", "options": options, "test_size": args.is_images},
                            IS_BACKEND, timeout=args.timeout)
        if "error" in result:
            failures.append(("importance_sampling", result["error"]))
        else:
            # Linear in the number of images: the time the full 10,000 would take.
            result["seconds_for_10000_images"] = result["seconds"] * 10_000 / result["num_images"]
            result["seconds_for_10000_images_k5000"] = (
                result["seconds_for_10000_images"] * 5000 / result["num_samples"])
        report["importance_sampling"] = result

    report["ratio_denominators"] = {"is_seconds": IS_SECONDS_TARGET,
                                    "is_memory_mib": IS_MEMORY_TARGET_MIB}
    report["ratios"] = ratios(report)
    finished = datetime.datetime.now(datetime.timezone.utc)
    report["finished_utc"] = finished.isoformat(timespec="seconds")
    report["load_average"]["end"] = load_average()
    disturbed = [n for n, e in report["contenders"].items() if e.get("others_cpu_fraction", 0) > 0.1]
    report["loaded"] = bool(report["load_average"]["start"]["1min"] > 0.5 * (os.cpu_count() or 1)
                            or disturbed)
    report["loaded_rule"] = ("1-minute load average above half the core count at start, or other "
                             "processes using more than 10% of the CPU time during a contender")
    report["failures"] = [{"what": w, "error": e} for w, e in failures]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    print(terminal_table(report))
    print(f"\nwritten: {args.out}")
    if not args.no_plot:
        from benchmarks import plot

        chart = plot.draw(report, args.out.with_name(
            "throughput.png" if args.out.name == "latest.json" else args.out.stem + ".png"))
        print(f"chart:   {chart}")
    if failures:
        for what, error in failures:
            log(f"FAILED {what}: {error}")
        return 1
    return 0


def _lookup(report, path):
    node = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def ratios(report):
    """Each ratio as {numerator, denominator (paths into the report), value, target, meets_target}."""
    fastest = report.get("vaelib_fastest")
    entries = []

    def add(name, numerator, denominator, target, better):
        a, b = _lookup(report, numerator), _lookup(report, denominator)
        if a is None or b is None or b == 0:
            return
        value = a / b
        meets = None if target is None else (value >= target if better == "higher" else value <= target)
        entries.append({"name": name, "numerator": numerator, "denominator": denominator,
                        "value": value, "target": target, "better": better, "meets_target": meets})

    vaelib = [n for n, e in report["contenders"].items() if e["group"] == "vaelib"]
    baselines = [n for n, e in report["contenders"].items() if e["group"] != "vaelib"]
    targets = {(n, d): t for n, d, t in THROUGHPUT_TARGETS}
    for v in vaelib:
        for b in baselines:
            target = targets.get((v, b))
            if target is None and v == fastest:
                target = targets.get(("vaelib_fastest", b))
            add(f"{v} / {b}", f"contenders.{v}.examples_per_s", f"contenders.{b}.examples_per_s",
                target, "higher")
        add(f"{v} / matmul limit", f"contenders.{v}.examples_per_s", "hardware.limit_examples_per_s",
            LIMIT_TARGET if v == fastest else None, "higher")
        add(f"{v} / model-shape matmul limit", f"contenders.{v}.examples_per_s",
            "hardware.model_shape_limit_examples_per_s", None, "higher")
    if fastest:
        for b in TIME_TO_QUALITY_BASELINES:
            add(f"time to {TARGET_NATS:g} nats: {fastest} / {b}",
                f"time_to_quality.{fastest}.seconds_to_target",
                f"time_to_quality.{b}.seconds_to_target",
                TTQ_TARGET if b == "pytorch_eager" else None, "lower")
    report_is = report.get("importance_sampling", {})
    if report_is.get("num_samples") == 5000 and report_is.get("num_images") == 10_000:
        add("importance sampling seconds / 300 s", "importance_sampling.seconds",
            "ratio_denominators.is_seconds", 1.0, "lower")
    else:
        add("importance sampling seconds (extrapolated to k = 5000, 10,000 digits) / 300 s",
            "importance_sampling.seconds_for_10000_images_k5000",
            "ratio_denominators.is_seconds", 1.0, "lower")
    add("importance sampling peak memory / 2 GiB", "importance_sampling.peak_rss_mib",
        "ratio_denominators.is_memory_mib", 1.0, "lower")
    return entries


if __name__ == "__main__":
    sys.exit(main())
