"""TeX as plain text, for the places where MathJax does not run: the search index and its results.

`tex_to_text(r"\\log p_\\theta(x)")` gives "log p_θ(x)". The table `SYMBOLS` and the rules of
`tex_to_text` are also those of `vbTexToText` in `_static/book.js` (the table is handed to it as
`window.VB_TEX`), so that search results and their snippets read the same.
"""

import html
import re

SYMBOLS = {
    # Greek, as MathJax draws them
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    # operators and relations
    "sum": "∑", "prod": "∏", "int": "∫", "partial": "∂", "nabla": "∇", "infty": "∞",
    "mid": "|", "vert": "|", "Vert": "‖", "lVert": "‖", "rVert": "‖", "lvert": "|", "rvert": "|",
    "sim": "~", "approx": "≈", "propto": "∝", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "neq": "≠", "ne": "≠", "ll": "≪", "gg": "≫", "equiv": "≡", "coloneqq": "≔",
    "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "times": "×", "odot": "⊙", "circ": "∘",
    "pm": "±", "to": "→", "rightarrow": "→", "leftarrow": "←", "mapsto": "↦", "Rightarrow": "⇒",
    "in": "∈", "notin": "∉", "subset": "⊂", "cup": "∪", "cap": "∩", "forall": "∀", "exists": "∃",
    "top": "ᵀ", "intercal": "ᵀ", "langle": "⟨", "rangle": "⟩", "lfloor": "⌊", "rfloor": "⌋",
    "lceil": "⌈", "rceil": "⌉", "emptyset": "∅", "ell": "ℓ", "star": "⋆", "ast": "∗",
    "prime": "′", "quad": " ", "qquad": " ", "colon": ":",
    # named functions
    "log": "log", "exp": "exp", "ln": "ln", "det": "det", "tr": "tr", "max": "max", "min": "min",
    "arg": "arg", "sup": "sup", "inf": "inf", "lim": "lim", "sin": "sin", "cos": "cos",
    "tanh": "tanh", "diag": "diag", "Var": "Var", "Cov": "Cov",
    # sizes and styles that have no text
    "left": "", "right": "", "big": "", "Big": "", "bigg": "", "Bigg": "", "bigl": "",
    "bigr": "", "Bigl": "", "Bigr": "", "biggl": "", "biggr": "", "Biggl": "", "Biggr": "",
    "displaystyle": "", "textstyle": "", "limits": "", "nolimits": "", "nonumber": "",
    "notag": "", "label": "",
}

# letters of \mathcal, \mathbb, \mathscr as Unicode has them
FONTS = {
    "mathcal": {"N": "𝒩", "L": "ℒ", "D": "𝒟", "X": "𝒳", "Z": "𝒵", "O": "𝒪", "U": "𝒰", "B": "ℬ",
                "E": "ℰ", "F": "ℱ", "H": "ℋ", "I": "ℐ", "M": "ℳ", "R": "ℛ", "P": "𝒫", "Q": "𝒬"},
    "mathbb": {"E": "𝔼", "R": "ℝ", "N": "ℕ", "Z": "ℤ", "P": "ℙ", "Q": "ℚ", "V": "𝕍", "C": "ℂ"},
}
ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "tilde": "\u0303", "widetilde": "\u0303",
           "bar": "\u0304", "overline": "\u0304", "dot": "\u0307", "vec": "\u20d7"}
UNWRAP = {"mathrm", "text", "textrm", "textit", "textbf", "texttt", "operatorname", "mathit",
          "mathbf", "boldsymbol", "bm", "mathsf", "mathtt", "mathscr", "mathcal", "mathbb",
          "mathfrak", "underbrace", "overbrace", "underline", "boxed", "mbox", "hbox"}

_GROUP = r"\{([^{}]*)\}"


def tex_to_text(tex):
    """Readable plain text for a TeX formula, with no backslash, brace or dollar left."""
    text = tex.replace("\n", " ")
    text = re.sub(r"\\(begin|end)\s*\{[^{}]*\}", " ", text)
    text = re.sub(r"\^\s*(\\(top|intercal)\b|\{\s*\\(top|intercal)\s*\})", "ᵀ", text)
    text = re.sub(r"\\([A-Za-z]+)(?![A-Za-z])", _symbol, text)
    for _ in range(10):  # innermost groups first, until nothing changes
        before = text
        text = re.sub(r"\\[dt]?frac\s*" + _GROUP + r"\s*" + _GROUP, _fraction, text)
        text = re.sub(r"\\sqrt\s*" + _GROUP, lambda m: "√" + _wrap(m[1]), text)
        text = re.sub(r"\\(" + "|".join(FONTS) + r")\s*" + _GROUP,
                      lambda m: "".join(FONTS[m[1]].get(c, c) for c in m[2]), text)
        text = re.sub(r"\\(" + "|".join(ACCENTS) + r")\s*" + _GROUP,
                      lambda m: m[2] + ACCENTS[m[1]] if len(m[2]) == 1 else m[2], text)
        text = re.sub(r"\\(" + "|".join(sorted(UNWRAP)) + r")\s*" + _GROUP, r"\2", text)
        text = re.sub(r"([_^])" + _GROUP, r"\1\2", text)
        text = re.sub(r"(?<!\\)\{([^{}]*)\}", r"\1", text)
        if text == before:
            break
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)  # a command this table does not know: its name
    text = re.sub(r"\\[,;:! ]", " ", text)
    text = text.replace("\\|", "‖").replace("\\{", "{").replace("\\}", "}").replace("\\%", "%")
    text = re.sub(r"\\\\|&", " ", text)  # line and column breaks of aligned environments
    text = text.replace("\\", "").replace("$", "")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"([(\[]) ", r"\1", text)


def _symbol(m):
    value = SYMBOLS.get(m[1])
    if value is None:
        return m[0]
    return f" {value}" if value.isalpha() and len(value) > 1 else value


def _wrap(part):
    return part.strip() if not re.search(r"[\s+\-=,;]", part.strip()) else f"({part.strip()})"


def _fraction(m):
    return f"{_wrap(m[1])}/{_wrap(m[2])}"


_HTML_MATH = re.compile(r'<span class="math[^"]*">\s*(?:\\\(|\$)(.*?)(?:\\\)|\$)\s*</span>', re.S)


def html_title_to_text(title):
    """A page title as Sphinx renders it (HTML, math as raw TeX), with the math as plain text."""
    return _HTML_MATH.sub(lambda m: html.escape(tex_to_text(html.unescape(m[1]))), title or "")
