"""Small fixes to the book's HTML, loaded through `sphinx.local_extensions` in `_config.yml`.

- **Each inline script once.** sphinx-thebe 0.3.1 registers its inline
  `const THEBE_JS_URL = ...` script after the HTML builder has collected the
  extensions' scripts, and Sphinx 7.4 then lists it twice (once as `None`, once
  as `''`), so every page raised "Identifier 'THEBE_JS_URL' has already been
  declared" in the reader's console. The browser test (`e2e/test_site.py`)
  fails on any console error.
- **MathJax on every page.** Sphinx adds MathJax only to pages whose body has
  math, but the sidebar of every page shows Chapter 7's title, which has math
  (`$\\log p(x)$`): on the part overviews, the bibliography, the search page and
  the indexes it stayed raw TeX. The "always" assets policy loads it everywhere.
- **No top bar.** The book's search field is in the navigation sidebar; the theme's top
  bar (`navbar_persistent`) is switched off explicitly. pydata-sphinx-theme 0.17.1 fills
  `navbar_persistent` in when it is not set, overriding sphinx-book-theme's empty default:
  the page then got a second header with a second search box, and a second ☰ and
  page-contents button ahead of the visible ones, which is where both themes' scripts
  attached their click handlers (`document.querySelector(".primary-toggle")`), so the
  visible buttons did nothing. requirements.txt pins a pair of theme versions that works;
  this setting keeps the header off with the next pair too.
- **No repeated word before a reference.** `{ref}` to an exercise and `{prf:ref}` to a
  proposition already read "Exercise 4.2", "Proposition 5.1", so "Exercise {ref}`...`" in the
  text rendered "Exercise Exercise 4.2". The word written before such a reference is dropped.
- **Search.** The search index leaves out code cells, their outputs and display math, and
  holds math as plain text (`book_tex.tex_to_text`), so that titles and snippets in the
  results show no raw TeX; `_static/book.js` does the same to the snippets. `book_index`
  in `_config.yml` adds index entries (the general index, genindex.html) for the book's
  main terms, which the search ranks above any word in the text: "ELBO" finds Chapter 2 first.
- **Window titles without TeX.** The `<title>` of Chapter 7 read "Estimating \\(\\log p(x)\\)";
  math in a page's title is written there as plain text, as in the search index.
- **Bibliography labels** author–year, as the citations read (`book_bibtex`).
- **Numbers within the chapter.** Without a numbered table of contents Sphinx numbers
  figures, tables, equations, propositions and exercises through the whole book, so
  Chapter 1's first figure was "Fig. 4", beside the paper's own "Fig. 1". They are numbered
  within their page instead, after the chapter's number on a chapter: "Fig. 1.1", "(4.3)".
"""

import json
import re

from docutils import nodes
from docutils.transforms import Transform
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

import book_bibtex
import book_tex


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = tuple(sorted(getattr(script, "attributes", {}).items()))
        if (filename, attributes) not in seen:
            seen.add((filename, attributes))
            unique.append(script)
    scripts[:] = unique  # the builder restores its own list after every page


def _plain_window_title(app, pagename, templatename, context, doctree):
    """The window's title (and bookmarks') cannot typeset math: "Estimating log p(x)", not TeX."""
    if context.get("title"):
        context["title"] = book_tex.html_title_to_text(context["title"])


def _no_top_bar(app, config):
    config.html_theme_options.setdefault("navbar_persistent", [])


# --- numbers within the chapter -----------------------------------------------------------

def _number_within_chapter(app, env):
    """Renumber what Sphinx numbered through the book: 1, 2, ... on each page, after the
    chapter's number on a chapter (chapters/04_... -> "4.1", "4.2", ...)."""
    for docname, by_type in env.toc_fignumbers.items():
        chapter = re.match(r"chapters/(\d+)_", docname)
        prefix = (int(chapter[1]),) if chapter else ()
        for numbers in by_type.values():  # figures, tables, proofs, exercises: id -> (n,)
            for position, ident in enumerate(sorted(numbers, key=numbers.get), start=1):
                numbers[ident] = prefix + (position,)
    return []


# --- no "Exercise Exercise 26" -------------------------------------------------------------

class DropWordRepeatedByReference(SphinxPostTransform):
    """"Exercise " + a reference reading "Exercise 26" becomes the reference alone."""

    default_priority = 900  # after every extension has written its references' text

    def run(self, **kwargs):
        for ref in list(self.document.findall(nodes.reference)):
            if ref.get("refuri", "").startswith(("http:", "https:")) or ref.parent is None:
                continue
            word = re.match(r"([^\W\d_]+)\s", ref.astext())
            if not word:
                continue
            parent = ref.parent
            texts = []  # the run of text nodes just before the reference (docutils splits lines)
            position = parent.index(ref) - 1
            while position >= 0 and isinstance(parent[position], nodes.Text):
                texts.insert(0, parent[position])
                position -= 1
            before = "".join(str(t) for t in texts)
            trimmed = re.sub(rf"\b{re.escape(word[1])}\s+$", "", before)
            if texts and trimmed != before:
                for text in texts[1:]:
                    parent.remove(text)
                parent.replace(texts[0], nodes.Text(trimmed))


# --- search ---------------------------------------------------------------------------------

class BookIndexEntries(Transform):
    """The index entries of `book_index` (docname -> terms), on each page's top section."""

    default_priority = 400

    def apply(self):
        env = getattr(self.document.settings, "env", None)
        if env is None:
            return
        terms = env.config.book_index.get(env.docname)
        section = next(iter(self.document.findall(nodes.section)), None)
        if not terms or section is None or not section["ids"]:
            return
        entries = [("single", term, section["ids"][0], "main", None) for term in terms]
        # after the section's title: Sphinx takes a page's title from its first section's first node
        position = 1 if section.children and isinstance(section[0], nodes.title) else 0
        section.insert(position, addnodes.index(entries=entries, inline=False))


_UNSEARCHED_CLASSES = {"cell_input", "cell_output"}


def _searchable(doctree):
    """A copy of the page for the search index: no code, no outputs, math as plain text."""
    doctree = doctree.deepcopy()

    def clean(node):
        for child in list(node.children):
            if (isinstance(child, (nodes.literal_block, nodes.doctest_block, nodes.math_block))
                    or _UNSEARCHED_CLASSES & set(child.get("classes", []) if isinstance(child, nodes.Element) else ())):
                node.remove(child)
            elif isinstance(child, nodes.math):
                node.replace(child, nodes.Text(book_tex.tex_to_text(child.astext())))
            elif isinstance(child, nodes.Element):
                clean(child)

    clean(doctree)
    return doctree


def _index_without_code(app):
    builder = app.builder
    if not hasattr(builder, "index_page"):
        return
    index_page = builder.index_page

    def index_searchable_page(pagename, doctree, title):
        index_page(pagename, _searchable(doctree), book_tex.html_title_to_text(title))

    builder.index_page = index_searchable_page


def setup(app):
    app.set_html_assets_policy("always")
    app.add_config_value("book_index", {}, "env", types=[dict])
    app.connect("config-inited", _no_top_bar)
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("html-page-context", _plain_window_title)
    app.connect("builder-inited", _index_without_code)
    app.connect("env-get-updated", _number_within_chapter, priority=900)  # after Sphinx numbers
    app.add_transform(BookIndexEntries)
    app.add_post_transform(DropWordRepeatedByReference)
    app.add_js_file(None, body="window.VB_TEX = " + json.dumps(
        {"symbols": book_tex.SYMBOLS, "fonts": book_tex.FONTS, "accents": book_tex.ACCENTS,
         "unwrap": sorted(book_tex.UNWRAP)}, ensure_ascii=False) + ";")
    book_bibtex.register()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
