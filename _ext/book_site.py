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
"""


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


def setup(app):
    app.set_html_assets_policy("always")
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
