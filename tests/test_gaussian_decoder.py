"""The Gaussian decoder of Appendix C.2 (vaelib.models.build_decoder, likelihood="gaussian").

What is checked: the sigmoid mean the paper uses for Frey Face, the fixed-variance
variant, the floor on the learned log-variance (`LogVarianceFloor`) and the floor
that suits quantized data (`losses.quantization_log_var_floor`), the loss of a
floored decoder against NumPy, saving and loading, the errors for options that do
not fit together, and, in training, that an unbounded variance collapses on a
constant pixel while a floored one stays put.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops
from scipy.stats import norm

from tiny import D, J, codes, decoder, grey_data, numpy_decoder, numpy_encoder, tiny_model
from vaelib import losses, models
from vaelib.layers import LogVarianceFloor

FLOOR_8_BIT = losses.quantization_log_var_floor(1 / 255)


def np_(tensor):
    return ops.convert_to_numpy(tensor).astype("float64")


def softplus(t):
    return np.logaddexp(0.0, t)


# -- the floor suited to quantized data --------------------------------------------


@pytest.mark.parametrize("bin_width", [1 / 255, 1 / 15, 0.5, 2.0])
def test_quantization_floor_puts_the_gaussian_peak_at_one_over_the_bin_width(bin_width):
    """At log σ² = log(Δ²/2π), log N(μ; μ, σ²) = log(1/Δ): one bin holds at most all the mass."""
    floor = losses.quantization_log_var_floor(bin_width)
    assert floor == pytest.approx(2 * math.log(bin_width) - math.log(2 * math.pi), rel=1e-12)
    peak = np_(losses.gaussian_log_likelihood(np.zeros((1, 1), "float32"), 0.0, floor))[0]
    assert peak == pytest.approx(math.log(1 / bin_width), abs=1e-5)


def test_quantization_floor_for_8_bit_images():
    assert FLOOR_8_BIT == pytest.approx(-12.9204, abs=1e-4)
    assert -0.5 * (math.log(2 * math.pi) + FLOOR_8_BIT) == pytest.approx(math.log(255), rel=1e-12)


@pytest.mark.parametrize("bad, error", [(0.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), ("1/255", TypeError)])
def test_quantization_floor_refuses_a_bin_width_that_is_not_a_positive_finite_number(bad, error):
    with pytest.raises(error, match="Expected `bin_width`"):
        losses.quantization_log_var_floor(bad)


# -- the floor layer ----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    t=st.lists(st.floats(-60.0, 60.0), min_size=1, max_size=8),
    m=st.floats(-20.0, 5.0),
)
def test_floor_is_m_plus_softplus_and_never_below_m(t, m):
    """log σ² = m + softplus(t - m) ≥ m for every input t."""
    layer = LogVarianceFloor(m)
    t = np.array([t], "float32")
    out = np_(layer(t))
    np.testing.assert_allclose(out, m + softplus(t.astype("float64") - m), rtol=1e-5, atol=1e-5)
    assert np.all(out >= m - 1e-5)


def test_floor_is_nearly_the_identity_far_above_and_m_far_below():
    m = -5.0
    layer = LogVarianceFloor(m)
    above = np.array([[20.0, 0.0, -1.0]], "float32")  # t - m ≥ 4
    np.testing.assert_allclose(np_(layer(above)), above + softplus(m - above), rtol=1e-6, atol=1e-6)
    assert np.max(np.abs(np_(layer(np.array([[30.0]], "float32"))) - 30.0)) < 1e-5
    below = np.array([[-40.0, -100.0]], "float32")  # t - m ≤ -35: exp(t - m) < 1e-15
    np.testing.assert_allclose(np_(layer(below)), m, atol=1e-6)


def test_floor_derivative_is_sigmoid_strictly_between_zero_and_one():
    """d/dt [m + softplus(t - m)] = sigmoid(t - m): the gradient is never cut off."""
    m, h = -3.0, 1e-2
    t = np.linspace(-10.0, 4.0, 15)
    layer = LogVarianceFloor(m)
    up, down = (np_(layer((t + s)[None].astype("float32")))[0] for s in (h, -h))
    slope = (up - down) / (2 * h)
    np.testing.assert_allclose(slope, 1 / (1 + np.exp(-(t - m))), atol=2e-3)
    assert np.all(slope > 0) and np.all(slope < 1)


def test_floor_layer_config_round_trip():
    layer = LogVarianceFloor(-4.5, name="floor")
    assert layer.get_config()["min_log_var"] == -4.5
    clone = LogVarianceFloor.from_config(layer.get_config())
    assert clone.min_log_var == -4.5 and clone.name == "floor"


@pytest.mark.parametrize("bad, error", [(float("nan"), ValueError), (float("inf"), ValueError),
                                        ("low", TypeError)])
def test_floor_layer_refuses_a_floor_that_is_not_a_finite_number(bad, error):
    with pytest.raises(error, match="Expected `min_log_var`"):
        LogVarianceFloor(bad)


# -- build_decoder ------------------------------------------------------------------


def test_sigmoid_mean_lies_in_the_unit_interval_and_default_mean_is_linear():
    """Frey Face (paper §5): the means are constrained to (0, 1) by a sigmoid."""
    z = np.random.default_rng(0).normal(scale=30.0, size=(64, J)).astype("float32")
    for activation in ("sigmoid", None):
        keras.utils.set_random_seed(0)
        network = decoder("gaussian", mean_activation=activation)
        x_mean, x_log_var = (np_(o) for o in network(z))
        assert x_mean.shape == x_log_var.shape == (64, D)
        if activation == "sigmoid":
            assert np.all((x_mean >= 0) & (x_mean <= 1))
        else:
            W, b = (w.astype("float64") for w in network.get_layer("x_mean").get_weights())
            h = np_(network.get_layer("hidden_0")(z))
            np.testing.assert_allclose(x_mean, h @ W + b, rtol=1e-4, atol=1e-4)


def test_floored_decoder_has_the_floor_layer_and_keeps_log_var_above_it():
    keras.utils.set_random_seed(0)
    network = decoder("gaussian", min_log_var=-2.0)
    assert isinstance(network.get_layer("x_log_var_floor"), LogVarianceFloor)
    kernel, bias = network.get_layer("x_log_var").get_weights()
    network.get_layer("x_log_var").set_weights([kernel, bias - 1000.0])  # raw log σ² ≈ -1000
    _, x_log_var = (np_(o) for o in network(codes(32)))
    np.testing.assert_allclose(x_log_var, -2.0, atol=1e-6)


def test_floored_log_likelihood_is_bounded_by_d_log_one_over_bin_width():
    """With the 8-bit floor, log p(x|z) ≤ D·log 255 even at x = μ with a collapsing raw variance."""
    keras.utils.set_random_seed(0)
    network = decoder("gaussian", mean_activation="sigmoid", min_log_var=FLOOR_8_BIT)
    kernel, bias = network.get_layer("x_log_var").get_weights()
    network.get_layer("x_log_var").set_weights([kernel, bias - 1e4])
    x_mean, x_log_var = network(codes(16, seed=2))
    log_px = np_(losses.gaussian_log_likelihood(x_mean, x_mean, x_log_var))  # the best case, x = μ
    assert np.all(log_px <= D * math.log(255) + 1e-3)
    np.testing.assert_allclose(log_px, D * math.log(255), rtol=1e-5)


def test_fixed_variance_decoder_outputs_the_mean_only_and_trains_with_decoder_log_var(tmp_path):
    """variance="fixed": log p(x|z) = log N(x; μ, exp(decoder_log_var) I), a scaled squared error."""
    model = tiny_model(likelihood="gaussian", variance="fixed", mean_activation="sigmoid",
                       decoder_log_var=-3.0)
    assert len(model.decoder.outputs) == 1
    x = grey_data(8)
    y_pred = model(x, epsilon=np.zeros((8, 1, J), "float32"))
    x_mean = np_(y_pred["x_mean"])[:, 0]
    squared_error = np.sum((x - x_mean) ** 2, axis=1)
    expected = -0.5 * D * (math.log(2 * math.pi) - 3.0) - squared_error / (2 * math.exp(-3.0))
    np.testing.assert_allclose(np_(model.log_px_given_z(x, y_pred))[:, 0], expected, rtol=1e-5)
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "fixed.keras")
    restored = keras.models.load_model(tmp_path / "fixed.keras")
    z = codes(4)
    np.testing.assert_array_equal(restored.decode(z), model.decode(z))
    with pytest.raises(ValueError, match="2 output"):  # a mean-only decoder needs decoder_log_var
        models.VAE(model.encoder, model.decoder, likelihood="gaussian")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"likelihood": "bernoulli", "mean_activation": "sigmoid"}, "only with likelihood='gaussian'"),
        ({"likelihood": "bernoulli", "min_log_var": -5.0}, "only with likelihood='gaussian'"),
        ({"likelihood": "bernoulli", "variance": "fixed"}, "only with likelihood='gaussian'"),
        ({"likelihood": "gaussian", "variance": "fixed", "min_log_var": -5.0}, "only with variance='learned'"),
        ({"likelihood": "gaussian", "variance": "free"}, "Expected `variance`"),
        ({"likelihood": "gaussian", "min_log_var": float("nan")}, "Expected `min_log_var`"),
    ],
)
def test_options_that_do_not_fit_together_get_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        decoder(**kwargs)


# -- the VAE with a floored decoder ----------------------------------------------------


def test_loss_of_a_floored_sigmoid_decoder_equals_numpy_minus_elbo():
    """-ELBO with μ = sigmoid(W₄h + b₄), log σ² = m + softplus(W₅h + b₅ - m), against NumPy."""
    m = -4.0
    model = tiny_model(likelihood="gaussian", mean_activation="sigmoid", min_log_var=m)
    rng = np.random.default_rng(3)
    x = rng.random((10, D)).astype("float32")
    eps = rng.normal(size=(10, 1, J)).astype("float32")
    loss = float(np_(model.compute_loss(x=x, y_pred=model(x, epsilon=eps), training=False)))
    xx = x.astype("float64")
    mu, log_var = numpy_encoder(model, xx)
    z = mu + np.exp(0.5 * log_var) * eps[:, 0]  # Eq. 10
    mean_head, log_var_head = numpy_decoder(model, z)  # W₄h + b₄ and W₅h + b₅
    x_mean = 1 / (1 + np.exp(-mean_head))
    x_log_var = m + softplus(log_var_head - m)
    log_px_z = norm.logpdf(xx, x_mean, np.exp(0.5 * x_log_var)).sum(1)  # Appendix C.2
    kl = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=1)  # Appendix B
    assert loss == pytest.approx(np.mean(kl - log_px_z), rel=1e-5)


def test_floored_vae_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    model = tiny_model(likelihood="gaussian", mean_activation="sigmoid", min_log_var=FLOOR_8_BIT)
    model.compile(optimizer="adam")
    x = grey_data(32)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "floored.keras")
    restored = keras.models.load_model(tmp_path / "floored.keras")  # safe_mode=True
    layer = restored.decoder.get_layer("x_log_var_floor")
    assert isinstance(layer, LogVarianceFloor) and layer.min_log_var == FLOOR_8_BIT
    z = codes(5)
    for a, b in zip(model.decoder(z), restored.decoder(z)):
        np.testing.assert_array_equal(np_(a), np_(b))


def constant_pixel_data(n=128, seed=0):
    """Grey levels in [0.2, 0.8], except pixel 0, which is 0 in every example."""
    x = np.random.default_rng(seed).uniform(0.2, 0.8, size=(n, D)).astype("float32")
    x[:, 0] = 0.0
    return x


def test_unbounded_variance_collapses_on_a_constant_pixel_and_the_floor_stops_it():
    """The failure the floor exists for: on a pixel that never changes, σ → 0 and the bound grows.

    The sigmoid mean of pixel 0 moves towards 0 at a steady pace in logit
    space, so its residual shrinks exponentially, the best log σ² falls
    linearly, and so does the loss: without a floor, training never
    converges. With a floor m, log σ² stops at m and the loss levels off.
    """
    x = constant_pixel_data()
    result = {}
    for name, floor in (("unbounded", None), ("floored", -6.0)):
        model = tiny_model(likelihood="gaussian", mean_activation="sigmoid", min_log_var=floor)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        losses_at = []
        for _ in range(2):
            losses_at.append(model.fit(x, epochs=15, batch_size=32, verbose=0).history["loss"][-1])
        _, x_log_var = (np_(o) for o in model.decoder(model.encode(x)[0]))
        result[name] = (x_log_var[:, 0].max(), np.median(x_log_var[:, 1:]), *losses_at)
    print({k: np.round(v, 2) for k, v in result.items()})
    free_const, free_rest, free_15, free_30 = result["unbounded"]
    floor_const, floor_rest, floor_15, floor_30 = result["floored"]
    assert free_const < -15.0 and free_rest > -5.0  # only the constant pixel collapses
    assert free_30 < free_15 - 3.0  # and the loss keeps falling with it
    assert -6.0 - 1e-4 <= floor_const < -5.5 and floor_rest > -5.0  # pressed against the floor
    assert free_30 < floor_30 - 5.0  # the unbounded model "wins" by a meaningless margin
