"""vaelib: a small, copyable Keras 3 library for Variational Autoencoders.

It follows *Auto-Encoding Variational Bayes* (Kingma & Welling, 2013,
arXiv:1312.6114) and runs unchanged on the TensorFlow, JAX and PyTorch backends
of Keras 3, because it uses only `keras.ops` and `keras.random`.

The paper's model and loss, in three files:

- `vaelib.layers`: the reparameterization trick (`Sampling`, paper Eq. 10) and
  `LogVarianceFloor`.
- `vaelib.losses`: the per-example terms of the bound: closed-form KL
  (Appendix B) and the decoders' log-likelihoods (Appendix C).
- `vaelib.models`: the paper's MLP encoder and decoder, and the `VAE` trained
  by the SGVB estimators (Eqs. 6 and 7), with β.

Variants, each a subclass of `VAE` that overrides one hook, or new networks:

- `vaelib.conv`: convolutional encoder and decoder.
- `vaelib.conditional`: the conditional VAE and its networks.
- `vaelib.mmd`: the MMD estimator and the MMD-regularized `MMDVAE`.
- `vaelib.autoencoder`: the plain, deterministic `Autoencoder`.
- `vaelib.wake_sleep`: the wake-sleep algorithm (the paper's baseline).

Around them:

- `vaelib.callbacks`: `KLAnnealing`, the warm-up of β.
- `vaelib.saving`: `save_model` (atomic, verified) and `load_model` (safe mode).
- `vaelib.evaluation`: the test-set ELBO and the importance-sampled log p(x).
- `vaelib.data`: MNIST, Fashion-MNIST and Frey Face, content-verified.
- `vaelib.plots`: image grids, latent scatter plots and the learned manifold.
- `vaelib.toy`: a model small enough to integrate on a grid (Chapters 1-2).

`vaelib.data`, `vaelib.plots` and `vaelib.toy` are imported on first use, so
that the core needs only `keras` and `numpy`.
"""

import importlib

from vaelib import (autoencoder, callbacks, conditional, conv, evaluation, layers, losses, mmd,
                    models, saving, wake_sleep)
from vaelib.autoencoder import Autoencoder
from vaelib.callbacks import KLAnnealing
from vaelib.conditional import ConditionalVAE, build_conditional_decoder, build_conditional_encoder
from vaelib.conv import build_conv_decoder, build_conv_encoder
from vaelib.layers import LogVarianceFloor, Sampling
from vaelib.mmd import MMDVAE
from vaelib.models import VAE, build_decoder, build_encoder
from vaelib.saving import load_model, save_model
from vaelib.wake_sleep import WakeSleep

__version__ = "0.2.0"

__all__ = [
    "VAE",
    "WakeSleep",
    "ConditionalVAE",
    "MMDVAE",
    "Autoencoder",
    "KLAnnealing",
    "Sampling",
    "LogVarianceFloor",
    "build_conditional_decoder",
    "build_conditional_encoder",
    "build_conv_decoder",
    "build_conv_encoder",
    "build_decoder",
    "build_encoder",
    "load_model",
    "save_model",
    "autoencoder",
    "callbacks",
    "conditional",
    "conv",
    "data",
    "evaluation",
    "layers",
    "losses",
    "mmd",
    "models",
    "plots",
    "saving",
    "toy",
    "wake_sleep",
]


def __getattr__(name):
    # `data` needs scipy (Frey Face) and `plots` needs matplotlib: import them
    # only when they are used.
    if name in ("data", "plots", "toy"):
        return importlib.import_module(f"vaelib.{name}")
    raise AttributeError(f"module 'vaelib' has no attribute {name!r}")
