"""The bar chart of training throughput: `python -m benchmarks.plot [results.json [chart.png]]`.

Draws examples per second for every contender of a `benchmarks.run` result,
vaelib's bars in one colour and the baselines' in another, with the machine,
its load and the matmul limit in the title.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def draw(report, path):
    """Write the chart of `report` (a dict, as in the JSON) to `path`; return the path."""
    rows = [(e["label"], e["examples_per_s"], e["group"])
            for e in report["contenders"].values() if "examples_per_s" in e]
    rows.sort(key=lambda row: row[1])
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.8))
    colours = {"vaelib": "C0", "pytorch": "C1", "keras": "C2"}
    bars = ax.barh([r[0] for r in rows], [r[1] for r in rows],
                   color=[colours.get(r[2], "C7") for r in rows])
    for bar, (_, rate, _) in zip(bars, rows):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {rate:,.0f}",
                va="center", fontsize=8)
    ax.set_xlabel("training examples per second (median epoch after a warm-up epoch)")
    m, hw = report["machine"], report.get("hardware", {})
    title = f"{m['cpu_model']}, {m['logical_cores']} cores"
    if "limit_examples_per_s" in hw:
        title += (f"; matmul limit {hw['limit_examples_per_s']:,.0f} examples/s "
                  f"({hw['large_matmul_gflops']:.0f} GFLOP/s)")
    title += f"\nmode: {report['mode']}"
    if report.get("loaded"):
        title += f", LOADED machine (load {report['load_average']['start']['1min']:.1f} at start)"
    ax.set_title(title, fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, ["vaelib", "PyTorch baselines", "Keras baselines"], loc="lower right",
              fontsize=8)
    ax.margins(x=0.15)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv):
    source = Path(argv[0]) if argv else RESULTS / "latest.json"
    target = Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png")
    print(draw(json.loads(source.read_text()), target))


if __name__ == "__main__":
    main(sys.argv[1:])
