"""How much each chapter asks a reader to read, and how much of its visible code only checks.

    python -m tools.book_stats [NOTEBOOK ...]     (default: chapters/*.ipynb)

prints one Markdown table, a row per chapter and a total row. Nothing is executed: the
notebooks are read as JSON, their code is parsed with `ast`.

What is counted
---------------

**Prose words**: the words a reader sees in the chapter's markdown cells, as the website
renders them, without the parts that are not prose:

- LaTeX math, inline ``$...$`` and display ``$$...$$`` (with its equation label), and amsmath
  environments (``\\begin{align}...\\end{align}``);
- fenced code blocks (```` ```python ````, ```` ``` ````, ``~~~``) and the directives that
  hold code or math (``{code-cell}``, ``{math}``, ...);
- directive option lines (``:label: ...``, ``:class: dropdown``, ``:name: ...``), the path
  argument of ``{figure}``, ``{image}`` and ``{include}``, and the exercise label that follows
  ``{solution}``; the body and the title of
  every other directive (exercises, ``{prf:...}`` statements and proofs, admonitions, figure
  captions) are prose;
- exercise solutions, which start folded: ``{solution}`` blocks (with ``` or ::: fences),
  ``{solution-start}``...``{solution-end}`` and ``<details>`` blocks whose summary is
  "Solution". Their words are reported apart, as *folded solution words*, and are not prose;
- markdown cells tagged ``remove-cell``; MyST targets ``(label)=``, HTML tags and comments,
  link URLs (the link's text counts), list markers and table rules.

A MyST role (``{cite:p}`key```, ``{eq}`label```, ``{glue:text}`name```) counts as one word, and
so does an inline code span. A word is a whitespace-separated token with a letter or a digit.

**Visible code lines**: the non-blank lines (comments included) of the code cells whose input
the website shows. A cell's input is hidden, and none of its lines is counted, when the cell
is tagged ``hide-input`` or ``hide-cell`` (folded behind a toggle), ``remove-input`` or
``remove-cell`` (or their ``remove_*`` spellings), or when myst-nb's ``remove_code_source`` is
set in the cell's or the notebook's ``mystnb`` metadata. (``jupyter.source_hidden``, which only
JupyterLab honours, does not hide anything on the website, so such a cell counts as visible.)
Their lines are reported apart as *hidden code lines*.

**Check lines**: the visible code lines that verify rather than teach, found statement by
statement with `ast`, so that every continuation line of a statement counts with it:

- ``assert`` statements, and ``np.testing.assert_*`` calls;
- ``glue(...)`` calls (numbers handed to the text), and the import or fallback definition of
  ``glue`` itself;
- tolerance bookkeeping: an assignment whose value is a tolerance test, or a container of
  them (``ok = np.allclose(a, b)``, ``checks = {"mean": abs(m) < 4 * se, ...}``), where a
  tolerance test is an ``allclose``/``isclose``/``array_equal`` call, a ``<``/``>`` comparison
  with an ``abs(...)`` on one side, or ``all``/``np.all``/``and``/``not`` of such tests;
- ``print`` calls that report a check: their text contains the word ``True`` (``"...: True"``),
  they print the constant ``True``, or they print a name that an ``assert`` of the same cell
  tests (``assert passed`` ... ``print(f"...: {passed}")``);
- a ``for``/``while``/``if``/``with``/``try`` statement whose body consists of checks only
  counts as a check with all its lines (the loop over the checks).

The *check share* is check lines / visible code lines. A cell whose code does not parse (a cell
magic such as ``%%bash``) counts as visible code without checks; line magics (``%pip``) and shell
lines (``!ls``) are read as ``pass``.
"""

import ast
import dataclasses
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"

# Tags with which myst-nb folds or removes a cell's input (myst_nb/core/render.py, nb_to_tokens.py).
HIDING_TAGS = frozenset({"hide-input", "hide-cell", "remove-input", "remove_input",
                         "remove-cell", "remove_cell"})
REMOVING_TAGS = frozenset({"remove-cell", "remove_cell"})

# Directives whose body is not prose, and directives whose argument is a path, not a title.
NON_PROSE_DIRECTIVES = frozenset({
    "code", "code-block", "code-cell", "sourcecode", "literalinclude", "math", "raw",
    "eval-rst", "bibliography", "toctree", "tableofcontents", "glue", "glue:any", "glue:figure",
    "glue:math", "glue:md",
})
PATH_ARGUMENT_DIRECTIVES = frozenset({"figure", "image", "include", "literalinclude", "bibliography"})
SOLUTION_DIRECTIVES = frozenset({"solution"})

TOLERANCE_CALLS = frozenset({"allclose", "isclose", "array_equal", "array_equiv"})
ASSERT_CALLS = re.compile(r"assert_\w+")  # np.testing.assert_allclose, assert_array_equal, ...

_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*?)\s*$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.-]+)\}\s*(?P<argument>.*)$")
_OPTION = re.compile(r"^\s*:[\w-]+:")


@dataclasses.dataclass
class ChapterStats:
    """The counts of one chapter (see the module's docstring for what each one counts)."""

    chapter: str
    prose_words: int
    code_lines: int  # visible
    check_lines: int  # visible
    solution_words: int  # folded, not in prose_words
    hidden_code_lines: int  # not in code_lines

    @property
    def check_share(self):
        """Check lines as a fraction of the visible code lines (0 when there is no code)."""
        return self.check_lines / self.code_lines if self.code_lines else 0.0


# --- prose ------------------------------------------------------------------------------------

def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def split_markdown(text):
    """Split a markdown cell into (prose, solutions): the text a reader sees unfolded, and the
    text of folded solutions. Code fences, code and math directives and option lines go to
    neither."""
    prose, solutions = [], []
    stack = []  # open fences: (character, length, kind) with kind "code", "prose" or "solution"
    gated_solution = details_solution = False
    options_may_follow = False
    for line in text.splitlines():
        fence = _FENCE.match(line)
        if fence and stack:
            char, length, _ = stack[-1]
            token = fence["fence"]
            if token[0] == char and len(token) >= length and not fence["info"]:
                stack.pop()
                options_may_follow = False
                continue
        in_code = any(kind == "code" for _, _, kind in stack)
        if fence and not in_code:
            token, info = fence["fence"], fence["info"]
            directive = _DIRECTIVE.match(info)
            argument = ""
            if directive is None:
                kind = "code"  # ```python, ``` or ~~~: a code block
            else:
                name, argument = directive["name"], directive["argument"]
                if name == "solution-start":
                    gated_solution, kind = True, "prose"
                elif name == "solution-end":
                    gated_solution, kind = False, "prose"
                elif name in SOLUTION_DIRECTIVES:
                    kind = "solution"
                elif name in NON_PROSE_DIRECTIVES:
                    kind = "code"
                else:
                    kind = "prose"
                if name in PATH_ARGUMENT_DIRECTIVES or name.startswith("solution"):
                    argument = ""  # a path, or the label of the exercise a solution solves
            stack.append((token[0], len(token), kind))
            options_may_follow = True
            if kind != "code" and argument:
                _target(stack, gated_solution, details_solution, prose, solutions).append(argument)
            continue
        if in_code:
            continue
        if options_may_follow and _OPTION.match(line):
            continue
        options_may_follow = False
        if re.search(r"<summary>\s*Solution\s*</summary>", line, re.I):
            details_solution = True  # the toggle's label, like a {solution}'s title, is not counted
            line = re.sub(r"<summary>.*?</summary>", " ", line, flags=re.I)
        _target(stack, gated_solution, details_solution, prose, solutions).append(line)
        if "</details>" in line:
            details_solution = False
    return "\n".join(prose), "\n".join(solutions)


def _target(stack, gated_solution, details_solution, prose, solutions):
    folded = gated_solution or details_solution or any(kind == "solution" for _, _, kind in stack)
    return solutions if folded else prose


def count_words(text):
    """Words of rendered prose in a piece of MyST markdown (math, markup and URLs left out)."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$(?:[ \t]*\([\w:.-]+\))?", " ", text, flags=re.S)  # display math
    text = re.sub(r"\\begin\{([\w*]+)\}.*?\\end\{\1\}", " ", text, flags=re.S)  # amsmath
    text = re.sub(r"\{[\w:.-]+\}`[^`]*`", " ROLE ", text)  # a role renders as one word
    text = re.sub(r"``[^`]+``|`[^`\n]+`", " CODE ", text)  # inline code: one word
    text = re.sub(r"(?<!\\)\$(?:\\.|[^$\\])+?\$", " ", text, flags=re.S)  # inline math
    text = re.sub(r"^[ \t]*\([\w:.-]+\)=[ \t]*$", " ", text, flags=re.M)  # MyST targets
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text only
    text = re.sub(r"<[^>\n]+>", " ", text)  # HTML tags
    text = re.sub(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+", " ", text, flags=re.M)  # list markers
    return sum(1 for word in text.split() if re.search(r"[^\W_]", word))


# --- code ---------------------------------------------------------------------------------------

def _python(source):
    """The cell's source with line magics and shell lines replaced by `pass`, line for line."""
    lines = []
    for line in source.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


def _call_name(call):
    function = call.func
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def _has_abs(node):
    return any(isinstance(n, ast.Call) and _call_name(n) in ("abs", "absolute", "fabs")
               for n in ast.walk(node))


def is_tolerance_test(node):
    """Is `node` a comparison within a tolerance (np.allclose, abs(a - b) < tol, ...)?"""
    if isinstance(node, ast.Call):
        name = _call_name(node)
        if name in TOLERANCE_CALLS:
            return True
        if name in ("all", "any") and node.args:
            first = node.args[0]
            if isinstance(first, (ast.GeneratorExp, ast.ListComp)):
                return is_tolerance_test(first.elt)
            return all(is_tolerance_test(a) for a in node.args[:1])
        return False
    if isinstance(node, ast.Compare):
        ordering = all(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in node.ops)
        return ordering and any(_has_abs(n) for n in [node.left, *node.comparators])
    if isinstance(node, ast.BoolOp):
        return all(is_tolerance_test(v) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return is_tolerance_test(node.operand)
    return False


def _is_tolerance_value(node):
    if isinstance(node, ast.Dict):
        return bool(node.values) and all(is_tolerance_test(v) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return bool(node.elts) and all(is_tolerance_test(e) for e in node.elts)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return is_tolerance_test(node.elt)
    if isinstance(node, ast.DictComp):
        return is_tolerance_test(node.value)
    return is_tolerance_test(node)


def _printed_text(call):
    parts = []
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            parts.append(arg.value)
        elif isinstance(arg, ast.JoinedStr):
            parts.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values))
    return " ".join(parts)


def _reports_check(call, asserted_names):
    if any(isinstance(a, ast.Constant) and a.value is True for a in call.args):
        return True
    if re.search(r"\bTrue\b", _printed_text(call)):
        return True
    for arg in call.args:
        values = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
        for value in values:
            value = value.value if isinstance(value, ast.FormattedValue) else value
            if isinstance(value, ast.Name) and value.id in asserted_names:
                return True
    return False


def _imports_glue_only(stmt):
    return isinstance(stmt, (ast.Import, ast.ImportFrom)) and all(
        (alias.asname or alias.name).split(".")[-1] == "glue" for alias in stmt.names)


def _bodies(stmt):
    for field in ("body", "orelse", "finalbody"):
        yield from getattr(stmt, field, []) or []
    for handler in getattr(stmt, "handlers", []) or []:
        yield from handler.body


def is_check(stmt, asserted_names=frozenset()):
    """Does statement `stmt` only verify (assert, glue, tolerance bookkeeping, a report)?"""
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        name = _call_name(stmt.value)
        if name == "glue" or name in TOLERANCE_CALLS or (name and ASSERT_CALLS.fullmatch(name)):
            return True
        return name == "print" and _reports_check(stmt.value, asserted_names)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return stmt.value is not None and _is_tolerance_value(stmt.value)
    if _imports_glue_only(stmt):
        return True
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return stmt.name == "glue"
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)):
        body = list(_bodies(stmt))
        return bool(body) and all(is_check(s, asserted_names) for s in body)
    return False


def _first_line(stmt):
    decorators = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _check_line_numbers(body, asserted_names):
    lines = set()
    for stmt in body:
        if is_check(stmt, asserted_names):
            lines.update(range(_first_line(stmt), stmt.end_lineno + 1))
        else:
            lines |= _check_line_numbers(list(_bodies(stmt)), asserted_names)
    return lines


def count_code(source):
    """(non-blank lines, check lines) of one code cell's source."""
    lines = source.split("\n")
    nonblank = {i for i, line in enumerate(lines, start=1) if line.strip()}
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:  # e.g. a %%bash cell: code, but nothing we can read as a check
        return len(nonblank), 0
    asserted = frozenset(n.test.id for n in ast.walk(tree)
                         if isinstance(n, ast.Assert) and isinstance(n.test, ast.Name))
    checks = _check_line_numbers(tree.body, asserted) & nonblank
    return len(nonblank), len(checks)


def input_is_visible(cell, notebook_metadata):
    """Does the website show this code cell's input (unfolded)?"""
    if set(cell.get("metadata", {}).get("tags", [])) & HIDING_TAGS:
        return False
    cell_level = cell.get("metadata", {}).get("mystnb", {}) or {}
    file_level = notebook_metadata.get("mystnb", {}) or {}
    return not cell_level.get("remove_code_source", file_level.get("remove_code_source", False))


# --- chapters -----------------------------------------------------------------------------------

def chapter_stats(path):
    """The counts of one notebook, as a `ChapterStats`."""
    path = pathlib.Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    metadata = notebook.get("metadata", {})
    prose = solutions = code = checks = hidden = 0
    for cell in notebook["cells"]:
        source = _source(cell)
        if not source.strip():
            continue
        if cell["cell_type"] == "markdown":
            if set(cell.get("metadata", {}).get("tags", [])) & REMOVING_TAGS:
                continue
            shown, folded = split_markdown(source)
            prose += count_words(shown)
            solutions += count_words(folded)
        elif cell["cell_type"] == "code":
            lines, check_lines = count_code(source)
            if input_is_visible(cell, metadata):
                code += lines
                checks += check_lines
            else:
                hidden += lines
    return ChapterStats(path.stem, prose, code, checks, solutions, hidden)


def book_stats(paths=None):
    """`ChapterStats` of the given notebooks, or of every chapter in `chapters/`."""
    paths = sorted(CHAPTERS.glob("*.ipynb")) if not paths else [pathlib.Path(p) for p in paths]
    return [chapter_stats(p) for p in paths]


def markdown_table(stats):
    """The counts as a Markdown table, a row per chapter and a total row."""
    rows = ["| chapter | prose words | visible code lines | visible check lines | check share "
            "| folded solution words | hidden code lines |",
            "|---|--:|--:|--:|--:|--:|--:|"]

    def row(name, s):
        return (f"| {name} | {s.prose_words:,} | {s.code_lines:,} | {s.check_lines:,} "
                f"| {100 * s.check_share:.1f}% | {s.solution_words:,} | {s.hidden_code_lines:,} |")

    for s in stats:
        rows.append(row(s.chapter, s))
    total = ChapterStats("total", *(sum(getattr(s, f.name) for s in stats)
                                    for f in dataclasses.fields(ChapterStats)[1:]))
    rows.append(row("**total**", total))
    return "\n".join(rows)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    print(markdown_table(book_stats(argv)))


if __name__ == "__main__":
    main()
