"""vaelib: a small, copyable Keras 3 library for Variational Autoencoders.

It follows *Auto-Encoding Variational Bayes* (Kingma & Welling, 2013,
arXiv:1312.6114) and runs unchanged on the TensorFlow, JAX and PyTorch backends
of Keras 3, because it uses only `keras.ops` and `keras.random`.

Modules, one idea each:

- `vaelib.layers`: the reparameterization trick (`Sampling`, paper Eq. 10).
- `vaelib.losses`: closed-form KL (Appendix B) and the decoders'
  log-likelihoods (Appendix C).
- `vaelib.models`: the paper's MLP encoder and decoder, and the `VAE` model
  trained by the SGVB estimators (Eqs. 6 and 7); β-VAE, MMD and plain
  autoencoders, KL annealing, conditional and convolutional variants.
- `vaelib.data`: MNIST, Fashion-MNIST and Frey Face, content-verified.
- `vaelib.evaluation`: the test-set ELBO and the importance-sampled log p(x).
- `vaelib.plots`: image grids, latent scatter plots and the learned manifold.
- `vaelib.wake_sleep`: the wake-sleep algorithm (Appendix D), the paper's
  baseline in Fig. 2, with the same encoder and decoder as the VAE.
- `vaelib.toy`: a latent-variable model small enough to integrate on a grid
  (evidence and posterior by quadrature, both forms of the bound), for
  Chapters 1 and 2.

`vaelib.data`, `vaelib.plots` and `vaelib.toy` are imported on first use, so
that the core needs only `keras` and `numpy`.
"""

import importlib

from vaelib import layers, losses, models, evaluation, wake_sleep
from vaelib.layers import Sampling
from vaelib.models import (
    VAE,
    ConditionalVAE,
    KLAnnealing,
    build_conditional_decoder,
    build_conditional_encoder,
    build_conv_decoder,
    build_conv_encoder,
    build_decoder,
    build_encoder,
)
from vaelib.wake_sleep import WakeSleep

__version__ = "0.1.0"

__all__ = [
    "VAE",
    "WakeSleep",
    "ConditionalVAE",
    "KLAnnealing",
    "Sampling",
    "build_conditional_decoder",
    "build_conditional_encoder",
    "build_conv_decoder",
    "build_conv_encoder",
    "build_decoder",
    "build_encoder",
    "data",
    "evaluation",
    "layers",
    "losses",
    "models",
    "plots",
    "toy",
    "wake_sleep",
]


def __getattr__(name):
    # `data` needs scipy (Frey Face) and `plots` needs matplotlib: import them
    # only when they are used.
    if name in ("data", "plots", "toy"):
        return importlib.import_module(f"vaelib.{name}")
    raise AttributeError(f"module 'vaelib' has no attribute {name!r}")
