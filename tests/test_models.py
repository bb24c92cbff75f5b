"""The VAE model (vaelib.models): its loss against NumPy, training, saving, and bad input."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from tiny import (D, H, J, binary_data, clear_error, codes, decoder, encoder, grey_data,
                  numpy_elbo_terms, tiny_model)
from vaelib import data, models


def numpy_minus_elbo(model, x, eps):
    """-ELBO averaged over the batch by an independent float64 NumPy forward pass.

    Returns (-ELBO, reconstruction = -mean log p(x|z), mean KL) for the model's estimator.
    """
    log_px_z, kl = numpy_elbo_terms(model, x, eps)
    return np.mean(kl - log_px_z), -np.mean(log_px_z), np.mean(kl)


# -- the loss -------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
@pytest.mark.parametrize("num_samples", [1, 3])
def test_loss_equals_numpy_minus_elbo_for_fixed_weights_and_noise(likelihood, estimator, num_samples):
    """compute_loss = -(1/M) sum_i [ (1/L) sum_l log p(x_i|z_il) - KL_i ] (Eqs. 6-8, 10)."""
    model = tiny_model(likelihood=likelihood, estimator=estimator, num_samples=num_samples)
    rng = np.random.default_rng(2)
    x = binary_data(10) if likelihood == "bernoulli" else rng.random((10, D)).astype("float32")
    eps = rng.normal(size=(10, num_samples, J)).astype("float32")
    y_pred = model(x, epsilon=eps)  # also creates the metric trackers' state
    loss = float(ops.convert_to_numpy(model.compute_loss(x=x, y_pred=y_pred, training=False)))
    expected, reconstruction, kl = numpy_minus_elbo(model, x.astype("float64"), eps.astype("float64"))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert set(model.trackers) == set(model.loss_terms) == {"reconstruction", "kl"}
    assert float(ops.convert_to_numpy(model.trackers["reconstruction"].result())) == pytest.approx(
        reconstruction, rel=1e-5)
    assert float(ops.convert_to_numpy(model.trackers["kl"].result())) == pytest.approx(
        kl, rel=1e-4, abs=1e-5)
    # The hook kl_divergence gives the per-example KL of the model's estimator.
    _, kl_per_example = numpy_elbo_terms(model, x.astype("float64"), eps.astype("float64"))
    np.testing.assert_allclose(ops.convert_to_numpy(model.kl_divergence(y_pred)), kl_per_example,
                               rtol=1e-4, atol=1e-5)


def test_estimators_a_and_b_agree_in_expectation_and_b_has_lower_variance():
    """Eq. 6 and Eq. 7 are unbiased for the same ELBO; B's exact KL (Appendix B) lowers the variance."""
    draws = 2000
    model_b = tiny_model(estimator="B", seed=0)
    model_a = tiny_model(estimator="A", seed=1)  # another noise stream: independent draws
    model_a.set_weights(model_b.get_weights())
    x = binary_data(5)
    x_rep = np.repeat(x, draws, axis=0)  # each row one independent single-sample estimate
    estimates = {}
    for name, model in (("A", model_a), ("B", model_b)):
        log_likelihood, kl = model.elbo_terms(x_rep, model(x_rep))
        estimates[name] = ops.convert_to_numpy(log_likelihood - kl).astype("float64").reshape(len(x), draws)
    a, b = estimates["A"], estimates["B"]
    print("per-example variance of one draw, A:", a.var(1).round(3), "B:", b.var(1).round(3))
    se = np.sqrt(a.var(1, ddof=1) / draws + b.var(1, ddof=1) / draws)
    assert np.all(np.abs(a.mean(1) - b.mean(1)) < 4 * se), (a.mean(1), b.mean(1), se)
    assert np.all(a.var(1) > b.var(1))


def test_fit_lowers_the_loss_and_tracks_both_terms():
    """AEVB (Algorithm 1) through fit(): -ELBO falls; loss = reconstruction + KL per epoch."""
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(binary_data(256), epochs=10, batch_size=32, verbose=0).history
    assert set(history) == {"loss", "reconstruction", "kl"}
    print("loss per epoch:", np.round(history["loss"], 2))
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    np.testing.assert_allclose(history["loss"], np.add(history["reconstruction"], history["kl"]), rtol=1e-5)


def test_fit_with_validation_data_reports_validation_terms():
    """validation_data=(x,) is accepted and evaluated with the same three terms."""
    model = tiny_model()
    model.compile(optimizer="adam")
    history = model.fit(binary_data(64), epochs=1, batch_size=32, verbose=0,
                        validation_data=(binary_data(32, seed=5),)).history
    assert {"val_loss", "val_reconstruction", "val_kl"} <= set(history)
    assert history["val_loss"][0] == pytest.approx(history["val_reconstruction"][0] + history["val_kl"][0],
                                                   rel=1e-5)


def test_fit_with_a_batch_size_for_the_arrays_and_streamed_validation_data():
    """batch_size batches the training arrays; a validation dataset makes its own batches."""
    model = tiny_model()
    model.compile(optimizer="adam")
    validation = data.DynamicBinarization(binary_data(32, seed=5), batch_size=16)
    history = model.fit(binary_data(64), epochs=2, batch_size=32, verbose=0,
                        validation_data=validation).history
    assert len(history["val_loss"]) == 2 and np.all(np.isfinite(history["val_loss"]))


# -- saving -------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_keras_file_round_trip_in_safe_mode(tmp_path, likelihood):
    """model.save / keras.models.load_model (safe mode) restore the weights and the configuration."""
    model = tiny_model(likelihood=likelihood, estimator="A", num_samples=2, seed=5)
    model.compile(optimizer="adam")
    x = binary_data(64)
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "vae.keras"
    model.save(path)
    restored = keras.models.load_model(path)  # safe_mode=True by default
    assert isinstance(restored, models.VAE)
    assert (restored.likelihood, restored.estimator, restored.num_samples, restored.latent_dim) == (
        likelihood, "A", 2, J)
    for a, b in zip(model.encode(x), restored.encode(x)):
        np.testing.assert_array_equal(a, b)
    z = codes(5, seed=0)
    np.testing.assert_array_equal(model.decode(z), restored.decode(z))


def test_gaussian_decoder_with_fixed_variance(tmp_path):
    """A decoder that outputs only the mean uses log N(x; mu, exp(decoder_log_var) I)."""
    keras.utils.set_random_seed(0)
    z = keras.Input(shape=(J,))
    mean_only = keras.Model(z, keras.layers.Dense(D)(keras.layers.Dense(H, activation="tanh")(z)))
    model = models.VAE(encoder(), mean_only, likelihood="gaussian", decoder_log_var=-2.0, seed=0)
    x = grey_data(8)
    eps = np.zeros((8, 1, J), "float32")
    y_pred = model(x, epsilon=eps)
    log_px_z = ops.convert_to_numpy(model.log_px_given_z(x, y_pred))[:, 0]
    x_mean = ops.convert_to_numpy(y_pred["x_mean"])[:, 0]
    np.testing.assert_allclose(log_px_z, norm.logpdf(x, x_mean, np.exp(-1.0)).sum(-1), rtol=1e-5)
    model.save(tmp_path / "fixed.keras")
    restored = keras.models.load_model(tmp_path / "fixed.keras")
    assert restored.decoder_log_var == -2.0
    z = codes(4)
    np.testing.assert_array_equal(restored.decode(z), model.decode(z))


# -- using a model ---------------------------------------------------------------


def test_encode_decode_sample_reconstruct():
    """Shapes, probabilities in [0, 1], reconstruct = decode(encode mean), seeded samples repeat."""
    model = tiny_model()
    x = binary_data(20)
    z_mean, z_log_var = model.encode(x, batch_size=7)
    assert z_mean.shape == z_log_var.shape == (20, J)
    whole_mean, _ = model.encode(x)  # batching does not change the result
    np.testing.assert_allclose(z_mean, whole_mean, rtol=1e-6, atol=1e-6)
    probabilities = model.decode(whole_mean)
    assert probabilities.shape == (20, D) and probabilities.min() >= 0 and probabilities.max() <= 1
    np.testing.assert_array_equal(model.reconstruct(x), probabilities)
    samples = model.sample(6, seed=1)
    assert samples.shape == (6, D)
    np.testing.assert_array_equal(samples, model.sample(6, seed=1))
    assert not np.allclose(samples, model.sample(6, seed=2))


def test_call_returns_the_documented_tensors():
    """call(x): z_mean, z_log_var (batch, J); z (batch, L, J); decoder outputs (batch, L, D)."""
    model = tiny_model(likelihood="gaussian", num_samples=4)
    out = model(grey_data(5))
    shapes = {key: tuple(value.shape) for key, value in out.items()}
    assert shapes == {"z_mean": (5, J), "z_log_var": (5, J), "z": (5, 4, J),
                      "x_mean": (5, 4, D), "x_log_var": (5, 4, D)}


# -- bad input ---------------------------------------------------------------------


def _make(**overrides):
    args = dict(encoder=encoder(), decoder=decoder())
    args.update(overrides)
    return models.VAE(**args)


GOOD = binary_data(8)
BAD_INPUTS = {
    # name: (call on a fresh compiled tiny Bernoulli model, expected exception, message pattern)
    "wrong feature size to fit": (lambda m: m.fit(np.zeros((8, D + 1), "float32"), verbose=0),
                                  ValueError, r"shape \(n, 12\)"),
    "wrong rank to encode": (lambda m: m.encode(np.zeros((8, 3, 4), "float32")), ValueError, r"shape \(n, 12\)"),
    "one example without batch axis": (lambda m: m.encode(np.zeros(D, "float32")), ValueError, "non-empty batch"),
    "pixels above 1 to fit": (lambda m: m.fit(GOOD * 255, verbose=0), ValueError, r"\[0, 1\]"),
    "negative pixels to encode": (lambda m: m.encode(GOOD - 0.5), ValueError, r"\[0, 1\]"),
    "pixels above 1 to evaluate": (lambda m: m.evaluate(GOOD + 1, verbose=0), ValueError, r"\[0, 1\]"),
    "NaN to fit": (lambda m: m.fit(np.where(GOOD > 0, np.nan, GOOD), verbose=0), ValueError, "finite"),
    "inf to fit": (lambda m: m.fit(np.where(GOOD > 0, np.inf, GOOD), verbose=0), ValueError, "finite"),
    "NaN to encode": (lambda m: m.encode(np.full((2, D), np.nan, "float32")), ValueError, "finite"),
    "inf in the validation data": (lambda m: m.fit(GOOD, validation_data=(GOOD + np.inf,), verbose=0),
                                   ValueError, "finite"),
    "empty array to evaluate": (lambda m: m.evaluate(np.zeros((0, D), "float32"), verbose=0),
                                ValueError, "non-empty"),
    "empty array to fit": (lambda m: m.fit(np.zeros((0, D), "float32"), verbose=0), ValueError, "non-empty"),
    "strings to encode": (lambda m: m.encode(np.array([["a"] * D])), TypeError, "real numbers"),
    "objects to fit": (lambda m: m.fit(np.array([[None] * D] * 2, dtype=object), verbose=0),
                       TypeError, "real numbers"),
    "sample_weight to fit": (lambda m: m.fit(GOOD, sample_weight=np.ones(8), verbose=0),
                             ValueError, "sample_weight"),
    "sample_weight to evaluate": (lambda m: m.evaluate(GOOD, sample_weight=np.ones(8), verbose=0),
                                  ValueError, "sample_weight"),
    "wrong latent size to decode": (lambda m: m.decode(np.zeros((2, J + 1), "float32")),
                                    ValueError, r"shape \(n, 3\)"),
    "non-positive sample count": (lambda m: m.sample(0), ValueError, "`n`"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_to_a_model_gets_a_clear_error(case):
    """Bad data is refused before it reaches a kernel, with an 'Expected ... Received' message."""
    call, error, pattern = BAD_INPUTS[case]
    model = tiny_model()
    model.compile(optimizer="adam")
    with clear_error(error, pattern):
        call(model)


BAD_CONSTRUCTION = {
    # name: (builder call, pattern of the message)
    "encoder latent_dim 0": (lambda: models.build_encoder(latent_dim=0), "latent_dim"),
    "encoder latent_dim -3": (lambda: models.build_encoder(latent_dim=-3), "latent_dim"),
    "decoder latent_dim 0": (lambda: models.build_decoder(latent_dim=0), "latent_dim"),
    "encoder hidden_units 0": (lambda: models.build_encoder(hidden_units=0), "hidden_units"),
    "encoder hidden_units -3": (lambda: models.build_encoder(hidden_units=-3), "hidden_units"),
    "decoder hidden_units [32, -3]": (lambda: models.build_decoder(hidden_units=[32, -3]), "hidden_units"),
    "encoder hidden_units []": (lambda: models.build_encoder(hidden_units=[]), "hidden_units"),
    "decoder hidden_units []": (lambda: models.build_decoder(hidden_units=[]), "hidden_units"),
    "encoder input_dim 0": (lambda: models.build_encoder(input_dim=0), "input_dim"),
    "encoder input_dim -3": (lambda: models.build_encoder(input_dim=-3), "input_dim"),
    "decoder output_dim 0": (lambda: models.build_decoder(output_dim=0), "output_dim"),
    "decoder output_dim float": (lambda: models.build_decoder(output_dim=78.4), "output_dim"),
    "unknown likelihood in build_decoder": (lambda: models.build_decoder(likelihood="poisson"), "likelihood"),
    "unknown likelihood in VAE": (lambda: _make(likelihood="poisson"), "likelihood"),
    "unknown estimator": (lambda: _make(estimator="C"), "estimator"),
    "num_samples 0": (lambda: _make(num_samples=0), "num_samples"),
    "decoder of the wrong latent size": (
        lambda: _make(decoder=decoder(latent_dim=J + 1)),
        "latent size"),
    "decoder of the wrong output size": (
        lambda: _make(decoder=decoder(output_dim=D + 1)),
        "data's shape"),
    "Gaussian decoder with likelihood bernoulli": (lambda: _make(decoder=decoder("gaussian")), "1 output"),
    "Bernoulli decoder with likelihood gaussian": (lambda: _make(likelihood="gaussian"), "2 output"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONSTRUCTION))
def test_bad_construction_gets_a_clear_error(case):
    """Builders and VAE refuse bad arguments and mismatched parts with 'Expected ... Received'."""
    build, pattern = BAD_CONSTRUCTION[case]
    with clear_error(ValueError, pattern):
        build()
