"""The figures (vaelib.plots), drawn with matplotlib's Agg backend."""

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from tiny import tiny_model  # noqa: E402
from vaelib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_tile_places_image_i_in_row_i_div_ncols_and_column_i_mod_ncols():
    """Image i of shape (h, w) starts at ((i // ncols)(h + pad), (i % ncols)(w + pad)); padding is 1."""
    h, w, pad, ncols = 3, 4, 1, 3
    images = np.stack([np.full((h, w), i / 10) for i in range(5)])  # image i is uniformly i/10
    images[2, 1, 3] = 0.95  # one marked pixel, to check the orientation inside an image
    canvas = plots.tile(images, ncols=ncols, pad=pad)
    assert canvas.shape == (2 * (h + pad) - pad, ncols * (w + pad) - pad)
    for i in range(5):
        r, c = divmod(i, ncols)
        block = canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w]
        np.testing.assert_array_equal(block, images[i].astype("float32"))
    assert canvas[0 * (h + pad) + 1, 2 * (w + pad) + 3] == np.float32(0.95)
    assert np.all(canvas[h, :] == 1) and np.all(canvas[:, w] == 1)  # padding rows and columns
    np.testing.assert_array_equal(canvas[h + pad:, 2 * (w + pad):], 1)  # the empty sixth slot


def test_tile_infers_the_image_shape():
    """(n, 784) -> 28x28, (n, 560) -> 28x20 (Frey Face), (n, h, w) as given; otherwise image_shape."""
    assert plots.tile(np.zeros((2, 784)), ncols=2, pad=0).shape == (28, 56)
    assert plots.tile(np.zeros((2, 560)), ncols=1, pad=0).shape == (56, 20)
    assert plots.tile(np.zeros((3, 5, 6)), ncols=3, pad=2).shape == (5, 3 * 8 - 2)
    assert plots.tile(np.zeros((4, 12)), ncols=2, image_shape=(3, 4), pad=0).shape == (6, 8)
    with pytest.raises(ValueError, match=r"Expected images of shape.*Received: shape=\(4, 12\)"):
        plots.tile(np.zeros((4, 12)), ncols=2)


def test_manifold_grid_is_the_inverse_normal_cdf_of_cell_centres():
    """Paper Fig. 4: z = Phi^{-1}((i + 1/2) / n) on both axes; z2 decreases down the rows."""
    n = 5
    grid = plots.manifold_grid(n)
    assert grid.shape == (n * n, 2) and grid.dtype == np.float32
    values = norm.ppf((np.arange(n) + 0.5) / n)
    np.testing.assert_allclose(grid[:n, 0], values, rtol=1e-6, atol=1e-7)  # z1 along the first row
    np.testing.assert_allclose(grid[::n, 1], values[::-1], rtol=1e-6, atol=1e-7)  # z2 down the first column
    rows = grid.reshape(n, n, 2)
    assert np.all(rows[0, :, 1] == rows[0, 0, 1]) and rows[0, 0, 1] > 0  # first row: the largest z2
    assert np.all(np.diff(rows[:, 0, 1]) < 0) and np.all(np.diff(rows[0, :, 0]) > 0)
    np.testing.assert_allclose(np.sort(grid[:, 0]), -np.sort(grid[:, 0])[::-1], atol=1e-6)  # symmetric
    np.testing.assert_allclose(grid[n * n // 2], [0, 0], atol=1e-7)  # odd n: the centre cell is z = 0
    np.testing.assert_allclose(norm.cdf(grid[:n, 0]) * n - 0.5, np.arange(n), atol=1e-5)


def test_manifold_refuses_a_latent_space_that_is_not_two_dimensional():
    with pytest.raises(ValueError, match=r"Expected a model with a 2-D latent space.*Received: latent_dim=3"):
        plots.manifold(tiny_model(latent_dim=3))


def test_manifold_shows_the_decoder_mean_on_the_grid():
    """manifold(model, n) = image_grid of decode(manifold_grid(n))."""
    model = tiny_model(latent_dim=2)
    ax = plots.manifold(model, n=4, image_shape=(3, 4), title="manifold")
    shown = np.asarray(ax.images[0].get_array())
    expected = plots.tile(model.decode(plots.manifold_grid(4)), ncols=4, image_shape=(3, 4))
    np.testing.assert_allclose(shown, expected, rtol=1e-6)
    assert ax.get_title() == "manifold"


def test_image_grid_draws_the_tiled_images():
    images = np.random.default_rng(0).random((6, 784))
    ax = plots.image_grid(images, ncols=3, title="samples")
    assert isinstance(ax, plt.Axes) and ax.get_title() == "samples" and not ax.axison
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), plots.tile(images, 3))
    assert ax.images[0].get_clim() == (0.0, 1.0)


def test_latent_scatter_labels_the_axes():
    z = np.random.default_rng(0).normal(size=(50, 2))
    ax = plots.latent_scatter(z, labels=np.arange(50) % 10, title="posterior means")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$z_1$", "$z_2$", "posterior means")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), z)
    with pytest.raises(ValueError, match=r"Expected latent codes of shape \(n, 2\).*Received: shape=\(50, 3\)"):
        plots.latent_scatter(np.zeros((50, 3)))


def test_loss_curves_plot_the_three_terms_per_epoch():
    history = {"loss": [3.0, 2.0, 1.5], "reconstruction": [2.5, 1.6, 1.2], "kl": [0.5, 0.4, 0.3],
               "val_loss": [3.1, 2.2, 1.7], "val_reconstruction": [2.6, 1.8, 1.4], "val_kl": [0.5, 0.4, 0.3]}
    ax = plots.loss_curves(history)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "nats per example")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train loss", "validation loss", "train reconstruction", "validation reconstruction",
                      "train kl", "validation kl"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), history["loss"])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == labels
    fitted = types.SimpleNamespace(history={k: v for k, v in history.items() if not k.startswith("val_")})
    assert [line.get_label() for line in plots.loss_curves(fitted).get_lines()] == [
        "train loss", "train reconstruction", "train kl"]  # a History object works too
