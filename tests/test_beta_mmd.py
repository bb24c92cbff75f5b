"""β-VAE and KL annealing (vaelib.callbacks), the MMD (vaelib.mmd), the MMD-regularized
autoencoder (mmd.MMDVAE) and the plain autoencoder (autoencoder.Autoencoder)."""

import math
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from tiny import J, binary_data, clear_error, tiny_model
from vaelib import callbacks, mmd, models
from vaelib.autoencoder import Autoencoder
from vaelib.layers import Sampling
from vaelib.mmd import MMDVAE
from vaelib.wake_sleep import WakeSleep


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
    default = tiny_model(estimator=estimator)
    explicit = tiny_model(estimator=estimator, beta=1.0)
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
    model = tiny_model(beta=beta)
    loss, terms, _ = loss_and_terms(model, x, eps)
    assert terms["kl"] > 0.01  # the KL is there to be weighted
    np.testing.assert_allclose(loss, terms["reconstruction"] + beta * terms["kl"], rtol=1e-6)
    if beta == 0.0:
        assert loss == terms["reconstruction"]
    assert to_numpy(model.beta) == beta and model.get_config()["beta"] == beta


def test_kl_annealing_sets_beta_at_every_epoch():
    """KLAnnealing(0, 1, 2): β = 0, 0.5, 1, 1 in epochs 0-3, read by the compiled train step."""
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    annealing = callbacks.KLAnnealing(start=0.0, stop=1.0, epochs=2)
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
    model = tiny_model(beta=4.0)
    model.beta.assign(0.25)  # e.g. mid-way through an annealing schedule
    model.save(tmp_path / "beta.keras")
    restored = keras.models.load_model(tmp_path / "beta.keras")
    assert to_numpy(restored.beta) == 0.25 and restored.get_config()["beta"] == 0.25
    assert type(restored) is models.VAE  # a KL-regularized VAE, the one class with β


BAD_BETA = {
    "negative beta": (lambda: tiny_model(beta=-0.1), ValueError, "non-negative"),
    "NaN beta": (lambda: tiny_model(beta=float("nan")), ValueError, "finite"),
    "string beta": (lambda: tiny_model(beta="1"), TypeError, "real number"),
    "bool beta": (lambda: tiny_model(beta=True), TypeError, "real number"),
    "unknown regularizer": (lambda: tiny_model(regularizer="l2"), TypeError,
                            r"unknown keyword argument\(s\) \['regularizer'\]"),
    "negative mmd_weight": (lambda: tiny_model(MMDVAE, mmd_weight=-1.0), ValueError,
                            "non-negative"),
    "mmd_weight with kl": (lambda: tiny_model(mmd_weight=5.0), TypeError,
                           r"arguments of VAE \(.*\).*\['mmd_weight'\]"),
    "mmd_weight without mmd": (lambda: tiny_model(Autoencoder, mmd_weight=5.0), TypeError,
                               r"arguments of Autoencoder \(.*\).*\['mmd_weight'\]"),
    "annealing to a negative beta": (lambda: callbacks.KLAnnealing(0.0, -1.0, 3), ValueError, "stop"),
    "annealing over 0 epochs": (lambda: callbacks.KLAnnealing(0.0, 1.0, 0), ValueError, "epochs"),
    "annealing a model without KL": (lambda: _anneal(tiny_model(MMDVAE)), ValueError,
                                     r"weighs a KL term by β.*Received: a MMDVAE"),
    "annealing an autoencoder": (lambda: _anneal(tiny_model(Autoencoder)), ValueError,
                                 r"weighs a KL term by β.*Received: a Autoencoder"),
    "annealing wake-sleep": (lambda: _anneal(tiny_model(WakeSleep)), ValueError,
                             r"weighs a KL term by β.*Received: a WakeSleep"),
}


def _anneal(model):
    model.compile(optimizer="adam")
    model.fit(binary_data(8), verbose=0, callbacks=[callbacks.KLAnnealing()])


@pytest.mark.parametrize("case", sorted(BAD_BETA))
def test_bad_beta_regularizer_or_annealing_gets_a_clear_error(case):
    call, error, pattern = BAD_BETA[case]
    with clear_error(error, pattern):
        call()


# An option of the VAE that the variants do not take (β: their loss has no KL term to weigh;
# the estimator of the KL; L samples of a deterministic code) is refused by Python itself.
NOT_TAKEN = {
    "beta with mmd": (MMDVAE, {"beta": 2.0}),
    "beta with none": (Autoencoder, {"beta": 0.0}),
    "beta with wake-sleep": (WakeSleep, {"beta": 1.0}),
    "estimator A with mmd": (MMDVAE, {"estimator": "A"}),
    "estimator A with none": (Autoencoder, {"estimator": "A"}),
    "L > 1 with none": (Autoencoder, {"num_samples": 2}),
}


@pytest.mark.parametrize("case", sorted(NOT_TAKEN))
def test_an_option_the_variant_does_not_take_is_a_type_error(case):
    model_class, option = NOT_TAKEN[case]
    with pytest.raises(TypeError, match=f"'{next(iter(option))}'"):
        tiny_model(model_class, **option)


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
    assert to_numpy(mmd.mmd(x, y, kernel="imq", kernel_bandwidth=1.0)) == pytest.approx(
        169 / 198, rel=1e-6)
    assert to_numpy(mmd.mmd(x, y, kernel="imq", kernel_bandwidth=1.0, unbiased=True)) == (
        pytest.approx(35 / 99, rel=1e-6))
    g = lambda r2: math.exp(-r2 / 2)  # noqa: E731
    xx, yy, xy = (2 + 2 * g(1)) / 4, (2 + 2 * g(4)) / 4, (g(4) + g(16) + g(1) + g(9)) / 4
    assert to_numpy(mmd.mmd(x, y, kernel="gaussian", kernel_bandwidth=1.0)) == pytest.approx(
        xx + yy - 2 * xy, rel=1e-6)
    assert to_numpy(mmd.mmd(x, y, kernel="gaussian", kernel_bandwidth=1.0, unbiased=True)) == (
        pytest.approx(g(1) + g(4) - 2 * xy, rel=1e-6))
    # The default bandwidth is √d = 1 here.
    assert to_numpy(mmd.mmd(x, y)) == to_numpy(mmd.mmd(x, y, kernel_bandwidth=1.0))


@pytest.mark.parametrize("kernel", ["imq", "gaussian"])
def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_shift(kernel):
    """Two samples of N(0, I): MMD² ≈ 0; shifting one by a distance δ makes it grow with δ."""
    rng = np.random.default_rng(0)
    d, n = 8, 500
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.normal(size=(n, d)).astype("float32")
    direction = (np.ones(d) / np.sqrt(d)).astype("float32")
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    unbiased = [to_numpy(mmd.mmd(x, y + s * direction, kernel=kernel, unbiased=True))
                for s in shifts]
    biased = [to_numpy(mmd.mmd(x, y + s * direction, kernel=kernel)) for s in shifts]
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
        assert to_numpy(mmd.mmd(x, y, **kwargs)) == pytest.approx(
            to_numpy(mmd.mmd(y, x, **kwargs)), rel=1e-5)  # float32 sums in another order
    assert abs(to_numpy(mmd.mmd(x, x))) < 1e-6


BAD_MMD = {
    "different dimensions": (lambda: mmd.mmd(np.zeros((3, 2)), np.zeros((3, 4))), "same d"),
    "not a matrix": (lambda: mmd.mmd(np.zeros(3), np.zeros(3)), r"\(n, d\)"),
    "unknown kernel": (lambda: mmd.mmd(np.zeros((3, 2)), np.zeros((3, 2)), kernel="rbf"),
                       "kernel"),
    "zero bandwidth": (lambda: mmd.mmd(np.zeros((3, 2)), np.zeros((3, 2)),
                                          kernel_bandwidth=0.0), "positive"),
    "unbiased with one sample": (lambda: mmd.mmd(np.zeros((1, 2)), np.zeros((3, 2)),
                                                    unbiased=True), "at least 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_MMD))
def test_bad_mmd_input_gets_a_clear_error(case):
    call, pattern = BAD_MMD[case]
    with clear_error(ValueError, pattern):
        call()


# -- the MMD-regularized and the plain autoencoder ----------------------------------


def test_mmd_regularized_loss_is_reconstruction_plus_weighted_mmd():
    """MMDVAE: loss = -mean log p(x|z) + λ·MMD²(codes of the batch, prior draws)."""
    x = binary_data(10)
    eps = np.random.default_rng(4).normal(size=(10, 2, J)).astype("float32")
    model = tiny_model(MMDVAE, mmd_weight=50.0, num_samples=2)
    # regularizer_loss draws the prior's samples from the model's own noise stream: a twin
    # of that stream, in the same state, draws them again.
    twin = Sampling(num_samples=2, seed=0)
    twin.seed_generator.state.assign(model.prior_sampling.seed_generator.state.value)
    loss, terms, y_pred = loss_and_terms(model, x, eps)
    assert set(terms) == {"reconstruction", "mmd"} and model.beta is None
    assert "z_prior" not in y_pred
    z = ops.convert_to_numpy(y_pred["z"]).reshape(-1, J)  # (batch·L, J)
    zeros = np.zeros((10, J), "float32")
    z_prior = ops.convert_to_numpy(twin([zeros, zeros])).reshape(-1, J)
    assert z_prior.shape == z.shape and abs(z_prior.mean()) < 0.6  # draws of N(0, I)
    expected_mmd = to_numpy(mmd.mmd(z, z_prior))
    reconstruction = -np.mean(ops.convert_to_numpy(model.log_px_given_z(x, y_pred)))
    assert terms["mmd"] == pytest.approx(expected_mmd, rel=1e-6)
    assert terms["reconstruction"] == pytest.approx(reconstruction, rel=1e-6)
    assert loss == pytest.approx(reconstruction + 50.0 * expected_mmd, rel=1e-6)


def test_plain_autoencoder_is_deterministic_and_its_loss_is_the_reconstruction_at_the_mean():
    """Autoencoder: z = μ_φ(x) exactly, loss = -mean log p(x | z = μ), no KL anywhere."""
    x = binary_data(10)
    model = tiny_model(Autoencoder)
    first, second = model(x), model(x)
    z_mean = ops.convert_to_numpy(first["z_mean"])
    np.testing.assert_array_equal(ops.convert_to_numpy(first["z"])[:, 0], z_mean)
    np.testing.assert_array_equal(ops.convert_to_numpy(second["z"]), ops.convert_to_numpy(first["z"]))
    loss, terms, _ = loss_and_terms(model, x, None)
    logits = ops.convert_to_numpy(model.decoder(z_mean)).astype("float64")
    expected = -np.mean(np.sum(x * logits - np.logaddexp(0.0, logits), axis=1))
    assert set(terms) == {"reconstruction"}
    assert loss == terms["reconstruction"] and loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("model_class", [MMDVAE, Autoencoder])
def test_regularized_autoencoders_train_and_round_trip(tmp_path, model_class):
    """fit() lowers the loss, with no 'gradients do not exist' warning; save/load in safe mode."""
    kwargs = {"mmd_weight": 20.0} if model_class is MMDVAE else {}
    model = tiny_model(model_class, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(binary_data(128), epochs=5, batch_size=32, verbose=0).history
    assert not [w for w in caught if "radients do not exist" in str(w.message)]
    expected_keys = {"loss", "reconstruction"} | ({"mmd"} if model_class is MMDVAE else set())
    assert set(history) == expected_keys
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "ae.keras")
    restored = keras.models.load_model(tmp_path / "ae.keras")
    assert (type(restored), getattr(restored, "mmd_weight", None), restored.beta) == (
        model_class, kwargs.get("mmd_weight"), None)
    x = binary_data(8, seed=9)
    np.testing.assert_array_equal(restored.reconstruct(x), model.reconstruct(x))
