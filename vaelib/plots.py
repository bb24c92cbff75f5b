"""Figures of the book: image grids, latent scatter plots, the learned manifold (paper Fig. 4)."""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from vaelib._checks import check_model, check_positive_int
from vaelib.models import VAE

_KNOWN_SHAPES = {784: (28, 28), 560: (28, 20)}  # MNIST, Frey Face


def _image_shape(images, image_shape):
    if image_shape is not None:
        return tuple(image_shape)
    if images.ndim == 3:
        return images.shape[1:]
    if images.ndim == 4 and images.shape[-1] == 1:
        return images.shape[1:3]
    if images.ndim == 2 and images.shape[1] in _KNOWN_SHAPES:
        return _KNOWN_SHAPES[images.shape[1]]
    raise ValueError(
        "Expected images of shape (n, 784), (n, 560), (n, height, width) or an "
        f"explicit `image_shape`. Received: shape={images.shape}"
    )


def tile(images, ncols, image_shape=None, pad=1):
    """Arrange images in one array: rows of `ncols` images separated by `pad` pixels.

    Args:
        images: shape `(n, D)` or `(n, height, width)`.
        ncols: images per row.
        image_shape: `(height, width)` of one image, if it cannot be inferred.
        pad: pixels between images (filled with the maximum value, 1).

    Returns:
        2-D array of shape `(rows·(height+pad)-pad, ncols·(width+pad)-pad)`.
    """
    images = np.asarray(images, dtype="float32")
    height, width = _image_shape(images, image_shape)
    images = images.reshape(-1, height, width)  # (n, height, width)
    ncols = check_positive_int("ncols", ncols)
    nrows = -(-len(images) // ncols)
    canvas = np.ones((nrows * (height + pad) - pad, ncols * (width + pad) - pad), "float32")
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (height + pad):r * (height + pad) + height,
               c * (width + pad):c * (width + pad) + width] = image
    return canvas


def image_grid(images, ncols=10, image_shape=None, ax=None, title=None):
    """Show images in a grid (grey levels, 0 = black, 1 = white).

    Args:
        images: shape `(n, D)` or `(n, height, width)`, values in [0, 1].
        ncols: images per row.
        image_shape: `(height, width)`, if it cannot be inferred from D.
        ax: a matplotlib Axes; a new figure if `None`.
        title: title of the Axes.

    Returns:
        The Axes.
    """
    ax = ax or plt.figure(figsize=(ncols * 0.6, 0.6 * -(-len(images) // ncols) + 0.4)).gca()
    ax.imshow(tile(images, ncols, image_shape), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def latent_scatter(z, labels=None, ax=None, title=None):
    """Scatter 2-D latent codes (e.g. the posterior means μ), coloured by class.

    Args:
        z: shape `(n, 2)`.
        labels: optional integer classes, shape `(n,)`.
        ax: a matplotlib Axes; a new figure if `None`.
        title: title of the Axes.

    Returns:
        The Axes.
    """
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"Expected latent codes of shape (n, 2). Received: shape={z.shape}")
    ax = ax or plt.figure(figsize=(5.5, 4.5)).gca()
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6)
    if labels is not None:
        plt.colorbar(points, ax=ax, label="class")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def manifold_grid(n=20):
    """Latent coordinates of the learned-manifold figure (paper Fig. 4).

    Linearly spaced points on the unit square (cell centres, so that no point
    maps to ±∞) are mapped through the inverse CDF of the standard Gaussian,
    so that each cell carries equal prior probability mass.

    Returns:
        shape `(n·n, 2)`; row-major, z₂ decreasing down the rows.
    """
    n = check_positive_int("n", n)
    values = norm.ppf((np.arange(n) + 0.5) / n)  # (n,)
    z1, z2 = np.meshgrid(values, values[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1).astype("float32")


def manifold(model, n=20, image_shape=None, ax=None, title=None):
    """Show the decoder's mean on the `manifold_grid` of a 2-D latent space (Fig. 4).

    Args:
        model: a trained `vaelib.models.VAE` with `latent_dim == 2`.
        n: images per side.
        image_shape: `(height, width)`, if it cannot be inferred.
        ax: a matplotlib Axes; a new figure if `None`.
        title: title of the Axes.

    Returns:
        The Axes.
    """
    check_model("model", model, VAE)
    if model.latent_dim != 2:
        raise ValueError(
            f"Expected a model with a 2-D latent space. Received: latent_dim={model.latent_dim}"
        )
    images = model.decode(manifold_grid(n))
    ax = ax or plt.figure(figsize=(6, 6)).gca()
    return image_grid(images, ncols=n, image_shape=image_shape, ax=ax, title=title)


def loss_curves(history, ax=None):
    """Plot a model's training curves: `loss` and the terms it reports, per epoch.

    Args:
        history: `model.fit(...).history`, or the `History` object itself: a
            dict with `loss` and any of the terms of `VAE.loss_terms`
            (`reconstruction`, `kl`, `mmd`, `wake`, `sleep`), with or without
            their `val_` curves.
        ax: a matplotlib Axes; a new figure if `None`.

    Returns:
        The Axes.
    """
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or "loss" not in history:
        raise ValueError(
            "Expected the history of `fit` (a dict with a 'loss' curve, or a keras History). "
            f"Received: {type(history).__name__}"
            + (f" with keys {sorted(history)}" if isinstance(history, dict) else ""))
    ax = ax or plt.figure(figsize=(6, 4)).gca()
    epochs = np.arange(1, len(history["loss"]) + 1)
    names = [key for key in ("loss", "reconstruction", "kl", "mmd", "wake", "sleep")
             if key in history]
    for i, key in enumerate(names):
        ax.plot(epochs, history[key], color=f"C{i}", label=f"train {key}")
        if "val_" + key in history:
            ax.plot(epochs, history["val_" + key], color=f"C{i}", ls="--", label=f"validation {key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per example")
    ax.legend(fontsize="small")
    return ax
