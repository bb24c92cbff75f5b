"""vaebook: the book's own helpers, kept out of `vaelib` so that the library stays small.

- `vaebook.notebook`: what every chapter's setup uses: `glue` (numbers handed to the text of
  the book, or printed where the book is not being built, e.g. on Colab) and `show_code`
  (a vaelib function printed without its docstring, beside the equation it computes).
- `vaebook.style`: the one matplotlib style of the book's figures.
- `vaebook.diagrams`: the book's diagrams (graphical model, network, computation graphs),
  drawn by code so that they look the same on the website, on Colab and on GitHub.

It is installed with vaelib (`pip install -e .`, or the Colab cell of each chapter), but
vaelib never imports it: copying `vaelib/` into a project needs nothing from here.
"""
