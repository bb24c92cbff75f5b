"""Helpers of the book's notebooks: hand a number to the text, print a function's code."""

import inspect
import textwrap

try:  # myst-nb builds the website; it is not installed on Colab
    from myst_nb import glue as _myst_glue
except ImportError:
    _myst_glue = None


def glue(name, value, display=True):
    """Hand `value` to the text of the book, where `{glue:text}`name`` shows it.

    Where the book is not being built (Colab, a plain Jupyter), `value` is
    printed if `display` is True, and otherwise only kept in the notebook.
    """
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        print(value)


def show_code(function):
    """Print a function's or a method's signature and body, without its docstring."""
    source = inspect.getsource(function)
    head, quotes, rest = source.partition('"' * 3)
    if quotes:  # leave out the docstring: from its opening quotes to its closing ones
        source = head.rstrip() + rest.partition('"' * 3)[2]
    print(textwrap.dedent(source).strip("\n") + "\n")
