"""vaelib's VAE trained with `fit()`, called as the book's chapters call it.

The model is built with vaelib's public API exactly as Chapter 4 builds it
(`build_encoder`, `build_decoder`, `VAE(..., estimator="B", num_samples=1)`, by the
experiments' `build_mlp_vae`),
with the recipe's sizes and ReLU units, and compiled with the chapters'
settings: Adam, Keras' default `jit_compile="auto"` (XLA on JAX, where it is
what makes JAX fast; off on TensorFlow without a GPU and on PyTorch, where it
would make training slower), `steps_per_execution=50` (1 on PyTorch, the only
value Keras' PyTorch trainer accepts). The Keras backend is the one
this process was started with (`KERAS_BACKEND`).
"""

import keras

from benchmarks.common import RECIPE
from benchmarks.contenders._keras_clock import ClockCallback
from experiments.common import build_mlp_vae


def recipe_vae(seed=0):
    """vaelib's VAE for the recipe (784-400-20 ReLU MLP, Bernoulli decoder), weights seeded."""
    return build_mlp_vae({**RECIPE, "global_seed": seed, "sampling_seed": 1})


def train(x_train, clock, options):
    vae = recipe_vae(options.get("seed", 0))
    torch_backend = keras.backend.backend() == "torch"
    settings = {
        "jit_compile": options.get("jit_compile", "auto"),
        "steps_per_execution": 1 if torch_backend else options.get("steps_per_execution", 50),
    }
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=RECIPE["learning_rate"]), **settings)
    settings["jit_compile"] = bool(vae.jit_compile)  # what "auto" resolved to

    def get_weights():
        return vae.encoder.get_weights() + vae.decoder.get_weights()

    vae.fit(x_train, epochs=clock.planned_epochs, batch_size=RECIPE["batch_size"], verbose=0,
            callbacks=[ClockCallback(clock, get_weights)])
    if options.get("save_weights"):
        vae.save_weights(options["save_weights"])
    return {"backend": keras.backend.backend(), **settings}
