"""Each chapter reads as a tutorial: its visible code teaches, and its prose has a length limit.

`tools/book_stats.py` counts, per chapter, the prose words a reader sees and the visible code
lines that only verify (asserts, glue calls, tolerance bookkeeping, "...: True" reports); its
docstring says exactly what it counts. The checks stay in the notebooks (nbval runs them), but
folded (`hide-input`) or in cells of their own, so that at most 5% of the code a reader sees is
checking code, and a chapter longer than 4,200 words of prose is split.

The first tests pin down the counting rules on small examples; the last ones apply the limits.
"""

import json

import pytest

from tools import book_stats

MAX_CHECK_SHARE = 0.05
MAX_PROSE_WORDS = 4200

STATS = book_stats.book_stats()


# --- the counting rules -------------------------------------------------------------------------

def test_prose_leaves_out_math_code_options_and_solutions():
    text = "\n".join([
        "## A title",
        "",
        "The bound $\\mathcal{L}$ is {cite:p}`kingma2013autoencoding` tight, see `vaelib.losses`.",
        "",
        "$$",
        "\\log p(x) \\geq \\mathcal{L}",
        "$$ (eq-label)",
        "",
        "```python",
        "print('not prose')",
        "```",
        "",
        "```{exercise}",
        ":label: ex-1",
        "Prove it.",
        "```",
        "",
        "````{solution} ex-1",
        ":class: dropdown",
        "By Jensen's inequality.",
        "```python",
        "x = 1",
        "```",
        "````",
        "- [a link](https://example.org) here",
    ])
    prose, solutions = book_stats.split_markdown(text)
    # A, title, The, bound, is, ROLE, tight, see, CODE | Prove, it. | a, link, here
    assert book_stats.count_words(prose) == 9 + 2 + 3
    assert book_stats.count_words(solutions) == 3  # By Jensen's inequality.


def test_details_and_gated_solutions_are_folded():
    text = "\n".join([
        "Question?",
        "<details><summary>Solution</summary>",
        "Answer in four words.",
        "</details>",
        "```{solution-start} ex-2",
        "```",
        "Gated answer.",
        "```{solution-end}",
        "```",
        ":::{note}",
        "A note.",
        ":::",
    ])
    prose, solutions = book_stats.split_markdown(text)
    assert book_stats.count_words(prose) == 3  # Question? A note.
    assert book_stats.count_words(solutions) == 6


def test_check_lines_count_whole_statements():
    source = "\n".join([
        "import numpy as np",
        "from myst_nb import glue",
        "x = np.linspace(0, 1, 11)",  # teaches
        "ok = np.allclose(x.sum(),",  # tolerance bookkeeping, two lines
        "                 5.5)",
        "assert ok, (",  # an assert over three lines
        "    x.sum()",
        ")",
        "glue('total', f'{x.sum():.1f}',",
        "     display=False)",
        "print(f'sum of x = {x.sum():.1f}: True')",
        "print('the sum is', x.sum())",  # teaches
        "for value in x:",  # a loop of checks only
        "    assert abs(value) <= 1",
        "",
        "%time y = x ** 2",
    ])
    lines, checks = book_stats.count_code(source)
    assert lines == 15
    assert checks == 1 + 2 + 3 + 2 + 1 + 2


def test_a_print_of_an_asserted_name_reports_a_check():
    source = "checks = {'a': abs(1 - 1) < 1e-9}\nfor name, passed in checks.items():\n" \
             "    assert passed, name\n    print(f'{name}: {passed}')\n"
    assert book_stats.count_code(source) == (4, 4)


def test_folded_and_removed_inputs_are_not_visible(tmp_path):
    def cell(tags=(), **mystnb):
        metadata = {"tags": list(tags)}
        if mystnb:
            metadata["mystnb"] = mystnb
        return {"cell_type": "code", "metadata": metadata, "source": "assert True\n",
                "outputs": [], "execution_count": None}

    notebook = {"cells": [cell(), cell(["hide-input"]), cell(["remove-cell"]), cell(["hide-cell"]),
                          cell(["remove_input"]), cell(remove_code_source=True), cell(["hide-output"])],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(notebook))
    stats = book_stats.chapter_stats(path)
    assert (stats.code_lines, stats.check_lines, stats.hidden_code_lines) == (2, 2, 5)


def test_the_table_has_a_row_per_chapter_and_a_total():
    table = book_stats.markdown_table(STATS)
    assert len(table.splitlines()) == 2 + len(STATS) + 1
    assert table.splitlines()[-1].startswith("| **total** |")


# --- the limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stats", STATS, ids=lambda s: s.chapter)
def test_visible_code_is_mostly_teaching(stats):
    assert stats.check_share <= MAX_CHECK_SHARE, (
        f"{stats.chapter}: {stats.check_lines} of its {stats.code_lines} visible code lines "
        f"({100 * stats.check_share:.1f}%) only check; fold them (hide-input) or move them to "
        f"cells of their own, to at most {100 * MAX_CHECK_SHARE:.0f}%"
    )


@pytest.mark.parametrize("stats", STATS, ids=lambda s: s.chapter)
def test_chapter_prose_has_a_readable_length(stats):
    assert stats.prose_words <= MAX_PROSE_WORDS, (
        f"{stats.chapter}: {stats.prose_words:,} words of prose, more than {MAX_PROSE_WORDS:,}; "
        "split the chapter"
    )
