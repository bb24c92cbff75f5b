/* The book's own scripts (after the theme's). See _static/book.css and _ext/book_site.py. */
"use strict";

/* TeX as plain text, as _ext/book_tex.py writes it into the search index (same rules; the
 * table of symbols comes from there as window.VB_TEX). */
function vbTexToText(tex) {
  const T = window.VB_TEX || {symbols: {}, fonts: {}, accents: {}, unwrap: []};
  const G = "\\{([^{}]*)\\}";
  const wrap = (p) => (/[\s+\-=,;]/.test(p.trim()) ? `(${p.trim()})` : p.trim());
  let text = tex.replace(/\n/g, " ");
  text = text.replace(/\\(begin|end)\s*\{[^{}]*\}/g, " ");
  text = text.replace(/\^\s*(\\(top|intercal)\b|\{\s*\\(top|intercal)\s*\})/g, "ᵀ");
  text = text.replace(/\\([A-Za-z]+)(?![A-Za-z])/g, (m, name) => {
    const value = T.symbols[name];
    if (value === undefined) return m;
    return /^\p{L}{2,}$/u.test(value) ? " " + value : value;
  });
  const fonts = Object.keys(T.fonts).join("|"), accents = Object.keys(T.accents).join("|");
  for (let i = 0; i < 10; i++) {
    const before = text;
    text = text.replace(new RegExp("\\\\[dt]?frac\\s*" + G + "\\s*" + G, "g"), (m, a, b) => `${wrap(a)}/${wrap(b)}`);
    text = text.replace(new RegExp("\\\\sqrt\\s*" + G, "g"), (m, a) => "√" + wrap(a));
    if (fonts) text = text.replace(new RegExp("\\\\(" + fonts + ")\\s*" + G, "g"),
      (m, f, a) => [...a].map((c) => T.fonts[f][c] || c).join(""));
    if (accents) text = text.replace(new RegExp("\\\\(" + accents + ")\\s*" + G, "g"),
      (m, f, a) => (a.length === 1 ? a + T.accents[f] : a));
    if (T.unwrap.length) text = text.replace(new RegExp("\\\\(" + T.unwrap.join("|") + ")\\s*" + G, "g"), "$2");
    text = text.replace(new RegExp("([_^])" + G, "g"), "$1$2");
    text = text.replace(/(^|[^\\])\{([^{}]*)\}/g, "$1$2");
    if (text === before) break;
  }
  text = text.replace(/\\([A-Za-z]+)/g, "$1");
  text = text.replace(/\\[,;:! ]/g, " ");
  text = text.replace(/\\\|/g, "‖").replace(/\\\{/g, "{").replace(/\\\}/g, "}").replace(/\\%/g, "%");
  text = text.replace(/\\\\|&/g, " ").replace(/[\\$]/g, "");
  return text.replace(/\s+/g, " ").trim().replace(/([(\[]) /g, "$1");
}

/* Each line of a code cell or block in its own span, with its indentation, so that on a phone a long
 * line wraps with a hanging indent deeper than the line's own (book.css). The newlines stay
 * in the text, so copying the cell (sphinx-copybutton reads textContent) gives the code. */
function vbMarkCodeLines(pre) {
  if (pre.dataset.vbLines) return;
  pre.dataset.vbLines = "1";
  const lines = [[]];
  const pushText = (text, wrapIn) => {
    text.split(/(?<=\n)/).forEach((part) => {
      if (!part) return;
      let node = document.createTextNode(part);
      if (wrapIn) { const clone = wrapIn.cloneNode(false); clone.appendChild(node); node = clone; }
      lines[lines.length - 1].push(node);
      if (part.endsWith("\n")) lines.push([]);
    });
  };
  [...pre.childNodes].forEach((child) => {
    if (child.nodeType === Node.TEXT_NODE) pushText(child.textContent, null);
    else if (child.nodeType === Node.ELEMENT_NODE && !child.querySelector("*")) pushText(child.textContent, child);
    else { lines[lines.length - 1].push(child.cloneNode(true)); }
  });
  pre.textContent = "";
  lines.forEach((nodes) => {
    if (!nodes.length) return;
    const line = document.createElement("span");
    line.className = "vb-line";
    nodes.forEach((n) => line.appendChild(n));
    const indent = (line.textContent.match(/^ */) || [""])[0].length;
    if (indent) line.style.setProperty("--vb-indent", indent);
    pre.appendChild(line);
  });
}

/* Search results: the snippet of a page is its article's text, without code cells, outputs,
 * display math or the print-only table of contents, and with inline math as plain text. */
function vbSearchSnippets() {
  if (typeof Search === "undefined" || Search.vbPatched) return;
  Search.vbPatched = true;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    const drop = [".headerlink", "script", "style", ".cell_input", ".cell_output", "div.highlight",
      "pre", "div.math", "#jb-print-docs-body", ".toctree-wrapper", ".prev-next-area"];
    doc.querySelectorAll(drop.join(",")).forEach((el) => el.remove());
    doc.querySelectorAll("span.math").forEach((el) => {
      const tex = el.textContent.trim().replace(/^\\\(|\\\)$/g, "");
      el.replaceWith(doc.createTextNode(vbTexToText(tex)));
    });
    const main = doc.querySelector('[role="main"] article') || doc.querySelector('[role="main"]');
    if (!main) return "";
    let part = main;
    try {
      if (anchor) part = main.querySelector(anchor) || main;
    } catch (error) {}  // an anchor that is no CSS selector: the whole page
    return part.textContent.replace(/\s+/g, " ");
  };
  // A page found both by an index entry of the book (_config.yml: book_index) and by its text
  // is listed once, where the better of the two ranks it (the list ends with the best result).
  const performSearch = Search._performSearch;
  Search._performSearch = (...args) => {
    const seen = new Set();
    return performSearch(...args).reverse().filter(([docName, title]) => {
      const key = docName + "\u0000" + title;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).reverse();
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-article div.highlight pre").forEach((pre) => {
    if (!pre.closest(".cell_output, .output")) vbMarkCodeLines(pre);
  });
  vbSearchSnippets();
});
