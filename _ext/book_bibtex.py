"""The bibliography labelled as the text cites: "[Kingma and Welling, 2013]", not "[KW13]".

The text cites author–year (`bibtex_reference_style: author_year`), but sphinxcontrib-bibtex
labels the entries of the bibliography with its default formatting style, "alpha", whose labels
read [SonderbyRMaaloe+16]. `vaebook` is that style with labels written the way the author–year
citations are: the last names of one or two authors joined by "and", the first author and
"et al." for three or more, a comma and the year (with a, b, ... when two works would share a
label). It is registered as a pybtex plugin and selected with `bibtex_default_style` in
`_config.yml`.
"""

import collections
import string

import pybtex.plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle

STYLE = "vaebook"
LABELS = "vaebook_author_year"


def _last_name(person):
    parts = person.rich_prelast_names + person.rich_last_names
    return " ".join(part.render_as("text") for part in parts)


def author_year(entry):
    """'Kingma and Welling, 2013', 'Sønderby et al., 2016', as the author–year citations read."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        counts = collections.Counter(labels)
        seen = collections.Counter()
        for label in labels:
            if counts[label] > 1:
                suffix = string.ascii_lowercase[seen[label]]
                seen[label] += 1
                yield label + suffix
            else:
                yield label


class Style(AlphaStyle):
    """pybtex's "alpha" (sorted by author, year, title), labelled author–year."""

    default_label_style = LABELS


def register():
    pybtex.plugin.register_plugin("pybtex.style.labels", LABELS, AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", STYLE, Style)
