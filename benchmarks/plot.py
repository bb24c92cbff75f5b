"""The bar chart of training throughput: `python -m benchmarks.plot [results.json [chart.png]]`.

Draws examples per second for every contender of a `benchmarks.run` result,
vaelib's bars in one colour and the baselines' in another, with the machine,
its load and the matmul limit in the title.
"""

import json
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def draw(report, path):
    """Write the chart of `report` (a dict, as in the JSON) to `path`; return the path.

    Drawn in the book's figure style (`vaebook.style`), as wide as the website's column
    and saved at 2x, since the README and the book's Performance page show it.
    """
    from vaebook import style

    style.use()
    rows = [(e["label"], e["examples_per_s"], e["group"])
            for e in report["contenders"].values() if "examples_per_s" in e]
    rows.sort(key=lambda row: row[1])
    fig, ax = plt.subplots(figsize=(style.FULL_WIDTH, 0.32 * len(rows) + 1.4))
    colours = {"vaelib": "C0", "pytorch": "C1", "keras": "C2"}
    bars = ax.barh([r[0] for r in rows], [r[1] for r in rows],
                   color=[colours.get(r[2], "C7") for r in rows])
    for bar, (_, rate, _) in zip(bars, rows):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {rate:,.0f}",
                va="center", fontsize=style.SMALL_PT)
    ax.set_xlabel("training examples per second")
    hw = report.get("hardware", {})
    if "limit_examples_per_s" in hw:
        ax.set_title(f"{report['machine']['logical_cores']}-core CPU; its matmul rate allows at "
                     f"most {hw['limit_examples_per_s']:,.0f} examples/s", loc="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, ["vaelib", "PyTorch baselines", "Keras baselines"], loc="lower right")
    ax.margins(x=0.18)
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    path = Path(path)
    style.save(fig, path)
    plt.close(fig)
    return path


def main(argv):
    source = Path(argv[0]) if argv else RESULTS / "latest.json"
    target = Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png")
    print(draw(json.loads(source.read_text()), target))


if __name__ == "__main__":
    main(sys.argv[1:])
