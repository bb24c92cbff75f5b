"""How long vaelib is, module by module, and how much of its core path is argument checks.

    python -m tools.vaelib_size

prints a Markdown table of the modules of `vaelib/` (file, lines, the first line
of its docstring) and a line about the *core path*: the three files that hold
the paper's model and loss (`layers.py`: `Sampling`; `losses.py`: the KL and
the log-likelihoods; `models.py`: the MLP builders, `VAE.call` and
`compute_loss`).

How it counts:

- a file's lines are its physical lines, docstrings, comments and blank lines
  included (what a reader scrolls through); its code lines leave out blank
  lines, comments and docstrings;
- a *check line* is a physical line of a statement that validates an argument:
  a call of a function of `vaelib._checks` (a `check_*` helper or
  `data_range`), a `raise` statement, or an `if` whose body only raises. Every
  line of such a statement counts, continuation lines included. The
  statements are found with `ast`, so a check inside a longer expression
  (`z = keras.Input(shape=(check_positive_int(...),))`) counts as the lines of
  its statement;
- `raises_in_core` lists the `raise` statements found in the core files:
  each check there should be one line that calls a named helper instead.

`tests/test_architecture.py` holds the core path to at most 500 lines with at
most a quarter of them checks, and to no `raise` of its own.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
VAELIB = ROOT / "vaelib"
CORE = ("layers.py", "losses.py", "models.py")


def _check_helpers(tree):
    """Names the module imports from vaelib._checks."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "vaelib._checks":
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def _is_check(statement, helpers):
    if isinstance(statement, ast.Raise):
        return True
    if isinstance(statement, ast.If) and all(isinstance(s, ast.Raise) for s in statement.body):
        return True
    if isinstance(statement, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef,
                              ast.ClassDef)):
        return False  # a compound statement: its own statements are looked at one by one
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id in helpers for node in ast.walk(statement))


def measure(path):
    """`{"lines", "check_lines", "raises", "summary"}` of one Python file."""
    source = path.read_text()
    tree = ast.parse(source)
    helpers = _check_helpers(tree) - {"CheckedFit", "UNIT_INTERVAL"}
    check_lines, raises = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and _is_check(node, helpers):
            check_lines |= set(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, ast.Raise):
            raises.append(node.lineno)
    docstring = ast.get_docstring(tree) or ""
    return {"lines": len(source.splitlines()), "code_lines": len(_code_lines(source, tree)),
            "check_lines": len(check_lines), "raises": raises,
            "summary": docstring.splitlines()[0] if docstring else ""}


def _code_lines(source, tree):
    """Line numbers that hold code: not blank, not only a comment, not in a docstring."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings |= set(range(body[0].lineno, body[0].end_lineno + 1))
    return {i for i, line in enumerate(source.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#") and i not in docstrings}


def report():
    """Per-module measurements and the core path's totals."""
    modules = {path.name: measure(path) for path in sorted(VAELIB.glob("*.py"))}
    core_lines = sum(modules[name]["lines"] for name in CORE)
    core_code = sum(modules[name]["code_lines"] for name in CORE)
    core_checks = sum(modules[name]["check_lines"] for name in CORE)
    return {"modules": modules, "core_files": CORE, "core_lines": core_lines,
            "core_code_lines": core_code, "core_check_lines": core_checks,
            "core_check_share": core_checks / core_lines,
            "core_check_share_of_code": core_checks / core_code,
            "raises_in_core": {name: modules[name]["raises"] for name in CORE
                               if modules[name]["raises"]}}


def main():
    result = report()
    print("| module | lines | code lines | check lines | what it holds |")
    print("|---|---:|---:|---:|---|")
    for name, m in result["modules"].items():
        print(f"| `{name}` | {m['lines']} | {m['code_lines']} | {m['check_lines']} | {m['summary']} |")
    total = {key: sum(m[key] for m in result["modules"].values())
             for key in ("lines", "code_lines", "check_lines")}
    print(f"| **total** | {total['lines']} | {total['code_lines']} | {total['check_lines']} | |")
    print(f"\ncore path ({', '.join(CORE)}): {result['core_lines']} lines, "
          f"{result['core_code_lines']} of code; {result['core_check_lines']} check lines, "
          f"{100 * result['core_check_share']:.1f}% of all lines and "
          f"{100 * result['core_check_share_of_code']:.1f}% of the code lines; "
          f"raise statements in the core: {result['raises_in_core'] or 'none'}")


if __name__ == "__main__":
    main()
