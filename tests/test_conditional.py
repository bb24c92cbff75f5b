"""The conditional VAE (vaelib.conditional.ConditionalVAE): its loss is the ELBO of p(x|y)."""

import keras
import numpy as np
import pytest
from keras import ops

from tiny import (D, J, K, clear_error, codes, decoder, encoder, labelled_data, numpy_elbo_terms,
                  tiny_model)
from vaelib import evaluation
from vaelib._checks import check_labels
from vaelib.conditional import ConditionalVAE


def numpy_minus_conditional_elbo(model, x, y, eps):
    """-ELBO of p(x|y) averaged over the batch, by an independent float64 NumPy forward pass.

    q(z|x,y) = N(μ, σ²) from tanh(W [x, y] + b); z = μ + σ ε; p(x|z,y) from tanh(W [z, y] + b);
    ELBO = (1/L) Σ_l log p(x|z_l, y) - KL(q(z|x,y) ‖ N(0, I)) (closed form, estimator B) or
    - (1/L) Σ_l [log q(z_l|x,y) - log p(z_l)] (estimator A).
    """
    log_px, kl = numpy_elbo_terms(model, x, eps, labels=y)
    return np.mean(kl - log_px)


@pytest.mark.parametrize("likelihood, estimator, num_samples",
                         [("bernoulli", "B", 1), ("bernoulli", "B", 3), ("gaussian", "A", 2)])
def test_loss_equals_numpy_conditional_elbo_for_fixed_noise(likelihood, estimator, num_samples):
    """compute_loss([x, y]) = -(1/M) Σ_i [E_q(z|x,y) log p(x|z,y) - KL(q(z|x,y) ‖ p(z))]."""
    model = tiny_model(ConditionalVAE, likelihood=likelihood, estimator=estimator,
                       num_samples=num_samples)
    x, labels = labelled_data(10)
    if likelihood == "gaussian":
        x = np.random.default_rng(3).random((10, D)).astype("float32")
    y = np.eye(K, dtype="float32")[labels]
    eps = np.random.default_rng(2).normal(size=(10, num_samples, J)).astype("float32")
    y_pred = model([x, y], epsilon=eps)
    loss = float(ops.convert_to_numpy(model.compute_loss(x=[x, y], y_pred=y_pred, training=False)))
    expected = numpy_minus_conditional_elbo(model, x.astype("float64"), y.astype("float64"),
                                            eps.astype("float64"))
    assert loss == pytest.approx(expected, rel=1e-5)
    # The label matters: another label gives another bound.
    other = np.eye(K, dtype="float32")[(labels + 1) % K]
    other_loss = float(ops.convert_to_numpy(
        model.compute_loss(x=[x, other], y_pred=model([x, other], epsilon=eps), training=False)))
    assert abs(other_loss - loss) > 1e-3


def test_fit_with_class_ids_or_one_hot_labels():
    """fit([x, labels]) lowers -ELBO; integer ids and one-hot rows are the same input."""
    x, labels = labelled_data(256)
    histories = []
    for given in (labels, np.eye(K, dtype="float32")[labels]):
        model = tiny_model(ConditionalVAE)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        histories.append(model.fit([x, given], epochs=5, batch_size=32, verbose=0,
                                   validation_data=([x[:32], given[:32]],)).history)
    ids, one_hot = histories
    assert {"loss", "reconstruction", "kl", "val_loss"} <= set(ids)
    assert ids["loss"][-1] < 0.8 * ids["loss"][0]
    np.testing.assert_allclose(ids["loss"], one_hot["loss"], rtol=1e-5)


def test_sample_a_chosen_class_and_one_z_under_every_label():
    """sample(n, label) draws that class; decoding one z under K labels gives K different images."""
    model = tiny_model(ConditionalVAE)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, labels = labelled_data(512)
    model.fit([x, labels], epochs=20, batch_size=64, verbose=0)
    prototypes = np.stack([x[labels == k].mean(0) for k in range(K)])  # (K, D)
    for k in range(K):
        samples = model.sample(50, k, seed=k)
        assert samples.shape == (50, D)
        nearest = np.argmin(((samples[:, None] - prototypes[None]) ** 2).sum(-1), axis=1)
        assert np.mean(nearest == k) > 0.9, (k, np.bincount(nearest, minlength=K))
    np.testing.assert_array_equal(model.sample(6, 2, seed=1), model.sample(6, 2, seed=1))
    z = np.zeros((K, J), "float32")  # one z, every label
    images = model.decode(z, np.arange(K))
    assert np.min([np.abs(images[i] - images[j]).max() for i in range(K) for j in range(i)]) > 0.1
    z_mean, z_log_var = model.encode(x[:5], labels[:5], batch_size=2)
    assert z_mean.shape == z_log_var.shape == (5, J)
    assert model.reconstruct(x[:5], labels[:5]).shape == (5, D)


def test_check_inputs_returns_the_pair_with_one_hot_labels():
    """check_inputs([x, labels]): x as float32, class ids or one-hot rows as float32 one-hot rows."""
    model = tiny_model(ConditionalVAE)
    x, labels = labelled_data(6)
    one_hot = np.eye(K, dtype="float32")[labels]
    for given in (labels, one_hot, one_hot.astype(bool)):
        checked = model.check_inputs([x.astype("float64"), given])
        assert isinstance(checked, list) and len(checked) == 2
        assert checked[0].dtype == checked[1].dtype == np.float32
        np.testing.assert_array_equal(checked[0], x)
        np.testing.assert_array_equal(checked[1], one_hot)
    np.testing.assert_array_equal(check_labels(labels, K, n=6), one_hot)


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_elbo_and_log_likelihood_of_a_conditional_model(estimator):
    """evaluation.elbo(model, [x, labels]) is the per-example bound on log p(x|y) (the NumPy one,
    for the noise of SeedGenerator(seed)); log_likelihood with k = 1 is estimator A's ELBO."""
    model = tiny_model(ConditionalVAE, estimator=estimator)
    x, labels = labelled_data(20)
    values = evaluation.elbo(model, [x, labels], num_samples=3, seed=4)
    assert values.shape == (20,) and values.dtype == np.float64
    eps = ops.convert_to_numpy(keras.random.normal((20, 3, J), seed=keras.random.SeedGenerator(4)))
    log_px, kl = numpy_elbo_terms(model, x.astype("float64"), eps.astype("float64"),
                                  labels=np.eye(K)[labels])
    np.testing.assert_allclose(values, log_px - kl, rtol=1e-5, atol=1e-5)
    # The pair is the input of every hook: log_px_given_z reads x from it, the decoder the labels.
    y_pred = model([x, np.eye(K, dtype="float32")[labels]], epsilon=eps)
    np.testing.assert_allclose(ops.convert_to_numpy(model.log_px_given_z([x, labels], y_pred)).mean(1),
                               log_px, rtol=1e-5, atol=1e-5)
    other = evaluation.elbo(model, [x, (labels + 1) % K], num_samples=3, seed=4)
    assert np.max(np.abs(other - values)) > 1e-3  # the label matters
    importance = evaluation.log_likelihood(model, [x, labels], num_samples=1, seed=5)
    if estimator == "A":
        np.testing.assert_allclose(importance, evaluation.elbo(model, [x, labels], seed=5), rtol=1e-6)
    better = evaluation.log_likelihood(model, [x, labels], num_samples=200, seed=5)
    assert better.shape == (20,) and better.mean() > values.mean()  # a tighter bound


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = tiny_model(ConditionalVAE, likelihood="gaussian", num_samples=2, beta=0.5)
    model.save(tmp_path / "cvae.keras")
    restored = keras.models.load_model(tmp_path / "cvae.keras")  # safe_mode=True by default
    assert isinstance(restored, ConditionalVAE)
    assert (restored.num_classes, restored.latent_dim, restored.num_samples) == (K, J, 2)
    assert float(ops.convert_to_numpy(restored.beta)) == 0.5
    x = np.random.default_rng(0).random((6, D)).astype("float32")
    labels = np.arange(6) % K
    for a, b in zip(model.encode(x, labels), restored.encode(x, labels)):
        np.testing.assert_array_equal(a, b)
    z = codes(6)
    np.testing.assert_array_equal(model.decode(z, labels), restored.decode(z, labels))


GOOD_X, GOOD_LABELS = labelled_data(8)
BAD = {
    "fit without labels": (lambda m: m.fit(GOOD_X, verbose=0), "pair"),
    "fit with three inputs": (lambda m: m.fit([GOOD_X, GOOD_LABELS, GOOD_LABELS], verbose=0), "pair"),
    "class id out of range": (lambda m: m.fit([GOOD_X, GOOD_LABELS + K], verbose=0), r"\[0, 4\)"),
    "negative class id": (lambda m: m.encode(GOOD_X, -GOOD_LABELS - 1), r"\[0, 4\)"),
    "too few labels": (lambda m: m.fit([GOOD_X, GOOD_LABELS[:5]], verbose=0), "one label per"),
    "rows that are not one-hot": (lambda m: m.encode(GOOD_X, np.full((8, K), 0.25)), "one-hot"),
    "float class ids": (lambda m: m.encode(GOOD_X, GOOD_LABELS.astype(float)), "class ids"),
    "one-hot of the wrong size": (lambda m: m.decode(np.zeros((2, J)), np.eye(K + 1)[:2]), "one-hot"),
    "validation data without labels": (
        lambda m: m.fit([GOOD_X, GOOD_LABELS], validation_data=(GOOD_X,), verbose=0), "pair"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_a_clear_error(case):
    call, pattern = BAD[case]
    model = tiny_model(ConditionalVAE)
    model.compile(optimizer="adam")
    with clear_error(ValueError, pattern):
        call(model)


def test_networks_that_do_not_fit_are_refused():
    conditional_encoder = encoder(num_classes=K)
    with pytest.raises(ValueError, match="two inputs"):
        ConditionalVAE(conditional_encoder, decoder())
    with pytest.raises(ValueError, match="labels of one size"):
        ConditionalVAE(conditional_encoder, decoder(num_classes=K + 1))
