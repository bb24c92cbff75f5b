"""The website, tested as a reader sees it: every page in Debian's headless Chromium.

The site is built warning-free into a temporary folder (or, when `VAELIB_SITE_DIR` names an
existing build, that one is used, as CI does after its own build), served on 127.0.0.1, and every
page is opened with all requests to other hosts blocked, as on a machine with no internet.
On each page the test checks:

- no console error, no uncaught exception, no failed request, and no request to another host
  (so MathJax, fonts and scripts all come from the site itself);
- every equation typeset by MathJax (an `mjx-container` in each `.math` element, no TeX error),
  and no raw `$`, `$$`, `\\(` or `\\[` left in the text outside code;
- every image loaded; every link inside the site resolving to a page, file and anchor that exist;
- every numbered equation shows its number, and every reference to it shows that number;
- every exercise solution starts folded and opens when its title is clicked;
- on every chapter: a Colab button pointing at that chapter's notebook on the repository and
  branch of `_config.yml`, a download button serving the notebook itself, and the repository link.

Besides: the search finds the ELBO, the bibliography lists every cited work, and the book renders
derivations (sphinx-proof) and exercises (sphinx-exercise). A full-page screenshot of every page
goes to `<artifacts>/screenshots/` (`$ARTIFACTS_DIR`, else `_build/`).

Chromium: `/usr/bin/chromium` from Debian (`apt-get install chromium`), or `$CHROMIUM_PATH`.
"""

import functools
import html.parser
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

import playwright.sync_api as playwright_sync
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
PATH_TO_BOOK = (CONFIG["repository"].get("path_to_book") or "").strip("/")
COLAB = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
TIMEOUT_MS = 120_000  # generous: CI shares its 2 cores with the notebooks under nbval


def _toc_entries(node):
    for key in ("root", "file"):
        if key in node:
            yield node[key]
    for key in ("parts", "chapters", "sections"):
        for child in node.get(key, []):
            yield from _toc_entries(child)


ENTRIES = list(_toc_entries(TOC))


def _source(entry):
    (path,) = [p for p in ROOT.glob(entry + ".*") if p.suffix in (".md", ".ipynb")]
    return path


# --- the site, its server and the browser ---------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    given = os.environ.get("VAELIB_SITE_DIR")
    if given:
        path = pathlib.Path(given).resolve()
        assert (path / "index.html").is_file(), f"VAELIB_SITE_DIR={given} holds no built site"
        return path
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        ["jupyter-book", "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, f"the book does not build warning-free:\n{build.stdout[-5000:]}{build.stderr[-5000:]}"
    return out / "_build" / "html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A reader who leaves a page mid-download is no error of the site."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def base_url(site):
    server = _Server(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.fail("no Chromium: install Debian's (apt-get install chromium) or set CHROMIUM_PATH")
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=executable,
            # Headless, and none of Chromium's own calls home (they fail, noisily, with no internet).
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(artifacts_dir):
    path = artifacts_dir / "screenshots"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _log(screenshots, path, facts, problems):
    """One line per page in screenshots/pages.txt: what was checked, and how many problems."""
    internal = sum(link["href"].startswith("http://127.0.0.1") for link in facts["links"])
    with open(screenshots / "pages.txt", "a") as f:
        f.write(f"{path}: {facts['maths']} math elements, {len(facts['equations'])} numbered equations, "
                f"{len(facts['images'])} images, {internal} internal links, {len(facts['exercises'])} exercises, "
                f"{len(facts['theorems'])} statements, {len(problems)} problems\n")


# --- reading the built files ----------------------------------------------------------------

class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def _anchors(file):
    parser = _Anchors()
    parser.feed(pathlib.Path(file).read_text(errors="replace"))
    return frozenset(parser.ids)


def _file_of(site, base_url, url):
    """The built file a same-site URL serves, or None."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    base = urllib.parse.urlsplit(base_url).path
    file = site / path[len(base):] if path.startswith(base) else None
    if file is not None and file.is_dir():
        file = file / "index.html"
    return file if file is not None and file.is_file() else None


# --- one page, as a reader opens it ---------------------------------------------------------

_FACTS_JS = r"""
async () => {
  const STATEMENTS = ['theorem', 'lemma', 'definition', 'remark', 'conjecture', 'corollary', 'algorithm',
    'example', 'property', 'observation', 'proposition', 'assumption', 'axiom', 'criterion', 'notation', 'condition'];
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight').forEach(e => e.remove());
  return {
    maths: document.querySelectorAll('.math').length,
    untypeset: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))
      .map(m => m.textContent.trim().slice(0, 80)),
    texErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    mathjax: window.MathJax && window.MathJax.version || null,
    text: clone.textContent,
    images: imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => ({href: a.href, raw: a.getAttribute('href'),
      text: a.textContent.trim(), headerlink: a.classList.contains('headerlink')})),
    equations: [...document.querySelectorAll('div.math[id^="equation-"]')].map(d => ({id: d.id,
      number: (d.querySelector('.eqno') || {textContent: ''}).textContent.replace('#', '').trim()})),
    exercises: [...document.querySelectorAll('div.exercise')].map(d => d.querySelector('.admonition-title').textContent.trim()),
    theorems: [...document.querySelectorAll('div.proof')]  // sphinx-proof statements, not the proofs
      .filter(d => [...d.classList].some(c => STATEMENTS.includes(c)))
      .map(d => d.querySelector('.admonition-title').textContent.trim()),
  };
}
"""

_RAW_MATH = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$\n]{0,200}?\$")


def _open(browser, base_url, path):
    """Open `path` like a reader, offline; returns the page, its context, its problems, and a
    function that waits until the page's requests are done."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    problems = []

    def route(route):
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            problems.append(f"request to another host: {route.request.url}")
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    page.on("requestfailed", lambda r: r.url.startswith(base_url) and problems.append(f"failed request: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    pending = set()  # Playwright's own "networkidle" sometimes never comes with Debian's Chromium
    page.on("request", lambda r: pending.add(r))
    page.on("requestfinished", lambda r: pending.discard(r))
    page.on("requestfailed", lambda r: pending.discard(r))
    response = page.goto(base_url + path, wait_until="load")
    if response is None or response.status != 200:
        problems.append(f"{path}: HTTP {response and response.status}")
    _settle(page, pending, problems)
    return page, context, problems, lambda: _settle(page, pending, problems)


def _settle(page, pending, problems, quiet_s=0.5):
    """Wait until no request has been in flight for `quiet_s` seconds."""
    deadline, quiet_since = time.monotonic() + TIMEOUT_MS / 1000, None
    while time.monotonic() < deadline:
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(100)  # lets Playwright deliver the request events
    problems.append(f"requests still pending after {TIMEOUT_MS // 1000} s: {sorted(r.url for r in pending)}")


def _check_page(page, site, base_url, problems):
    """The checks every page gets; returns the facts gathered."""
    if page.locator(".math").count():
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=TIMEOUT_MS)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        except playwright_sync.TimeoutError:
            problems.append(f"MathJax did not start within {TIMEOUT_MS // 1000} s")
    facts = page.evaluate(_FACTS_JS)
    if facts["maths"]:
        if not (facts["mathjax"] or "").startswith("3."):
            problems.append(f"MathJax 3 not loaded (version {facts['mathjax']})")
        problems += [f"equation not typeset: {m!r}" for m in facts["untypeset"]]
        problems += [f"TeX error: {e!r}" for e in facts["texErrors"]]
    problems += [f"raw math in the text: {m.group()!r}" for m in _RAW_MATH.finditer(facts["text"])]
    problems += [f"image not loaded: {i['src']}" for i in facts["images"] if not i["ok"]]

    for link in facts["links"]:
        href = link["href"]
        if not href.startswith(base_url):
            continue
        file = _file_of(site, base_url, href)
        if file is None:
            problems.append(f"broken link: {link['raw']!r} ({link['text']!r})")
            continue
        fragment = urllib.parse.unquote(urllib.parse.urlsplit(href).fragment)
        if fragment and file.suffix == ".html" and fragment not in _anchors(str(file)):
            problems.append(f"link to a missing anchor: {link['raw']!r} ({link['text']!r})")

    numbers = {}
    for eq in facts["equations"]:
        if not re.fullmatch(r"\(\d+(\.\d+)*\)", eq["number"]):
            problems.append(f"equation {eq['id']} has no number: {eq['number']!r}")
        numbers[eq["id"]] = eq["number"]
    for link in facts["links"]:
        fragment = urllib.parse.urlsplit(link["href"]).fragment
        if fragment.startswith("equation-") and link["href"].startswith(base_url) and not link["headerlink"]:
            target = _file_of(site, base_url, link["href"])
            number = numbers.get(fragment) if target == _file_of(site, base_url, page.url) else _eqno(target, fragment)
            if link["text"] != number:
                problems.append(f"reference to {fragment} reads {link['text']!r}, the equation is numbered {number!r}")
    problems += [f"exercise without a number: {t!r}" for t in facts["exercises"] if not re.match(r"Exercise \d+", t)]
    problems += [f"statement without a number: {t!r}" for t in facts["theorems"] if not re.match(r"[A-Z][a-z]+ \d+", t)]
    return facts


def _check_solutions(page, problems):
    """A solution is folded until the reader opens it (after the screenshot: it shows them folded)."""
    for solution in page.locator("div.solution.dropdown").all():
        content = solution.locator("section").first
        label = solution.locator(".admonition-title").first
        if content.is_visible():
            problems.append(f"solution shown unfolded: {label.text_content().strip()!r}")
        label.click()
        try:
            content.wait_for(state="visible", timeout=30_000)
        except playwright_sync.TimeoutError:
            problems.append(f"solution does not open on a click: {label.text_content().strip()!r}")


def _eqno(file, anchor):
    if file is None:
        return None
    match = re.search(rf'id="{re.escape(anchor)}">\s*<span class="eqno">([^<]*)<', file.read_text())
    return match and match[1].strip()


def _screenshot(page, screenshots, path):
    page.evaluate("""() => { window.scrollTo(0, 0);
        return document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))); }""")
    page.screenshot(path=screenshots / (path.replace("/", "__").removesuffix(".html") + ".png"), full_page=True)


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ENTRIES)
def test_page(entry, site, base_url, browser, screenshots):
    path = entry + ".html"
    page, context, problems, _ = _open(browser, base_url, path)
    try:
        facts = _check_page(page, site, base_url, problems)
        links = {link["href"] for link in facts["links"]}
        colab = sorted(h for h in links if h.startswith(COLAB))
        source = _source(entry)
        if REPOSITORY not in links:
            problems.append(f"no link to the repository {REPOSITORY}")
        if source.suffix == ".ipynb":
            notebook = "/".join(filter(None, [PATH_TO_BOOK, entry])) + ".ipynb"
            expected = f"{COLAB}/github/{urllib.parse.urlsplit(REPOSITORY).path.strip('/')}/blob/{BRANCH}/{notebook}"
            assert (ROOT / notebook).is_file()
            if colab != [expected]:
                problems.append(f"Colab button {colab}, expected [{expected!r}]")
            downloads = [h for h in links if h.startswith(base_url) and h.endswith(f"_sources/{entry}.ipynb")]
            if not downloads:
                problems.append("no download button for the notebook")
            for href in downloads:
                served = json.loads(_file_of(site, base_url, href).read_text())
                if served["cells"] != json.loads(source.read_text())["cells"]:
                    problems.append(f"the download button serves another notebook: {href}")
        elif colab:
            problems.append(f"Colab button on a page that is not a notebook: {colab}")
        _screenshot(page, screenshots, path)
        _check_solutions(page, problems)
        _log(screenshots, path, facts, problems)
    finally:
        context.close()
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_pages_outside_the_toc(site, base_url, browser, screenshots):
    """The index redirect, the search page, the general index and any index an extension adds."""
    in_toc = {entry + ".html" for entry in ENTRIES}
    others = sorted(
        str(p.relative_to(site)) for p in site.rglob("*.html")
        if p.relative_to(site).parts[0] not in ("_static", "_sources", "_images") and str(p.relative_to(site)) not in in_toc
    )
    assert {"index.html", "search.html", "genindex.html"} <= set(others), others
    report = []
    for path in others:
        page, context, problems, settle = _open(browser, base_url, path)
        try:
            if path == "index.html":  # a redirect to the book's first page
                try:
                    page.wait_for_url(base_url + ENTRIES[0] + ".html", timeout=10_000)
                    settle()
                except playwright_sync.TimeoutError:
                    problems.append(f"index.html leads to {page.url}, not to {ENTRIES[0]}.html")
            facts = _check_page(page, site, base_url, problems)
            _screenshot(page, screenshots, path)
            _check_solutions(page, problems)
            _log(screenshots, path, facts, problems)
        finally:
            context.close()
        report += [f"{path}: {p}" for p in problems]
    assert not report, "\n".join(report)


def test_search_finds_the_elbo(site, base_url, browser, screenshots):
    """A reader opens the search box on the first page, types ELBO, and gets the chapters."""
    page, context, problems, _ = _open(browser, base_url, ENTRIES[0] + ".html")
    try:
        page.locator("button.search-button__button:visible").first.click()
        box = page.locator("#pst-search-dialog input[name=q]")
        box.fill("ELBO")
        box.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=ELBO"))
        summary = page.locator("#search-results .search-summary")
        page.wait_for_function(
            "() => /found|did not match/.test((document.querySelector('#search-results .search-summary') || {}).textContent || '')"
        )
        results = page.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
        _screenshot(page, screenshots, "search_ELBO")
        pages = {urllib.parse.urlsplit(r).path for r in results}
        assert any("/chapters/" in p for p in pages), f"{summary.text_content()!r}: {sorted(pages)}"
        for result in results:
            assert _file_of(site, base_url, result) is not None, f"search result {result} does not exist"
        mentions = [e for e in ENTRIES if re.search(r"\bELBO\b", _source(e).read_text())]
        for entry in mentions:
            assert any(p.endswith(f"/{entry}.html") for p in pages), f"{entry} mentions the ELBO, not found: {sorted(pages)}"
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def _bib_titles():
    text = (ROOT / "references.bib").read_text()
    titles = {}
    for key, body in re.findall(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        title = re.search(r"\btitle\s*=\s*[{\"](.*?)[}\"],?\s*\n", body, re.S)
        titles[key] = title[1] if title else None
    return titles


def _plain(text):
    return re.sub(r"[^a-z0-9]+", " ", re.sub(r"\\[a-zA-Z]+|[{}\\]", "", text).lower()).strip()


def test_bibliography_lists_every_cited_work(site):
    titles = _bib_titles()
    cited = set()
    for entry in ENTRIES:
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", _source(entry).read_text()):
            cited |= {k.strip() for k in keys.split(",")}
    assert "kingma2013autoencoding" in cited
    page = _plain(re.sub(r"<[^>]+>", " ", (site / "bibliography.html").read_text()))
    entries = (site / "bibliography.html").read_text().count('role="doc-biblioentry"')
    assert entries == len(cited), f"{entries} entries for {len(cited)} cited works"
    for key in sorted(cited):
        assert key in titles, f"{key} is cited but not in references.bib"
        assert _plain(titles[key]) in page, f"{key} ({titles[key]}) is not on the bibliography page"


def test_book_has_numbered_equations_derivations_and_exercises(site):
    """The features the book's derivations rely on are there and rendered (per page: test_page)."""
    pages = {entry: (site / f"{entry}.html").read_text() for entry in ENTRIES}
    equations = sum(len(re.findall(r'<span class="eqno">', h)) for h in pages.values())
    theorems = sum(len(re.findall(r'<div class="proof (?!admonition)[a-z]+ admonition"', h)) for h in pages.values())
    proofs = sum(h.count('<div class="proof admonition"') for h in pages.values())
    exercises = sum(h.count('<div class="exercise admonition"') for h in pages.values())
    solutions = sum(len(re.findall(r'<div class="solution[ a-z]*admonition"', h)) for h in pages.values())
    assert equations >= 1, "no numbered equation in the book"
    assert theorems >= 1 and proofs >= 1, f"{theorems} sphinx-proof statements and {proofs} proofs in the book"
    assert exercises >= 1 and solutions >= 1, f"{exercises} exercises and {solutions} solutions in the book"
