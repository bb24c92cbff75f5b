"""The benchmark's tables in Markdown, for the README and the book: `python -m benchmarks.report`.

Reads a result file of `benchmarks.run` (default `results/latest.json`) and
writes `results/latest.md` for readers: what vaelib's fastest backend achieves,
the throughput of every contender against the CPU's limit, time-to-quality,
the importance-sampling cost, and every goal with its measured ratio. The same
Markdown replaces the block between the `benchmarks` markers of README.md;
the book's Performance page includes the file. `tests/test_benchmarks.py`
checks that both are what the committed result files give, so no figure is
typed by hand.
"""

import argparse
import json
import math
import sys
from pathlib import Path

from benchmarks.common import TARGET_NATS

_BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- benchmarks: begin (python -m benchmarks.report) -->", "<!-- benchmarks: end -->"


def _settings(entry):
    s = entry.get("settings", {})
    parts = []
    if "jit_compile" in s:
        parts.append("XLA" if s["jit_compile"] else "")
    if s.get("steps_per_execution", 1) != 1:
        parts.append(f"{s['steps_per_execution']} steps per call")
    return ", ".join(p for p in parts if p)


def _readable(name, after):
    """A ratio's name (`vaelib_jax / pytorch_eager`) with the contenders' labels."""
    labels = {n: e["label"] for n, e in after["contenders"].items()}
    labels.update({"matmul limit": "the CPU's matmul limit", "300 s": "300 s",
                   "2 GiB": "2 GiB"})
    prefix, _, ratio = name.rpartition(": ")
    parts = [labels.get(part.strip(), part.strip()) for part in ratio.split(" / ")]
    text = " ÷ ".join(parts)
    return f"{prefix}: {text}" if prefix else text


def markdown(after):
    """The tables of a result (a dict, as in the JSON), written for the book's readers."""
    m, v, hw, load = after["machine"], after["versions"], after["hardware"], after["load_average"]
    contenders = after["contenders"]
    rates = {n: e["examples_per_s"] for n, e in contenders.items() if "examples_per_s" in e}
    fastest = after["vaelib_fastest"]
    plain = fastest.replace("vaelib_", "keras_fit_")
    lines = [
        f"On a {m['logical_cores']}-core CPU ({m['cpu_model']}, {m['memory_gib']:.0f} GiB, no GPU), "
        f"`vaelib` trains the recipe at **{rates[fastest]:,.0f} examples/s** with "
        f"{contenders[fastest]['label'].split(', ')[-1]}: "
        f"{rates[fastest] / rates[plain]:.2f} times the plain Keras model on the same backend and "
        f"{rates[fastest] / rates['pytorch_eager']:.2f} times the pytorch/examples loop in eager "
        f"PyTorch. No implementation of this network can exceed "
        f"{hw['limit_examples_per_s']:,.0f} examples/s on this CPU: its float32 matmul rate "
        f"({hw['large_matmul_gflops']:.0f} GFLOP/s) over the "
        f"{hw['training_flops_per_example'] / 1e6:.2f} MFLOP that one training example costs.",
        "",
        "| how the VAE is written | examples/s | of the limit |",
        "|---|---:|---:|",
    ]
    for e in sorted((e for e in contenders.values() if "examples_per_s" in e),
                    key=lambda e: -e["examples_per_s"]):
        settings = _settings(e)
        name = e["label"] + (f" ({settings})" if settings else "")
        name = f"**{name}**" if e["group"] == "vaelib" else name
        lines.append(f"| {name} | {e['examples_per_s']:,.0f} | {100 * e['fraction_of_limit']:.0f}% |")
    ttq = {n: t for n, t in after.get("time_to_quality", {}).items() if "test_nelbo" in t}
    if ttq:
        lines += ["", f"Training time until the test −ELBO first drops below "
                  f"{after['settings']['target_nats']:g} nats:", "",
                  "| how the VAE is written | seconds | epochs |", "|---|---:|---:|"]
        for name, t in ttq.items():
            label = contenders[name]["label"]
            if t.get("seconds_to_target") is None:
                lines.append(f"| {label} | not reached | {len(t['test_nelbo'])} |")
            else:
                lines.append(f"| {label} | {t['seconds_to_target']:.1f} | {t['reached_at_epoch']} |")
    s = after.get("importance_sampling", {})
    if "seconds" in s:
        lines += ["", f"Chapter 7's importance-sampled log-likelihood (`vaelib.evaluation."
                  f"log_likelihood`, {_BACKENDS.get(s['backend'], s['backend'])}), k = {s['num_samples']:,} on "
                  f"{s['num_images']:,} test digits: {s['seconds']:.0f} s"
                  + ("" if s["num_images"] == 10_000 and s["num_samples"] == 5000 else
                     f" ({s['seconds_for_10000_images_k5000']:.0f} s for k = 5,000 on all 10,000)")
                  + f", at most {s['peak_rss_mib']:,.0f} MiB of memory."]
    targeted = [r for r in after["ratios"] if r["target"] is not None]
    if targeted:
        lines += ["", "The goals set for `vaelib`, and where it stands:", "",
                  "| ratio | goal | measured | |", "|---|---:|---:|---|"]
        for r in targeted:
            goal = f"{'≥' if r['better'] == 'higher' else '≤'} {r['target']:g}"
            value = f"{r['value']:.2f}"
            if value == f"{r['target']:.2f}":  # 0.503 against 0.5: not "0.50, not met"
                value = f"{r['value']:.3f}"
            lines.append(f"| {_readable(r['name'], after)} | {goal} | {value} | "
                         f"{'met' if r['meets_target'] else 'not met'} |")
    lines += ["", f"Measured by `{after['command']}` on {after['started_utc'][:10]}, with Keras "
              f"{v['keras']}, TensorFlow {v['tensorflow-cpu'] or v['tensorflow']}, JAX {v['jax']}, "
              f"PyTorch {v['torch']} and NumPy {v['numpy']}; the 1-minute load average was "
              f"{load['start']['1min']:.2f} at the start. Each figure is one run: on this machine "
              "a figure can differ by ±30% from one run to the next, and a single contender "
              "now and then by a factor of 2 (vaelib on TensorFlow has measured both), so "
              "compare ratios measured in the same run, and repeat a run before trusting one "
              "figure."]
    return "\n".join(lines) + "\n"


def terminal_table(report):
    """The result as the plain-text table `benchmarks.run` prints when it finishes."""
    hw = report.get("hardware", {})
    lines = []
    m, load = report["machine"], report["load_average"]
    lines.append(f"\n{m['cpu_model']}, {m['logical_cores']} logical cores; load average "
                 f"{load['start']['1min']:.2f} at start, {load['end']['1min']:.2f} at end"
                 + ("  ** LOADED: figures are distorted **" if report["loaded"] else ""))
    if "limit_examples_per_s" in hw:
        lines.append(f"matmul limit: {hw['large_matmul_gflops']:.1f} GFLOP/s (n = "
                     f"{hw['large_matmul_n']}), {hw['model_shape_matmul_gflops']:.1f} GFLOP/s at "
                     f"the model's shapes; {hw['training_flops_per_example'] / 1e6:.2f} MFLOP per "
                     f"training example -> {hw['limit_examples_per_s']:,.0f} and "
                     f"{hw['model_shape_limit_examples_per_s']:,.0f} examples/s")
    lines.append("")
    header = (f"{'contender':48s} {'examples/s':>10s} {'% limit':>8s} {'% model':>8s} "
              f"{'epoch s':>8s} {'peak MiB':>9s} {'others':>7s}")
    lines += [header, "-" * len(header)]
    for name, e in report["contenders"].items():
        if "examples_per_s" not in e:
            lines.append(f"{e['label']:48s} {e.get('skipped') or 'FAILED'}")
            continue
        lines.append(
            f"{e['label']:48s} {e['examples_per_s']:10,.0f} "
            f"{100 * e.get('fraction_of_limit', math.nan):7.1f}% "
            f"{100 * e.get('fraction_of_model_shape_limit', math.nan):7.1f}% "
            f"{e['median_epoch_seconds']:8.2f} {e['peak_rss_mib']:9.0f} "
            f"{100 * e['others_cpu_fraction']:6.0f}%")
    if report["time_to_quality"]:
        lines.append(f"\ntime to test -ELBO < {TARGET_NATS:g} nats:")
        for name, t in report["time_to_quality"].items():
            if t.get("seconds_to_target") is not None:
                lines.append(f"  {name:28s} {t['seconds_to_target']:8.1f} s (epoch "
                             f"{t['reached_at_epoch']})")
            elif "test_nelbo" in t:
                lines.append(f"  {name:28s} not reached in {len(t['test_nelbo'])} epochs "
                             f"(last {t['test_nelbo'][-1]:.1f} nats)")
            else:
                lines.append(f"  {name:28s} {t.get('skipped') or 'FAILED'}")
    s = report.get("importance_sampling")
    if s and "seconds" in s:
        lines.append(f"\nimportance sampling, k = {s['num_samples']}, {s['num_images']} digits "
                     f"({s['backend']}): {s['seconds']:.1f} s, peak {s['peak_rss_mib']:.0f} MiB; "
                     f"k = 5000 on 10,000 digits would take "
                     f"{s['seconds_for_10000_images_k5000']:.0f} s")
    lines.append("\nratios (target):")
    for r in report["ratios"]:
        target = "" if r["target"] is None else (
            f"  ({'>=' if r['better'] == 'higher' else '<='} {r['target']:g}: "
            f"{'met' if r['meets_target'] else 'NOT met'})")
        lines.append(f"  {r['name']:66s} {r['value']:8.3f}{target}")
    return "\n".join(lines)



def replace_block(text, block):
    """`text` with the part between the markers replaced by `block`."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + text[end:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("result", nargs="?", type=Path, default=RESULTS / "latest.json")
    p.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = p.parse_args(argv)
    block = markdown(json.loads(args.result.read_text()))
    out = args.result.with_suffix(".md")
    out.write_text(block)
    print(f"wrote {out}")
    if not args.no_readme:
        README.write_text(replace_block(README.read_text(), block))
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
