"""The conditional VAE (vaelib.models.ConditionalVAE): its loss is the ELBO of p(x|y)."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from vaelib import models

D, H, J, K = 12, 16, 3, 4  # pixels, hidden units, latent dimensions, classes


def tiny_cvae(likelihood="bernoulli", estimator="B", num_samples=1, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    encoder = models.build_conditional_encoder(input_dim=D, num_classes=K, hidden_units=H,
                                               latent_dim=J)
    decoder = models.build_conditional_decoder(latent_dim=J, num_classes=K, hidden_units=H,
                                               output_dim=D, likelihood=likelihood)
    return models.ConditionalVAE(encoder, decoder, likelihood=likelihood, estimator=estimator,
                                 num_samples=num_samples, seed=seed, **kwargs)


def labelled_data(n=64, seed=1):
    """Binary vectors whose prototype is chosen by the label, with 5% of the bits flipped."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((K, D)) < 0.5).astype("float32")
    labels = rng.integers(0, K, n)
    x = prototypes[labels]
    return np.where(rng.random((n, D)) < 0.05, 1 - x, x).astype("float32"), labels


def _dense(network, name):
    kernel, bias = network.get_layer(f"{network.name}_mlp").get_layer(name).get_weights()
    return kernel.astype("float64"), bias.astype("float64")


def numpy_minus_conditional_elbo(model, x, y, eps):
    """-ELBO of p(x|y) averaged over the batch, by an independent float64 NumPy forward pass.

    q(z|x,y) = N(μ, σ²) from tanh(W [x, y] + b); z = μ + σ ε; p(x|z,y) from tanh(W [z, y] + b);
    ELBO = (1/L) Σ_l log p(x|z_l, y) - KL(q(z|x,y) ‖ N(0, I)) (closed form, estimator B) or
    - (1/L) Σ_l [log q(z_l|x,y) - log p(z_l)] (estimator A).
    """
    enc, dec = model.encoder, model.decoder
    (W1, b1), (Wm, bm), (Wv, bv) = (_dense(enc, n) for n in ("hidden_0", "z_mean", "z_log_var"))
    h = np.tanh(np.concatenate([x, y], axis=1) @ W1 + b1)
    mu, log_var = h @ Wm + bm, h @ Wv + bv  # (n, J)
    z = mu[:, None] + np.exp(0.5 * log_var)[:, None] * eps  # (n, L, J)
    y_rep = np.broadcast_to(y[:, None], (*z.shape[:2], K))  # (n, L, K)
    W2, b2 = _dense(dec, "hidden_0")
    hz = np.tanh(np.concatenate([z, y_rep], axis=-1) @ W2 + b2)
    if model.likelihood == "bernoulli":
        Wl, bl = _dense(dec, "logits")
        p = 1 / (1 + np.exp(-(hz @ Wl + bl)))
        log_px = np.sum(x[:, None] * np.log(p) + (1 - x[:, None]) * np.log(1 - p), axis=-1)
    else:
        (Wxm, bxm), (Wxv, bxv) = _dense(dec, "x_mean"), _dense(dec, "x_log_var")
        log_px = norm.logpdf(x[:, None], hz @ Wxm + bxm, np.exp(0.5 * (hz @ Wxv + bxv))).sum(-1)
    if model.estimator == "B":
        kl = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=1)
    else:
        log_q = norm.logpdf(z, mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
        kl = np.mean(log_q - norm.logpdf(z).sum(-1), axis=1)
    return np.mean(-log_px.mean(axis=1) + kl)


@pytest.mark.parametrize("likelihood, estimator, num_samples",
                         [("bernoulli", "B", 1), ("bernoulli", "B", 3), ("gaussian", "A", 2)])
def test_loss_equals_numpy_conditional_elbo_for_fixed_noise(likelihood, estimator, num_samples):
    """compute_loss([x, y]) = -(1/M) Σ_i [E_q(z|x,y) log p(x|z,y) - KL(q(z|x,y) ‖ p(z))]."""
    model = tiny_cvae(likelihood, estimator, num_samples)
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
        model = tiny_cvae()
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        histories.append(model.fit([x, given], epochs=5, batch_size=32, verbose=0,
                                   validation_data=([x[:32], given[:32]],)).history)
    ids, one_hot = histories
    assert {"loss", "reconstruction", "kl", "val_loss"} <= set(ids)
    assert ids["loss"][-1] < 0.8 * ids["loss"][0]
    np.testing.assert_allclose(ids["loss"], one_hot["loss"], rtol=1e-5)


def test_sample_a_chosen_class_and_one_z_under_every_label():
    """sample(n, label) draws that class; decoding one z under K labels gives K different images."""
    model = tiny_cvae()
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


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = tiny_cvae(likelihood="gaussian", num_samples=2, beta=0.5)
    model.save(tmp_path / "cvae.keras")
    restored = keras.models.load_model(tmp_path / "cvae.keras")  # safe_mode=True by default
    assert isinstance(restored, models.ConditionalVAE)
    assert (restored.num_classes, restored.latent_dim, restored.num_samples) == (K, J, 2)
    assert float(ops.convert_to_numpy(restored.beta)) == 0.5
    x = np.random.default_rng(0).random((6, D)).astype("float32")
    labels = np.arange(6) % K
    for a, b in zip(model.encode(x, labels), restored.encode(x, labels)):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(1).normal(size=(6, J)).astype("float32")
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
    model = tiny_cvae()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=pattern) as info:
        call(model)
    assert "Expected" in str(info.value) and "Received" in str(info.value)


def test_networks_that_do_not_fit_are_refused():
    encoder = models.build_conditional_encoder(input_dim=D, num_classes=K, hidden_units=H,
                                               latent_dim=J)
    plain_decoder = models.build_decoder(latent_dim=J, hidden_units=H, output_dim=D)
    with pytest.raises(ValueError, match="two inputs"):
        models.ConditionalVAE(encoder, plain_decoder)
    other_k = models.build_conditional_decoder(latent_dim=J, num_classes=K + 1, hidden_units=H,
                                               output_dim=D)
    with pytest.raises(ValueError, match="labels of one size"):
        models.ConditionalVAE(encoder, other_k)
