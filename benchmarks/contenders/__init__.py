"""The contenders, one small module each; every one trains the recipe of `benchmarks.common`.

Each module has `train(x_train, clock, options)`: it builds its model, trains it
on the in-memory array `x_train` (float32, shape (n, 784)) for as many epochs as
`clock` asks, calling `clock.begin()` before and `clock.end(get_weights)` after
every epoch, and returns a dict of the settings it used. `get_weights()` returns
the ten arrays of `benchmarks.common.negative_elbo`.

`CONTENDERS` is the registry that `benchmarks.run` measures: each entry names
its module, its Keras backend (one process per contender) and its options.
"""

import importlib.util


class Contender:
    """A way of training the recipe: a module of benchmarks/contenders, a Keras backend, options."""

    def __init__(self, name, label, group, module, requires, backend=None, options=None):
        self.name, self.label, self.group, self.module = name, label, group, module
        self.requires, self.backend, self.options = requires, backend, options or {}

    def missing(self):
        """The first required package that is not installed, or None."""
        for package in self.requires:
            if importlib.util.find_spec(package) is None:
                return package
        return None


CONTENDERS = [
    Contender("vaelib_tensorflow", "vaelib fit(), TensorFlow", "vaelib", "vaelib_fit",
              ["keras", "tensorflow"], "tensorflow"),
    Contender("vaelib_jax", "vaelib fit(), JAX", "vaelib", "vaelib_fit", ["keras", "jax"], "jax"),
    Contender("vaelib_torch", "vaelib fit(), PyTorch", "vaelib", "vaelib_fit",
              ["keras", "torch"], "torch"),
    Contender("pytorch_eager", "pytorch/examples style, eager", "pytorch", "pytorch_example",
              ["torch"]),
    Contender("pytorch_compile", "pytorch/examples style, torch.compile", "pytorch",
              "pytorch_example", ["torch"], options={"compile": True}),
    Contender("keras_io_tensorflow", "keras.io style (GradientTape), TensorFlow", "keras",
              "keras_io", ["keras", "tensorflow"], "tensorflow"),
    Contender("keras_fit_tensorflow", "plain Keras compute_loss + fit(), TensorFlow", "keras",
              "keras_plain", ["keras", "tensorflow"], "tensorflow"),
    Contender("keras_fit_jax", "plain Keras compute_loss + fit(), JAX", "keras", "keras_plain",
              ["keras", "jax"], "jax"),
    Contender("keras_fit_torch", "plain Keras compute_loss + fit(), PyTorch", "keras",
              "keras_plain", ["keras", "torch"], "torch"),
]
BY_NAME = {c.name: c for c in CONTENDERS}
TIME_TO_QUALITY_BASELINES = ("pytorch_eager", "keras_io_tensorflow")
IS_BACKEND = "tensorflow"  # the book's backend, as Chapter 7 runs it
