"""The one matplotlib style of the book's figures, sized for the website's content column.

How a chapter uses it, in its imports cell (after `import matplotlib.pyplot as plt`)::

    from vaebook import style
    style.use()

and then draws every figure at one of the widths below, e.g.
``fig, axes = plt.subplots(1, 2, figsize=style.figsize(style.FULL_WIDTH, 0.4))``. Do not call
``fig.tight_layout()`` or save with ``bbox_inches="tight"``: the style lays figures out with
matplotlib's constrained layout, and a figure must keep the width it was drawn for.

The numbers, and why (e2e/test_site.py checks them on the built site):

- **The column.** At 1280 px the website's content column is 720 CSS px wide (`_static/book.css`).
  A figure is drawn in inches at ``DPI = 96`` CSS px per inch, so `FULL_WIDTH` (7.5 in) is the
  whole column, `HALF_WIDTH` (3.75 in) half of it, for a small plot that needs no more, and
  `WIDE_WIDTH` (10.2 in, 979 px) the width of a cell tagged ``full-width`` (the theme then lets
  it run over the page-contents margin on a desktop, 136 % of the column): for a grid of many
  panels, such as the replication of the paper's Fig. 2. Wider than its column, a figure is
  shrunk to fit, and its text with it.
- **The text.** The smallest text (tick labels, legends: `SMALL_PT`, 9 pt) is 12 CSS px at
  those widths, the labels and titles (`TEXT_PT`, 10 pt) 13.3 px; nothing may be smaller than
  `MIN_TEXT_PT` (8.25 pt, 11 px), the least the browser test accepts where the figure is shown.
- **2× resolution.** In a notebook (Jupyter, Colab, and the notebooks the website is built
  from), `use()` makes every figure a PNG of twice its pixel size, with width and height
  metadata that tell the page to show it at its intended size: sharp on high-DPI screens,
  the same size everywhere. The PNG also records the size of its smallest text
  (`TEXT_SIZE_KEY`), which the browser test reads to check the text is legible as shown.
  A figure made outside a notebook (a script under tools/ or benchmarks/) is written with
  ``style.save(fig, path)``, the same PNG, and shown on a page at half its pixel width.
"""

import io
import json
import struct
import zlib

import matplotlib as mpl
from matplotlib.text import Text

DPI = 96  # CSS px per inch: the scale at which a figure is shown
SCALE = 2  # device pixels per CSS px of the PNGs
COLUMN_PX = 720  # the content column at 1280 px, _static/book.css
FULL_WIDTH = COLUMN_PX / DPI  # 7.5 in
HALF_WIDTH = FULL_WIDTH / 2  # 3.75 in
WIDE_WIDTH = round(1.36 * COLUMN_PX) / DPI  # 10.2 in: a cell tagged `full-width`
TEXT_PT = 10.0
SMALL_PT = 9.0
MIN_TEXT_PT = 8.25  # 11 CSS px
TEXT_SIZE_KEY = "vaebook-text"  # the PNG text chunk: {"min_text_pt": ..., "dpi": ..., "scale": ...}

RC = {
    "figure.dpi": DPI,
    "figure.figsize": (FULL_WIDTH, 0.45 * FULL_WIDTH),
    "figure.constrained_layout.use": True,
    "savefig.dpi": SCALE * DPI,
    "savefig.bbox": None,
    "font.size": TEXT_PT,
    "axes.titlesize": TEXT_PT,
    "axes.labelsize": TEXT_PT,
    "figure.titlesize": TEXT_PT + 1,
    "legend.fontsize": SMALL_PT,
    "legend.title_fontsize": SMALL_PT,
    "xtick.labelsize": SMALL_PT,
    "ytick.labelsize": SMALL_PT,
    "lines.linewidth": 1.5,
    "axes.linewidth": 0.8,
    "legend.frameon": False,
}


def figsize(width=FULL_WIDTH, aspect=0.45):
    """(width, height) in inches for `plt.subplots(figsize=...)`: height = aspect × width."""
    return (width, aspect * width)


def use():
    """Apply the book's style to every figure drawn from now on (and, in a notebook, 2× PNGs)."""
    mpl.rcParams.update(RC)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    if "inline" in str(mpl.rcParams._get("backend")):
        # The inline backend sets its own formatter when it is first loaded (usually at the first
        # figure): load it now, so that it does so before this one replaces it.
        import matplotlib_inline.backend_inline  # noqa: F401
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, png)


def smallest_text_pt(fig):
    """The size in points of the smallest text the figure shows (None if it shows none)."""
    sizes = [t.get_fontsize() for t in _shown_texts(fig)]
    return min(sizes) if sizes else None


def png(fig):
    """The figure as a 2× PNG, base64, with the metadata that shows it at its size in CSS px."""
    import base64

    if not fig.axes and not fig.lines and not fig.texts:
        return None
    data = _png_bytes(fig)
    width, height = struct.unpack(">II", data[16:24])
    return base64.b64encode(data).decode("ascii"), {"width": width // SCALE, "height": height // SCALE}


def save(fig, path):
    """Write the figure to `path` as the book's notebooks show it: a 2× PNG that records its
    smallest text. For figures made outside a notebook (tools/, benchmarks/) that a page shows
    with a ``{figure}`` directive: shown at half its pixel width, it has its intended size."""
    with open(path, "wb") as f:
        f.write(_png_bytes(fig))


def _png_bytes(fig):
    buffer = io.BytesIO()
    fig.canvas.print_figure(buffer, format="png", dpi=SCALE * fig.dpi, bbox_inches=None,
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    text = {"min_text_pt": smallest_text_pt(fig), "dpi": fig.dpi, "scale": SCALE}
    return _add_text_chunk(buffer.getvalue(), TEXT_SIZE_KEY, json.dumps(text, sort_keys=True))


def _shown_texts(artist, visible=True):
    visible = visible and artist.get_visible()
    if not visible:
        return
    if isinstance(artist, Text) and artist.get_text().strip():
        yield artist
    for child in artist.get_children():
        yield from _shown_texts(child, visible)


def _add_text_chunk(data, key, value):
    """The PNG `data` with a tEXt chunk `key: value` after its header chunk."""
    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
    return data[:end_of_header] + chunk + data[end_of_header:]
