"""The website, tested as a reader sees it: every page in Debian's headless Chromium.

The site is built warning-free into a temporary folder (or, when `VAELIB_SITE_DIR` names an
existing build, that one is used, as CI does after its own build), served on 127.0.0.1, and every
page is opened with all requests to other hosts blocked, as on a machine with no internet, in a
desktop window 1280 px wide and on a phone 390 px wide. On each page the test checks:

- no console error, no uncaught exception, no failed request, no response with an HTTP error
  (a 404 for a missing favicon included), and no request to another host (so MathJax, fonts and
  scripts all come from the site itself); the page declares a favicon the site has;
- every equation typeset by MathJax (an `mjx-container` in each `.math` element, no TeX error),
  and no raw `$`, `$$`, `\\(` or `\\[` left in the text outside code;
- every image loaded; every link inside the site resolving to a page, file and anchor that exist;
- every numbered equation shows its number, and every reference to it shows that number;
- every exercise solution starts folded and opens when its title is clicked;
- on every chapter: a Colab button pointing at that chapter's notebook on the repository and
  branch of `_config.yml`, a download button serving the notebook itself, and the repository link;
- exactly one search box on the page; no raw TeX in a title (the window's, the headings, the
  sidebars' links) and no word repeated in a row in one ("Proposition Proposition 8"), nor in
  the text outside code and math; no internal label (`eq-02-gauss-kl`, `ex-07-ess`, `prop-...`)
  in the page's text, code and outputs; no math typed as plain text in a figure's caption
  (`N_z`, `sigma^2`, `p(x|z)`, `J = 2`, Greek letters outside MathJax): captions use MathJax.

What fits, and how it is measured (`_READER_JS`; a "column" is the content box of the element's
container, e.g. 720 px at 1280 px, 358 px at 390 px):

- the page itself is never wider than the window, at either width;
- at 1280 px nothing is wider than its column: no display equation (its typeset math wider than
  the box it has beside its number), no inline formula (wider than its line), no table, no code
  cell or code block, no output (`scrollWidth` over `clientWidth`); long equations are broken over
  lines and code is formatted to the column (88 characters at 13 px);
- at 390 px code cells and code blocks still fit: they wrap long lines (with a hanging indent,
  `_static/book.css`); a display equation, an inline formula, a table or an output may be wider
  than its column only if it scrolls inside its own box, that box stays inside the column, and
  the box shows the scroll cue (the site's shadows on the edges behind which there is more:
  `overflow-x: auto` with a `background-attachment: local` cover);
- at either width an equation's number never sits over its math;
- at 1280 px every figure is shown at no less than half its intended width (a PNG's CSS width
  from its inline size, else its pixel width over its scale), is stored at 2x (at least twice as
  many pixels as it is shown wide), and records the size of its smallest text (the
  `vaebook.style.TEXT_SIZE_KEY` PNG chunk that `vaebook.style.use()` writes), which, scaled as the
  figure is shown, must be at least 11 CSS px.

Besides, at both widths: the navigation (☰) and the page contents open on a real click (on a
phone, as drawers; on a desktop ☰ hides and shows the sidebar, and the page contents is the right
sidebar), and there is a single ☰ and page-contents button in the page (a hidden second header had
the real click handlers). The search: "ELBO" lists first the chapter that `_config.yml` indexes it
under (`book_index`), and every chapter that mentions it; no result title or snippet holds raw
TeX; a word that appears only in code cells finds nothing. The bibliography lists every cited work, labelled as the
text cites it (author–year), and the book renders derivations (sphinx-proof) and exercises
(sphinx-exercise). A full-page screenshot of every page at each width goes to
`<artifacts>/screenshots/` (`$ARTIFACTS_DIR`, else `_build/`), and every problem found to
`<artifacts>/screenshots/problems.txt`, one line each, page by page.

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
DEVICES = {  # the two ways a reader opens the book
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
MIN_FIGURE_SHARE = 0.5  # a figure is shown at no less than half its intended width
MIN_TEXT_PX = 11.0  # the smallest text of a figure, in CSS px as shown
TEXT_SIZE_KEY = "vaebook-text"  # vaebook.style.TEXT_SIZE_KEY: {"min_text_pt", "dpi", "scale"}
BOOK_INDEX = CONFIG["sphinx"]["config"].get("book_index", {})


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


def _open(browser, base_url, path, device="desktop"):
    """Open `path` like a reader, offline, on a desktop or a phone (`DEVICES`); returns the page,
    its context, its problems, and a function that waits until the page's requests are done."""
    context = browser.new_context(**DEVICES[device], service_workers="block")
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


def _screenshot(page, screenshots, path, device="desktop"):
    page.evaluate("""() => { window.scrollTo(0, 0);
        return document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))); }""")
    folder = screenshots if device == "desktop" else screenshots / device
    folder.mkdir(exist_ok=True)
    page.screenshot(path=folder / (path.replace("/", "__").removesuffix(".html") + ".png"), full_page=True)


# --- what a reader sees: widths, figures, captions, titles, labels --------------------------

_REPEATED_WORD = re.compile(r"\b([^\W\d_]{2,})\s+\1\b", re.IGNORECASE)
_LABEL = re.compile(r"\b(?:eq|ex|prop|fig|tab|sec|def|thm|lem|alg)-\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*\b")
_RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]{}]|\$")
# math typed as plain text; the text writes it with MathJax ($N_z$, $\sigma^2$, $p(x \mid z)$)
_TEXT_MATH = re.compile(
    r"\b[A-Za-z]{1,3}_\{?[A-Za-z0-9]"  # N_z, D_KL, R_j
    r"|\^\{?[-0-9A-Za-z(]"  # sigma^2, x^(i)
    r"|\b(?:alpha|beta|gamma|delta|epsilon|theta|lambda|mu|sigma|phi|psi|omega|tau|rho|kappa|eta|nu|xi|zeta|chi)\b"
    r"|\b[A-Za-z]\([a-z0-9]{1,3}(?:\s*[|,;]\s*[a-zA-Z0-9]{1,3})*\)"  # p(x|z), N(0, 1), f(z)
    r"|\b(?:exp|log|sqrt|tanh)\s*\("
    r"|(?<![\w-])[α-ωΑ-Ω](?!-VAE)"  # Greek outside MathJax (the model name β-VAE aside)
    r"|[¹²³⁰-⁹₀-₉‖≤≥∼≈∑∫√∈]"
    r"|\b[A-Za-z] (?:=|~|≤|≥|<|>) "  # J = 2, z ~ N
)

_READER_JS = r"""
() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const px = x => Math.round(x);
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  const section = e => { const s = e.closest('section[id]'); return s ? '#' + s.id : ''; };
  const words = e => (e.textContent || '').replace(/#/g, '').replace(/\s+/g, ' ').trim().slice(0, 70);
  const cue = e => { const s = getComputedStyle(e); return ['auto', 'scroll'].includes(s.overflowX) && /local/.test(s.backgroundAttachment); };
  const contentWidth = e => { const s = getComputedStyle(e); return e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); };
  const articleRight = article.getBoundingClientRect().right - parseFloat(getComputedStyle(article).paddingRight);
  const items = [];
  // kind, where, the width it needs, the width it has, whether its box scrolls with the cue,
  // whether that box itself stays inside the column
  const add = (kind, el, box, need, has, extra) => items.push(Object.assign({kind, where: section(el) + ' ' + extra.label,
    need: px(need), has: px(has), cue: cue(box), boxInColumn: box.getBoundingClientRect().right <= articleRight + 1}, extra));

  article.querySelectorAll('div.math').forEach(d => {
    const c = d.querySelector('mjx-container'); if (!c || !shown(d)) return;
    const m = c.querySelector('mjx-math') || c, mr = m.getBoundingClientRect(), cr = c.getBoundingClientRect(), dr = d.getBoundingClientRect();
    const eqno = d.querySelector('.eqno');
    let over = false;
    if (eqno && shown(eqno)) {
      const a = eqno.getBoundingClientRect(), left = Math.max(cr.left, mr.left), right = Math.min(cr.right, mr.right);
      over = a.left < right - 1 && a.right > left + 1 && a.top < mr.bottom && a.bottom > mr.top;
    }
    const label = eqno ? 'Eq. ' + eqno.textContent.replace('#', '').trim() : 'display equation ' + words(d).slice(0, 40);
    if (mr.width > c.clientWidth + 1 || mr.left < dr.left - 1 || mr.right > dr.right + 1 || over)
      add('display equation', d, c, mr.width, c.clientWidth, {label, numberOverMath: over});
  });
  article.querySelectorAll('span.math').forEach(s => {
    const c = s.querySelector('mjx-container'); if (!c || !shown(s)) return;
    const block = s.closest('p, li, dd, dt, td, th, figcaption, .admonition-title, h1, h2, h3, h4, h5, h6') || s.parentElement;
    const need = (c.querySelector('mjx-math') || c).getBoundingClientRect().width;
    const has = Math.min(contentWidth(block), s.getBoundingClientRect().width + 1);
    if (need > contentWidth(block) + 1 || need > s.getBoundingClientRect().width + 1)
      add('inline formula', s, s, need, contentWidth(block), {label: words(block).slice(0, 50)});
  });
  article.querySelectorAll('table').forEach(t => {
    if (!shown(t) || t.closest('.highlight, mjx-container')) return;
    const box = t.parentElement, w = t.getBoundingClientRect().width;
    if (w > box.clientWidth + 1) add('table', t, box, w, box.clientWidth, {label: words(t).slice(0, 50)});
  });
  article.querySelectorAll('pre').forEach(p => {
    if (!shown(p) || p.scrollWidth <= p.clientWidth + 1) return;
    const kind = p.closest('.cell_output, .output') ? 'output' : (p.closest('.cell_input') ? 'code cell' : 'code block');
    const s = getComputedStyle(p), probe = document.createElement('span');
    probe.textContent = '0'.repeat(100); probe.style.whiteSpace = 'pre'; p.appendChild(probe);
    const ch = probe.getBoundingClientRect().width / 100; probe.remove();
    const longest = Math.max(...p.textContent.split('\n').map(l => l.length));
    add(kind, p, p, p.scrollWidth, p.clientWidth, {label: words(p).slice(0, 50), chars: longest,
      fits: Math.floor((p.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)) / ch + 0.01)});
  });
  article.querySelectorAll('.cell_output > .output').forEach(o => {
    if (!shown(o) || o.querySelector('pre') || o.scrollWidth <= o.clientWidth + 1) return;
    add('output', o, o, o.scrollWidth, o.clientWidth, {label: words(o).slice(0, 50)});
  });

  // what makes the page wider than the window: elements outside every scrolling box
  const inScroller = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
    if (getComputedStyle(a).overflowX !== 'visible') return true; return false; };
  const sticking = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    document.querySelectorAll('article *').forEach(e => {
      const r = e.getBoundingClientRect();
      const parentOut = e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1;
      if (r.right > window.innerWidth + 1 && r.width > 0 && !inScroller(e) && !parentOut)
        sticking.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} ${section(e)} ${words(e).slice(0, 50)} (to ${px(r.right)} px)`);
    });

  const images = [...article.querySelectorAll('img')].filter(shown).map(i => ({
    src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
    styled: parseFloat(i.style.width) || parseFloat(i.getAttribute('width')) || null,
    where: section(i) + ' ' + words(i.closest('figure') || i.parentElement).slice(0, 50)}));

  const withoutMath = e => {
    const c = e.cloneNode(true);
    c.querySelectorAll('mjx-container, .headerlink, script').forEach(x => x.replaceWith(' '));
    return c.textContent.replace(/\s+/g, ' ').trim(); };
  const captions = [...article.querySelectorAll('figcaption, caption')].filter(shown).map(c => ({
    text: withoutMath(c).replace(/^(Fig\.|Table)\s*\d+\s*/, ''), where: section(c)}));
  const headings = 'h1, h2, h3, h4, h5, h6, .bd-sidebar-primary a, .bd-sidebar-secondary a, p.caption';
  const titles = [document.title, ...[...document.querySelectorAll(headings)].filter(shown).map(withoutMath)];
  // prose: paragraphs and the like, with code and math taken out (each replaced by a mark that
  // separates the words around it)
  const blocks = [...article.querySelectorAll('p, li, dd, dt, td, th, .admonition-title')];
  const prose = blocks.filter(e => !e.closest('pre, .highlight')).map(e => {
    const c = e.cloneNode(true);
    c.querySelectorAll('pre, code, .math, mjx-container, .headerlink, script, ul, ol, p').forEach(x => x.replaceWith(' ¦ '));
    return c.textContent.replace(/\s+/g, ' ').trim(); });
  const text = (() => {
    const c = article.cloneNode(true);
    c.querySelectorAll('script, style').forEach(x => x.remove());
    return c.textContent; })();
  const searchBoxes = [...document.querySelectorAll('input[name="q"], .search-button-field, .search-button')]
    .filter(e => shown(e) && !e.closest('dialog:not([open])')).length;
  return {pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth, sticking: sticking.slice(0, 5),
          items, images, captions, titles, prose, text, searchBoxes};
}
"""


def _png_text_size(file):
    """The text-size record vaebook.style writes into a figure's PNG, or None."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    with Image.open(file) as image:
        record = getattr(image, "text", {}).get(TEXT_SIZE_KEY)
    return json.loads(record) if record else None


def _check_reader_view(page, site, base_url, device, problems):
    """What fits where, on `device` (see the module's docstring); returns the measurements."""
    view = page.evaluate(_READER_JS)
    if view["pageWidth"] > view["viewport"] + 1:
        problems.append(f"the page is {view['pageWidth']} px wide in a {view['viewport']} px window: "
                        + "; ".join(view["sticking"]))
    for item in view["items"]:
        where = f"{item['kind']} {item['where'].strip()!r}"
        if item.get("numberOverMath"):
            problems.append(f"{where}: its number sits over the math")
        if item["need"] <= item["has"] + 1:
            continue
        wide = f"{where}: {item['need']} px wide in a {item['has']} px column"
        if "chars" in item:
            wide += f" (longest line {item['chars']} characters; the column holds {item['fits']})"
        if device == "desktop":
            problems.append(wide)
        elif item["kind"] in ("code cell", "code block"):
            problems.append(wide + ", and does not wrap")
        elif not (item["cue"] and item["boxInColumn"]):
            problems.append(wide + ", and does not scroll in its own box with the scroll cue")
    if view["searchBoxes"] != 1:
        problems.append(f"{view['searchBoxes']} search boxes on the page, not one")
    for title in view["titles"]:
        for match in _REPEATED_WORD.finditer(title):
            problems.append(f"repeated word in a title: {title!r}")
        if _RAW_TEX.search(title):
            problems.append(f"raw TeX in a title: {title!r}")
    for text in view["prose"]:
        for match in _REPEATED_WORD.finditer(text):
            context = text[max(0, match.start() - 40):match.end() + 20]
            problems.append(f"repeated word in the text: {match[0]!r} in {context!r}")
    for label in sorted(set(_LABEL.findall(view["text"]))):
        problems.append(f"internal label in the page: {label!r}")
    for caption in view["captions"]:
        found = sorted({m[0].strip() for m in _TEXT_MATH.finditer(caption["text"])})
        if found:
            problems.append(f"caption {caption['where']} types math as plain text ({', '.join(map(repr, found))}): "
                            f"{caption['text'][:70]!r}")
    if device == "desktop":
        _check_figures(view["images"], site, base_url, problems)
    return view


def _check_figures(images, site, base_url, problems):
    for image in images:
        file = _file_of(site, base_url, image["src"])
        name = urllib.parse.urlsplit(image["src"]).path.rsplit("/", 1)[-1][:16]
        where = f"figure {image['where'].strip()[:60]!r} ({name})"
        record = _png_text_size(file) if file is not None and file.suffix == ".png" else None
        scale = (record or {}).get("scale", 1)
        intended = image["styled"] or image["natural"] / scale
        shown = image["shown"]
        if shown < MIN_FIGURE_SHARE * intended - 0.5:
            problems.append(f"{where}: shown at {shown:.0f} px of its {intended:.0f} px ({shown / intended:.0%})")
        if file is None or file.suffix != ".png":
            continue
        if image["natural"] < 1.98 * shown:
            problems.append(f"{where}: {image['natural']} px wide for {shown:.0f} px shown, not 2x")
        if record is None:
            problems.append(f"{where}: no record of its text size (not drawn with vaebook.style)")
        elif record.get("min_text_pt") is not None:
            smallest = record["min_text_pt"] / 72 * record["dpi"] * shown / intended
            if smallest < MIN_TEXT_PX - 0.05:
                problems.append(f"{where}: its smallest text is {smallest:.1f} px as shown "
                                f"({record['min_text_pt']} pt at {shown / intended:.0%}), under {MIN_TEXT_PX:.0f} px")


def _check_favicon(page, site, base_url, problems):
    icons = page.eval_on_selector_all("link[rel~=icon]", "ls => ls.map(l => l.href)")
    if not icons:
        problems.append("no favicon: the browser asks for /favicon.ico, which the site does not have")
    for href in icons:
        if href.startswith(base_url) and _file_of(site, base_url, href) is None:
            problems.append(f"the favicon {href} does not exist")


def _report(screenshots, path, device, problems):
    with open(screenshots / "problems.txt", "a") as f:
        f.writelines(f"{path} [{device}]: {p}\n" for p in problems)


def _phone_view(browser, site, base_url, path, screenshots, settle_redirect=None):
    """The page on a phone: the same page checks, and what fits at 390 px."""
    page, context, problems, settle = _open(browser, base_url, path, "phone")
    try:
        if settle_redirect:
            settle_redirect(page, settle, problems)
        _check_page(page, site, base_url, problems)
        _check_reader_view(page, site, base_url, "phone", problems)
        _screenshot(page, screenshots, path, "phone")
    finally:
        context.close()
    return problems


def _finish_desktop(page, site, base_url, path, screenshots, facts, problems):
    """What every page gets after its own checks: favicon, reader view, screenshot, solutions."""
    _check_favicon(page, site, base_url, problems)
    _check_reader_view(page, site, base_url, "desktop", problems)
    _screenshot(page, screenshots, path)
    _check_solutions(page, problems)
    _log(screenshots, path, facts, problems)


def _both_widths(browser, site, base_url, path, screenshots, problems, settle_redirect=None):
    """The desktop `problems` and the phone view's, each written under screenshots/, as one list."""
    phone = _phone_view(browser, site, base_url, path, screenshots, settle_redirect)
    _report(screenshots, path, "desktop", problems)
    _report(screenshots, path, "phone", phone)
    return [f"[desktop] {p}" for p in problems] + [f"[phone] {p}" for p in phone]


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
        _finish_desktop(page, site, base_url, path, screenshots, facts, problems)
    finally:
        context.close()
    report = _both_widths(browser, site, base_url, path, screenshots, problems)
    assert not report, f"{path}:\n" + "\n".join(report)


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
        def follow_redirect(page, settle, problems, path=path):
            if path == "index.html":  # a redirect to the book's first page
                try:
                    page.wait_for_url(base_url + ENTRIES[0] + ".html", timeout=10_000)
                    settle()
                except playwright_sync.TimeoutError:
                    problems.append(f"index.html leads to {page.url}, not to {ENTRIES[0]}.html")

        page, context, problems, settle = _open(browser, base_url, path)
        try:
            follow_redirect(page, settle, problems)
            facts = _check_page(page, site, base_url, problems)
            _finish_desktop(page, site, base_url, path, screenshots, facts, problems)
        finally:
            context.close()
        report += [f"{path} {p}" for p in _both_widths(
            browser, site, base_url, path, screenshots, problems, follow_redirect)]
    assert not report, "\n".join(report)


def _assert_no_raw_tex(found):
    """No result of a search shows raw TeX in its title or snippet."""
    for result in found:
        for part in ("title", "snippet"):
            raw = _RAW_TEX.findall(result[part])
            assert not raw, f"raw TeX {raw} in the {part} of the result {result['href']}: {result[part][:200]!r}"


def _search_results(page, settle):
    """The results of the search page once they and their snippets are shown."""
    page.wait_for_function(
        "() => /found|did not match/.test((document.querySelector('#search-results .search-summary') || {}).textContent || '')"
    )
    settle()  # each result's snippet is read from its page
    return page.eval_on_selector_all("#search-results ul.search li", """lis => lis.map(li => ({
        href: li.querySelector('a').href, title: li.querySelector('a').textContent,
        snippet: (li.querySelector('p.context') || {textContent: ''}).textContent}))""")


def _code_only_word():
    """The word (7 letters or more) that most code cells use and no text of the book does."""
    code, prose = {}, []
    for entry in ENTRIES:
        source = _source(entry)
        if source.suffix != ".ipynb":
            prose.append(source.read_text().lower())
            continue
        for cell in json.loads(source.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "code":
                for word in set(re.findall(r"(?<![\w.])[a-z]{7,}(?![\w])", text)):
                    code[word] = code.get(word, 0) + 1
            else:
                prose.append(text.lower())
    prose = "\n".join(prose)
    words = sorted((w for w in code if w not in prose), key=lambda w: (-code[w], w))
    return words[0] if words else None


def test_search_finds_the_elbo(site, base_url, browser, screenshots):
    """A reader opens the search box on the first page, types ELBO, and gets the chapters: first
    the one the book indexes the ELBO under (`book_index` in _config.yml), and no raw TeX."""
    page, context, problems, settle = _open(browser, base_url, ENTRIES[0] + ".html")
    try:
        page.locator("button.search-button__button:visible").first.click()
        box = page.locator("#pst-search-dialog input[name=q]")
        box.fill("ELBO")
        box.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=ELBO"))
        summary = page.locator("#search-results .search-summary")
        found = _search_results(page, settle)
        results = [r["href"] for r in found]
        _screenshot(page, screenshots, "search_ELBO")
        pages = [urllib.parse.urlsplit(r).path for r in results]
        assert any("/chapters/" in p for p in pages), f"{summary.text_content()!r}: {sorted(pages)}"
        for result in results:
            assert _file_of(site, base_url, result) is not None, f"search result {result} does not exist"
        mentions = [e for e in ENTRIES if re.search(r"\bELBO\b", _source(e).read_text())]
        for entry in mentions:
            assert any(p.endswith(f"/{entry}.html") for p in pages), f"{entry} mentions the ELBO, not found: {sorted(pages)}"
        (home,) = [doc for doc, terms in BOOK_INDEX.items() if "ELBO" in terms]
        assert pages[0].endswith(f"/{home}.html"), f"the first result for ELBO is {pages[0]}, not {home}: {pages}"
        _assert_no_raw_tex(found)
    finally:
        context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("query", ["log p(x)", "KL divergence", "reparameterization trick"])
def test_search_results_show_no_raw_tex(query, site, base_url, browser):
    page, context, problems, settle = _open(browser, base_url, "search.html?q=" + urllib.parse.quote(query))
    try:
        found = _search_results(page, settle)
        assert found, f"nothing found for {query!r}"
        _assert_no_raw_tex(found)
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_search_does_not_index_code(site, base_url, browser):
    """Code cells and their outputs are not in the search index: a word only code uses finds nothing."""
    word = _code_only_word()
    assert word, "no word of the code cells is absent from the text"
    page, context, problems, settle = _open(browser, base_url, "search.html?q=" + word)
    try:
        found = _search_results(page, settle)
        assert not found, f"{word!r}, a word only code cells use, finds {[r['href'] for r in found]}"
    finally:
        context.close()
    assert not problems, "\n".join(problems)


NAVIGATION_PAGES = [ENTRIES[0], next(e for e in ENTRIES if e.startswith("chapters/"))]


@pytest.mark.parametrize("device", list(DEVICES))
@pytest.mark.parametrize("entry", NAVIGATION_PAGES)
def test_navigation_and_page_contents_open_on_a_click(entry, device, site, base_url, browser):
    """☰ and the page-contents button, clicked as a reader clicks them (Playwright's click)."""
    page, context, problems, _ = _open(browser, base_url, entry + ".html", device)

    def wait(check, what, timeout=10_000):
        try:
            page.wait_for_function(check, timeout=timeout)
        except playwright_sync.TimeoutError:
            problems.append(f"{what} within {timeout // 1000} s")

    try:
        counts = page.evaluate("""() => ({
            primary: document.querySelectorAll('.primary-toggle').length,
            secondary: document.querySelectorAll('.secondary-toggle').length,
            headers: [...document.querySelectorAll('header.bd-header')].filter(h => h.getBoundingClientRect().height > 0).length})""")
        if counts["primary"] != 1 or counts["secondary"] > 1:
            problems.append(f"{counts['primary']} navigation buttons and {counts['secondary']} page-contents buttons in the "
                            "page: the themes' scripts attach their handlers to the first, which must be the visible one")
        if counts["headers"]:
            problems.append("a second header bar above the article's")
        toggle = page.locator(".primary-toggle:visible")
        if toggle.count() != 1:
            problems.append(f"{toggle.count()} visible ☰ buttons")
        elif device == "phone":
            toggle.click()
            wait("() => document.querySelector('#pst-primary-sidebar-modal').open", "☰ opened no drawer")
            link = page.locator("#pst-primary-sidebar-modal nav.bd-docs-nav a").first
            if not link.is_visible() or (link.bounding_box() or {"x": -1})["x"] < 0:
                problems.append("the navigation drawer shows no link")
            page.keyboard.press("Escape")
            wait("() => !document.querySelector('#pst-primary-sidebar-modal').open", "Escape did not close the drawer")
        else:
            visible = "() => getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility !== 'hidden'"
            wait(visible, "the navigation sidebar is not shown")
            toggle.click()
            wait(f"() => !({visible})()", "☰ did not hide the navigation sidebar")
            toggle.click()
            wait(visible, "☰ did not show the navigation sidebar again")
        contents = page.locator(".secondary-toggle:visible")
        if device == "phone":
            if contents.count() != 1:
                problems.append(f"{contents.count()} visible page-contents buttons")
            else:
                contents.click()
                wait("() => document.querySelector('#pst-secondary-sidebar-modal').open", "the page-contents button opened nothing")
                link = page.locator("#pst-secondary-sidebar-modal nav.page-toc a").first
                if not link.is_visible() or (link.bounding_box() or {"x": -1})["x"] < 0:
                    problems.append("the page-contents drawer shows no link")
        else:  # the page contents is the right sidebar, shown as the page opens
            if contents.count():
                problems.append("a page-contents button on a desktop, where the contents are shown")
            link = page.locator("#pst-secondary-sidebar nav.page-toc a").first
            if not link.is_visible():
                problems.append("the page contents are not shown beside the article")
    finally:
        context.close()
    assert not problems, f"{entry} [{device}]:\n" + "\n".join(problems)


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


_AUTHOR_YEAR = re.compile(r"[^\W\d_][^,\[\]]* (?:and [^,\[\]]+|et al\.), \d{4}[a-z]?|[^\W\d_][^,\[\]]*, \d{4}[a-z]?")


def test_bibliography_is_labelled_as_the_text_cites(site):
    """Each entry's label is its author–year citation ("Kingma and Welling, 2013"), as the text's."""
    def text(fragment):
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)).strip()

    bibliography = (site / "bibliography.html").read_text()
    labels = {anchor: text(label) for anchor, label in re.findall(
        r'<div class="citation" id="([^"]+)" role="doc-biblioentry">\s*<span class="label">'
        r'<span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">\]</span>', bibliography, re.S)}
    assert labels, "no labelled entry in the bibliography"
    wrong = {a: label for a, label in labels.items() if not _AUTHOR_YEAR.fullmatch(label)}
    assert not wrong, f"bibliography labels that are not author–year: {sorted(wrong.values())}"
    cited = 0
    for entry in ENTRIES:
        for anchor, citation in re.findall(r'<a class="reference internal" href="[^"]*bibliography\.html#([^"]+)"[^>]*>(.*?)</a>',
                                           (site / f"{entry}.html").read_text(), re.S):
            citation = text(citation)
            if re.search(r", \d{4}[a-z]?$", citation):  # parenthetical: "Kingma and Welling, 2013"
                cited += 1
                assert labels.get(anchor) == citation, f"{entry} cites {citation!r}, the bibliography labels it {labels.get(anchor)!r}"
    assert cited, "no author–year citation in the book"


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
