"""β-VAE, KL annealing, the MMD (vaelib.losses.mmd) and the MMD-regularized and plain autoencoders."""

import math
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from vaelib import losses, models

D, H, J = 12, 16, 3  # pixels, hidden units, latent dimensions of the tiny test models


def tiny(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    encoder = models.build_encoder(input_dim=D, hidden_units=H, latent_dim=J)
    decoder = models.build_decoder(latent_dim=J, hidden_units=H, output_dim=D)
    return models.VAE(encoder, decoder, seed=seed, **kwargs)


def binary_data(n=64, seed=1):
    """Binary vectors with structure: two prototypes with 5% of the bits flipped."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((2, D)) < 0.5).astype("float32")
    x = prototypes[rng.integers(0, 2, n)]
    return np.where(rng.random((n, D)) < 0.05, 1 - x, x).astype("float32")


def loss_and_terms(model, x, eps):
    """compute_loss for fixed noise ε, and the tracked terms, as NumPy float32 scalars."""
    model.reset_metrics()
    y_pred = model(x, epsilon=eps)
    loss = ops.convert_to_numpy(model.compute_loss(x=x, y_pred=y_pred, training=False))
    terms = {m.name: ops.convert_to_numpy(m.result()) for m in model.metrics if m.name != "loss"}
    return loss, terms, y_pred


def to_numpy(value):
    return float(ops.convert_to_numpy(value))


# -- β --------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_beta_one_reproduces_the_plain_vae_loss_bit_for_bit(estimator):
    """β = 1 (explicit or default): loss = reconstruction + KL, identical to the last bit."""
    x = binary_data(10)
    eps = np.random.default_rng(2).normal(size=(10, 1, J)).astype("float32")
    default = tiny(estimator=estimator)
    explicit = tiny(estimator=estimator, beta=1.0)
    explicit.set_weights(default.get_weights())
    loss_default, terms, _ = loss_and_terms(default, x, eps)
    loss_explicit, _, _ = loss_and_terms(explicit, x, eps)
    assert loss_default.dtype == np.float32
    assert loss_explicit.tobytes() == loss_default.tobytes()
    # The plain VAE's loss, summed in float32 as it was before β existed.
    assert loss_default.tobytes() == (terms["reconstruction"] + terms["kl"]).tobytes()


@pytest.mark.parametrize("beta", [0.0, 0.5, 4.0])
def test_beta_weights_the_kl_term(beta):
    """loss = reconstruction + β·KL; β = 0 gives exactly the reconstruction term."""
    x = binary_data(10)
    eps = np.random.default_rng(3).normal(size=(10, 1, J)).astype("float32")
    model = tiny(beta=beta)
    loss, terms, _ = loss_and_terms(model, x, eps)
    assert terms["kl"] > 0.01  # the KL is there to be weighted
    np.testing.assert_allclose(loss, terms["reconstruction"] + beta * terms["kl"], rtol=1e-6)
    if beta == 0.0:
        assert loss == terms["reconstruction"]
    assert to_numpy(model.beta) == beta and model.get_config()["beta"] == beta


def test_kl_annealing_sets_beta_at_every_epoch():
    """KLAnnealing(0, 1, 2): β = 0, 0.5, 1, 1 in epochs 0-3, read by the compiled train step."""
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    annealing = models.KLAnnealing(start=0.0, stop=1.0, epochs=2)
    history = model.fit(binary_data(64), epochs=4, batch_size=16, verbose=0,
                        callbacks=[annealing]).history
    np.testing.assert_array_equal(history["beta"], [0.0, 0.5, 1.0, 1.0])
    # Each epoch's loss is the mean over its batches of reconstruction + β·KL.
    expected = np.add(history["reconstruction"], np.multiply(history["beta"], history["kl"]))
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-5)
    assert history["loss"][0] == pytest.approx(history["reconstruction"][0], rel=1e-6)
    assert abs(history["loss"][1] - history["reconstruction"][1]) > 0.1 * history["kl"][1]
    assert to_numpy(model.beta) == 1.0
    assert [annealing.beta_at(e) for e in range(4)] == [0.0, 0.5, 1.0, 1.0]


def test_beta_round_trips_through_a_keras_file(tmp_path):
    """The current β is saved with the model (weights and config) and restored in safe mode."""
    model = tiny(beta=4.0)
    model.beta.assign(0.25)  # e.g. mid-way through an annealing schedule
    model.save(tmp_path / "beta.keras")
    restored = keras.models.load_model(tmp_path / "beta.keras")
    assert to_numpy(restored.beta) == 0.25 and restored.get_config()["beta"] == 0.25
    assert restored.regularizer == "kl"


BAD_BETA = {
    "negative beta": (lambda: tiny(beta=-0.1), ValueError, "non-negative"),
    "NaN beta": (lambda: tiny(beta=float("nan")), ValueError, "finite"),
    "string beta": (lambda: tiny(beta="1"), TypeError, "real number"),
    "bool beta": (lambda: tiny(beta=True), TypeError, "real number"),
    "beta with mmd": (lambda: tiny(beta=2.0, regularizer="mmd"), ValueError, "regularizer='kl'"),
    "beta with none": (lambda: tiny(beta=0.0, regularizer="none"), ValueError, "regularizer='kl'"),
    "unknown regularizer": (lambda: tiny(regularizer="l2"), ValueError, "regularizer"),
    "negative mmd_weight": (lambda: tiny(regularizer="mmd", mmd_weight=-1.0), ValueError,
                            "non-negative"),
    "mmd_weight with kl": (lambda: tiny(mmd_weight=5.0), ValueError, "regularizer='mmd'"),
    "estimator A with mmd": (lambda: tiny(regularizer="mmd", estimator="A"), ValueError,
                             "estimator='B'"),
    "L > 1 with none": (lambda: tiny(regularizer="none", num_samples=2), ValueError,
                        "num_samples=1"),
    "annealing to a negative beta": (lambda: models.KLAnnealing(0.0, -1.0, 3), ValueError, "stop"),
    "annealing over 0 epochs": (lambda: models.KLAnnealing(0.0, 1.0, 0), ValueError, "epochs"),
    "annealing a model without KL": (lambda: _anneal(tiny(regularizer="mmd")), ValueError,
                                     "regularizer='kl'"),
}


def _anneal(model):
    model.compile(optimizer="adam")
    model.fit(binary_data(8), verbose=0, callbacks=[models.KLAnnealing()])


@pytest.mark.parametrize("case", sorted(BAD_BETA))
def test_bad_beta_regularizer_or_annealing_gets_a_clear_error(case):
    call, error, pattern = BAD_BETA[case]
    with pytest.raises(error, match=pattern) as info:
        model_or_none = call()
        del model_or_none
    assert "Expected" in str(info.value) and "Received" in str(info.value)


# -- the MMD ---------------------------------------------------------------------


def test_mmd_exact_value_on_a_hand_computed_case():
    """x = {0, 1}, y = {2, 4} in d = 1 with h = 1 (C = 2h² = 2), every kernel value by hand.

    IMQ k = 2 / (2 + r²): k_xx has r² in {0, 1} -> 1, 2/3; k_yy has {0, 4} -> 1, 1/3;
    k_xy has r² = 4, 16, 1, 9 -> 1/3, 1/9, 2/3, 2/11, which sum to 128/99.
      V-statistic: (2 + 4/3)/4 + (2 + 2/3)/4 - 2(128/99)/4 = 5/6 + 2/3 - 64/99 = 169/198.
      U-statistic: (4/3)/2 + (2/3)/2 - 64/99 = 1 - 64/99 = 35/99.
    Gaussian k = exp(-r²/2): the same sums with exp(-r²/2) in place of 2/(2 + r²).
    """
    x = np.array([[0.0], [1.0]], "float32")
    y = np.array([[2.0], [4.0]], "float32")
    assert to_numpy(losses.mmd(x, y, kernel="imq", kernel_bandwidth=1.0)) == pytest.approx(
        169 / 198, rel=1e-6)
    assert to_numpy(losses.mmd(x, y, kernel="imq", kernel_bandwidth=1.0, unbiased=True)) == (
        pytest.approx(35 / 99, rel=1e-6))
    g = lambda r2: math.exp(-r2 / 2)  # noqa: E731
    xx, yy, xy = (2 + 2 * g(1)) / 4, (2 + 2 * g(4)) / 4, (g(4) + g(16) + g(1) + g(9)) / 4
    assert to_numpy(losses.mmd(x, y, kernel="gaussian", kernel_bandwidth=1.0)) == pytest.approx(
        xx + yy - 2 * xy, rel=1e-6)
    assert to_numpy(losses.mmd(x, y, kernel="gaussian", kernel_bandwidth=1.0, unbiased=True)) == (
        pytest.approx(g(1) + g(4) - 2 * xy, rel=1e-6))
    # The default bandwidth is √d = 1 here.
    assert to_numpy(losses.mmd(x, y)) == to_numpy(losses.mmd(x, y, kernel_bandwidth=1.0))


@pytest.mark.parametrize("kernel", ["imq", "gaussian"])
def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_shift(kernel):
    """Two samples of N(0, I): MMD² ≈ 0; shifting one by a distance δ makes it grow with δ."""
    rng = np.random.default_rng(0)
    d, n = 8, 500
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.normal(size=(n, d)).astype("float32")
    direction = (np.ones(d) / np.sqrt(d)).astype("float32")
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    unbiased = [to_numpy(losses.mmd(x, y + s * direction, kernel=kernel, unbiased=True))
                for s in shifts]
    biased = [to_numpy(losses.mmd(x, y + s * direction, kernel=kernel)) for s in shifts]
    print(kernel, "unbiased:", np.round(unbiased, 4), "biased:", np.round(biased, 4))
    assert np.all(np.diff(unbiased) > 0) and np.all(np.diff(biased) > 0)
    # Same distribution: the U-statistic scatters around 0, far below the value at a shift
    # of a quarter of a standard deviation; the V-statistic exceeds it by its bias only.
    assert abs(unbiased[0]) < 0.1 * unbiased[1]
    assert biased[0] > 0 and biased[0] - unbiased[0] < 2.0 / n + 1e-6  # bias ≤ (1/n + 1/m)·k(0)


def test_mmd_is_symmetric_and_zero_between_a_sample_and_itself():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)).astype("float32")
    y = rng.normal(1.0, 2.0, size=(17, 4)).astype("float32")
    for kwargs in ({}, {"kernel": "gaussian"}, {"unbiased": True}, {"kernel_bandwidth": 0.5}):
        assert to_numpy(losses.mmd(x, y, **kwargs)) == pytest.approx(
            to_numpy(losses.mmd(y, x, **kwargs)), rel=1e-5)  # float32 sums in another order
    assert abs(to_numpy(losses.mmd(x, x))) < 1e-6


BAD_MMD = {
    "different dimensions": (lambda: losses.mmd(np.zeros((3, 2)), np.zeros((3, 4))), "same d"),
    "not a matrix": (lambda: losses.mmd(np.zeros(3), np.zeros(3)), r"\(n, d\)"),
    "unknown kernel": (lambda: losses.mmd(np.zeros((3, 2)), np.zeros((3, 2)), kernel="rbf"),
                       "kernel"),
    "zero bandwidth": (lambda: losses.mmd(np.zeros((3, 2)), np.zeros((3, 2)),
                                          kernel_bandwidth=0.0), "positive"),
    "unbiased with one sample": (lambda: losses.mmd(np.zeros((1, 2)), np.zeros((3, 2)),
                                                    unbiased=True), "at least 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_MMD))
def test_bad_mmd_input_gets_a_clear_error(case):
    call, pattern = BAD_MMD[case]
    with pytest.raises(ValueError, match=pattern) as info:
        call()
    assert "Expected" in str(info.value) and "Received" in str(info.value)


# -- the MMD-regularized and the plain autoencoder ----------------------------------


def test_mmd_regularized_loss_is_reconstruction_plus_weighted_mmd():
    """regularizer='mmd': loss = -mean log p(x|z) + λ·MMD²(codes of the batch, prior draws)."""
    x = binary_data(10)
    eps = np.random.default_rng(4).normal(size=(10, 2, J)).astype("float32")
    model = tiny(regularizer="mmd", mmd_weight=50.0, num_samples=2)
    loss, terms, y_pred = loss_and_terms(model, x, eps)
    assert set(terms) == {"reconstruction", "mmd"}
    z = ops.convert_to_numpy(y_pred["z"]).reshape(-1, J)  # (batch·L, J)
    z_prior = ops.convert_to_numpy(y_pred["z_prior"]).reshape(-1, J)
    assert z_prior.shape == z.shape and abs(z_prior.mean()) < 0.6  # draws of N(0, I)
    expected_mmd = to_numpy(losses.mmd(z, z_prior))
    reconstruction = -np.mean(ops.convert_to_numpy(model.log_px_given_z(x, y_pred)))
    assert terms["mmd"] == pytest.approx(expected_mmd, rel=1e-6)
    assert terms["reconstruction"] == pytest.approx(reconstruction, rel=1e-6)
    assert loss == pytest.approx(reconstruction + 50.0 * expected_mmd, rel=1e-6)


def test_plain_autoencoder_is_deterministic_and_its_loss_is_the_reconstruction_at_the_mean():
    """regularizer='none': z = μ_φ(x) exactly, loss = -mean log p(x | z = μ), no KL anywhere."""
    x = binary_data(10)
    model = tiny(regularizer="none")
    first, second = model(x), model(x)
    z_mean = ops.convert_to_numpy(first["z_mean"])
    np.testing.assert_array_equal(ops.convert_to_numpy(first["z"])[:, 0], z_mean)
    np.testing.assert_array_equal(ops.convert_to_numpy(second["z"]), ops.convert_to_numpy(first["z"]))
    loss, terms, _ = loss_and_terms(model, x, None)
    logits = ops.convert_to_numpy(model.decoder(z_mean)).astype("float64")
    expected = -np.mean(np.sum(x * logits - np.logaddexp(0.0, logits), axis=1))
    assert set(terms) == {"reconstruction"}
    assert loss == terms["reconstruction"] and loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("regularizer", ["mmd", "none"])
def test_regularized_autoencoders_train_and_round_trip(tmp_path, regularizer):
    """fit() lowers the loss, with no 'gradients do not exist' warning; save/load in safe mode."""
    kwargs = {"mmd_weight": 20.0} if regularizer == "mmd" else {}
    model = tiny(regularizer=regularizer, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(binary_data(128), epochs=5, batch_size=32, verbose=0).history
    assert not [w for w in caught if "radients do not exist" in str(w.message)]
    expected_keys = {"loss", "reconstruction"} | ({"mmd"} if regularizer == "mmd" else set())
    assert set(history) == expected_keys
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "ae.keras")
    restored = keras.models.load_model(tmp_path / "ae.keras")
    assert (restored.regularizer, restored.mmd_weight, restored.beta) == (
        regularizer, kwargs.get("mmd_weight", 1.0), None)
    x = binary_data(8, seed=9)
    np.testing.assert_array_equal(restored.reconstruct(x), model.reconstruct(x))
