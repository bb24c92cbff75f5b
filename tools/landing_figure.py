"""Draw the figure of the book's landing page, `images/landing.png`, from Chapter 4's trained VAE.

    python -m tools.landing_figure

loads the committed model `experiments/results/chapter04_model.keras` (784-500-20 tanh MLPs,
Bernoulli decoder, trained by `experiments/chapter04_model.py`) in safe mode on the TensorFlow
backend, and draws two panels in the book's figure style (`vaebook.style`):

- 20 samples from the model: z ~ N(0, I), decoded to the pixel probabilities E[x | z];
- one statically binarized MNIST test digit of each class (`vaelib.data.load_mnist(binarization=
  "static", seed=0)`, the data of Chapter 4) above its reconstruction E[x | z = μ_φ(x)].

The PNG is saved by `vaebook.style.save`: at twice the figure's screen resolution, with the
size of its smallest text recorded for the browser test. Every random draw is seeded, so the figure is the same on every run of the same backend.
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no timestamped start-up logs
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the same digits on every x86 CPU

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "experiments" / "results" / "chapter04_model.keras"
RECORD = ROOT / "experiments" / "results" / "chapter04_model.json"
OUTPUT = ROOT / "images" / "landing.png"

SAMPLE_SEED = 0  # the noise of the 20 samples z ~ N(0, I)
MAX_BYTES = 300_000


def load_chapter04_model():
    """Chapter 4's VAE, loaded in safe mode and checked against its experiment record."""
    try:  # vaelib's safe loader: `vaelib.saving` after the library's reorganization
        from vaelib.saving import load_model
    except ImportError:
        from vaelib.models import load_model
    recipe = json.loads(RECORD.read_text())["recipe"]
    return load_model(str(MODEL), expected_latent_dim=recipe["latent_dim"],
                      expected_input_shape=(recipe["input_dim"],), compile=False)


def one_test_digit_per_class(x_test, y_test):
    """The first test digit of each class 0-9, in class order."""
    import numpy as np

    return np.stack([x_test[np.flatnonzero(y_test == digit)[0]] for digit in range(10)])


def draw(model, digits):
    """The figure: samples of the model on top, digits and their reconstructions below."""
    import matplotlib.pyplot as plt
    import numpy as np

    from vaebook import style
    from vaelib import plots

    samples = model.sample(20, seed=SAMPLE_SEED)  # E[x | z], z ~ N(0, I)
    reconstructions = model.reconstruct(digits)  # E[x | z = μ_φ(x)]
    # Two panels of 2 x 10 images, each as wide as the figure: the width sets the scale.
    width = style.FULL_WIDTH  # the website's content column
    panel = width * plots.tile(samples, 10).shape[0] / plots.tile(samples, 10).shape[1]
    title, gap = 0.32, 0.12  # inches above each panel for its title, and between the panels
    height = 2 * (panel + title) + gap
    fig = plt.figure(figsize=(width, height), layout="none")  # panels placed by hand
    bottom = fig.add_axes((0.0, 0.0, 1.0, panel / height))
    top = fig.add_axes((0.0, (panel + title + gap) / height, 1.0, panel / height))
    plots.image_grid(samples, ncols=10, ax=top,
                     title="Samples: $z \\sim \\mathcal{N}(0, I)$, decoded")
    plots.image_grid(np.concatenate([digits, reconstructions]), ncols=10, ax=bottom,
                     title="Test digits (top) and their reconstructions (bottom)")
    return fig


def main():
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    import vaebook.style
    from vaelib import data

    if keras.backend.backend() != "tensorflow":
        sys.exit(f"Run on the TensorFlow backend (KERAS_BACKEND=tensorflow), not {keras.backend.backend()}")
    vaebook.style.use()
    keras.utils.set_random_seed(0)
    model = load_chapter04_model()
    _, (x_test, y_test) = data.load_mnist(binarization="static", seed=0)
    fig = draw(model, one_test_digit_per_class(x_test, y_test))
    OUTPUT.parent.mkdir(exist_ok=True)
    vaebook.style.save(fig, OUTPUT)  # 2x, with the size of its smallest text recorded
    plt.close(fig)
    size = OUTPUT.stat().st_size
    width, height = Image.open(OUTPUT).size
    print(f"{OUTPUT.relative_to(ROOT)}: {width} x {height} px, {size / 1000:.0f} kB")
    if size > MAX_BYTES:
        sys.exit(f"{OUTPUT.name} is {size:,} bytes, more than {MAX_BYTES:,}")


if __name__ == "__main__":
    main()
