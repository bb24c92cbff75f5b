"""The benchmark's tables in Markdown, for the README and the book: `python -m benchmarks.report`.

Reads a result file of `benchmarks.run` (default `results/latest.json`) and,
with `--before`, the run it is compared with (default
`results/before_speed_work.json`), and writes `results/latest.md`: the
machine, the throughput of every contender, time-to-quality, the
importance-sampling cost, and every targeted ratio before and after. The same
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

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- benchmarks: begin (python -m benchmarks.report) -->", "<!-- benchmarks: end -->"


def _settings(entry):
    s = entry.get("settings", {})
    parts = []
    if "jit_compile" in s:
        parts.append(f"XLA {'on' if s['jit_compile'] else 'off'}")
    if s.get("steps_per_execution", 1) != 1:
        parts.append(f"{s['steps_per_execution']} steps per call")
    if s.get("compile"):
        parts.append("torch.compile")
    return ", ".join(parts)


def _ratio_value(ratio):
    return f"{ratio['value']:.2f}"


def _target(ratio):
    return f"{'≥' if ratio['better'] == 'higher' else '≤'} {ratio['target']:g}"


def markdown(after, before=None):
    """The tables of result `after` (a dict, as in the JSON), with `before`'s ratios beside."""
    m, v, hw, load = after["machine"], after["versions"], after["hardware"], after["load_average"]
    lines = [
        f"Measured by `{after['command']}` ({after['label'] or after['mode']}, "
        f"{after['started_utc'][:10]}) on {m['cpu_model']}, {m['logical_cores']} cores, "
        f"{m['memory_gib']:.0f} GiB, no GPU; load average {load['start']['1min']:.2f} at the start. "
        f"Keras {v['keras']}, TensorFlow {v['tensorflow-cpu'] or v['tensorflow']}, JAX {v['jax']}, "
        f"PyTorch {v['torch']}, NumPy {v['numpy']}.",
        "",
        f"The hardware limit: float32 matmul at {hw['large_matmul_gflops']:.0f} GFLOP/s "
        f"(n = {hw['large_matmul_n']}) and {hw['model_shape_matmul_gflops']:.0f} GFLOP/s at the "
        f"model's shapes; one training example costs {hw['training_flops_per_example'] / 1e6:.2f} "
        f"MFLOP, so the CPU cannot train more than {hw['limit_examples_per_s']:,.0f} examples/s.",
        "",
        "| contender | examples/s | % of the limit | settings |",
        "|---|---:|---:|---|",
    ]
    rows = sorted((e for e in after["contenders"].values() if "examples_per_s" in e),
                  key=lambda e: -e["examples_per_s"])
    for e in rows:
        name = f"**{e['label']}**" if e["group"] == "vaelib" else e["label"]
        lines.append(f"| {name} | {e['examples_per_s']:,.0f} | {100 * e['fraction_of_limit']:.0f}% "
                     f"| {_settings(e)} |")
    eager = after["contenders"].get("pytorch_eager", {}).get("examples_per_s")
    if eager:
        lines += ["", f"For scale: 2.3 times the eager PyTorch loop would be {2.3 * eager:,.0f} "
                  f"examples/s, {100 * 2.3 * eager / hw['limit_examples_per_s']:.0f}% of the limit."]
    ttq = {n: t for n, t in after.get("time_to_quality", {}).items() if "test_nelbo" in t}
    if ttq:
        lines += ["", f"Time until the test −ELBO first drops below {after['settings']['target_nats']:g} "
                  "nats (training time, evaluation excluded):", "",
                  "| contender | seconds | epochs |", "|---|---:|---:|"]
        for name, t in ttq.items():
            label = after["contenders"][name]["label"]
            if t.get("seconds_to_target") is None:
                lines.append(f"| {label} | not reached | {len(t['test_nelbo'])} |")
            else:
                lines.append(f"| {label} | {t['seconds_to_target']:.1f} | {t['reached_at_epoch']} |")
    s = after.get("importance_sampling", {})
    if "seconds" in s:
        lines += ["", f"Importance-sampled log-likelihood (`vaelib.evaluation.log_likelihood`, "
                  f"{s['backend']}): k = {s['num_samples']:,} on {s['num_images']:,} test digits in "
                  f"{s['seconds']:.0f} s"
                  + ("" if s["num_images"] == 10_000 and s["num_samples"] == 5000 else
                     f" ({s['seconds_for_10000_images_k5000']:.0f} s for k = 5,000 on all 10,000)")
                  + f", peak memory {s['peak_rss_mib']:,.0f} MiB."]
    earlier = {r["name"]: r for r in (before or {}).get("ratios", [])}
    targeted = [r for r in after["ratios"] if r["target"] is not None]
    if targeted:
        lines += ["", "| ratio | target | " + ("before | " if before else "") + "now | met |",
                  "|---|---|" + ("---:|" if before else "") + "---:|---|"]
        for r in targeted:
            was = earlier.get(r["name"])
            if before and was is None:  # measured on all digits now, extrapolated before (or back)
                was = next((w for w in earlier.values() if r["name"].startswith("importance sampling seconds")
                            and w["name"].startswith("importance sampling seconds")), None)
            cells = [r["name"], _target(r)]
            if before:
                cells.append(_ratio_value(was) if was else "")
            cells += [_ratio_value(r), "yes" if r["meets_target"] else "**no**"]
            lines.append("| " + " | ".join(cells) + " |")
        if before:
            lines += ["", "\"before\" is the same ratio in the run before the speed work. The fastest "
                      f"vaelib backend was {before['vaelib_fastest']} then and is "
                      f"{after['vaelib_fastest']} now.",
                      "", f"\"before\": `{before['command']}` ({before['label']}, "
                      f"{before['started_utc'][:10]}, {before['machine']['cpu_model']}, "
                      f"{before['machine']['logical_cores']} cores)."]
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
    p.add_argument("--before", type=Path, default=RESULTS / "before_speed_work.json")
    p.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = p.parse_args(argv)
    before = json.loads(args.before.read_text()) if args.before.exists() else None
    block = markdown(json.loads(args.result.read_text()), before)
    out = args.result.with_suffix(".md")
    out.write_text(block)
    print(f"wrote {out}")
    if not args.no_readme:
        README.write_text(replace_block(README.read_text(), block))
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
