"""The one matplotlib style of the book's figures: `vaebook.style.use()` in a chapter's setup.

A first version; its sizes are to be chosen for the width of the website's content column.
"""

import matplotlib as mpl

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
}


def use():
    """Apply the book's style to every figure drawn from now on."""
    mpl.rcParams.update(RC)
