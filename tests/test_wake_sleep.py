"""The wake-sleep baseline (vaelib.wake_sleep): its two losses, their gradients, training, saving.

The gradients are taken with each backend's own automatic differentiation
(TensorFlow's GradientTape, jax.grad, torch.autograd), so the claim that one
combined loss gives wake gradients to θ only and sleep gradients to φ only is
checked on the backend the tests run under (CI runs them on all three).
"""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from tiny import (D, J, binary_data, encoder, decoder, grey_data, numpy_decoder, numpy_encoder,
                  tiny_model)
from vaelib import evaluation, models
from vaelib.wake_sleep import WakeSleep

N = 5  # examples in a fixed minibatch


def fixed_inputs(likelihood, seed=3):
    """A minibatch, wake noise ε, dream codes z̃ and dream noise (u or η), all fixed."""
    rng = np.random.default_rng(seed)
    x = binary_data(N, seed) if likelihood == "bernoulli" else rng.random((N, D))
    eps = rng.normal(size=(N, 1, J))
    z_dream = rng.normal(size=(N, J))
    noise = rng.random((N, D)) if likelihood == "bernoulli" else rng.normal(size=(N, D))
    return [a.astype("float32") for a in (x, eps, z_dream, noise)]


def numpy_phase_losses(model, x, eps, z_dream, noise):
    """Wake and sleep losses by an independent float64 NumPy forward pass."""
    x, eps, z_dream, noise = (a.astype("float64") for a in (x, eps, z_dream, noise))
    mu, log_var = numpy_encoder(model, x)
    z = mu + np.exp(0.5 * log_var) * eps[:, 0]  # z ~ q(z|x), Eq. 10
    outputs = numpy_decoder(model, z)
    if model.likelihood == "bernoulli":
        y = 1 / (1 + np.exp(-outputs[0]))
        log_px_z = np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=1)
    else:
        log_px_z = norm.logpdf(x, outputs[0], np.exp(0.5 * outputs[1])).sum(1)
    log_pz = norm.logpdf(z).sum(1)
    wake = -np.mean(log_px_z + log_pz)  # -(1/M) sum log p(x, z)
    dream_out = numpy_decoder(model, z_dream.astype("float64"))
    if model.likelihood == "bernoulli":
        x_dream = (noise < 1 / (1 + np.exp(-dream_out[0]))).astype("float64")
    else:
        x_dream = dream_out[0] + np.exp(0.5 * dream_out[1]) * noise
    mu_d, log_var_d = numpy_encoder(model, x_dream)
    sleep = -np.mean(norm.logpdf(z_dream, mu_d, np.exp(0.5 * log_var_d)).sum(1))  # -log q(z̃|x̃)
    return wake, sleep, x_dream


def gradients(function, variables):
    """d function() / d v for each Keras variable v, by the backend's own autodiff.

    Returns a list of float64 NumPy arrays, with zeros where the function does
    not depend on a variable (a path cut by `stop_gradient`).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        grads = tape.gradient(value, [v.value for v in variables],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
    elif backend == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function()

        grads = jax.grad(pure)([v.value for v in variables])
    elif backend == "torch":
        import torch

        value = function()
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
        grads = [torch.zeros_like(v.value) if g is None else g for g, v in zip(grads, variables)]
    else:  # pragma: no cover
        pytest.skip(f"no gradient helper for the {backend} backend")
    return [ops.convert_to_numpy(g).astype("float64") for g in grads]


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_wake_and_sleep_losses_equal_numpy(likelihood):
    model = tiny_model(WakeSleep, likelihood=likelihood)
    x, eps, z_dream, noise = fixed_inputs(likelihood)
    dreams = model.dream(N, z=z_dream, noise=noise)
    terms = model.phase_losses(x, model(x, epsilon=eps), dreams=dreams)
    wake, sleep, x_dream = numpy_phase_losses(model, x, eps, z_dream, noise)
    np.testing.assert_allclose(float(ops.convert_to_numpy(terms["wake"])), wake, rtol=1e-5)
    np.testing.assert_allclose(float(ops.convert_to_numpy(terms["sleep"])), sleep, rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(dreams[1]), x_dream, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(dreams[0]), z_dream)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_combined_loss_gives_wake_gradients_to_theta_and_sleep_gradients_to_phi(likelihood):
    """∇_θ(wake + sleep) = ∇_θ wake and ∇_φ(wake + sleep) = ∇_φ sleep, via stop_gradient."""
    model = tiny_model(WakeSleep, likelihood=likelihood)
    x, eps, z_dream, noise = fixed_inputs(likelihood)
    theta = model.decoder.trainable_variables
    phi = model.encoder.trainable_variables

    def term(name):
        def function():
            dreams = model.dream(N, z=z_dream, noise=noise)
            terms = model.phase_losses(x, model(x, epsilon=eps), dreams=dreams)
            return terms["wake"] + terms["sleep"] if name == "both" else terms[name]
        return function

    grads = {name: gradients(term(name), theta + phi) for name in ["wake", "sleep", "both"]}
    k = len(theta)
    largest = {name: [np.abs(g).max() for g in grads[name]] for name in grads}
    assert max(largest["wake"][k:]) == 0.0  # the wake loss does not reach φ
    assert max(largest["sleep"][:k]) == 0.0  # the sleep loss does not reach θ
    assert min(largest["wake"][:k]) > 0.0 and min(largest["sleep"][k:]) > 0.0
    for both, wake in zip(grads["both"][:k], grads["wake"][:k]):
        np.testing.assert_allclose(both, wake, rtol=1e-6, atol=1e-7)
    for both, sleep in zip(grads["both"][k:], grads["sleep"][k:]):
        np.testing.assert_allclose(both, sleep, rtol=1e-6, atol=1e-7)


def test_aevb_sends_the_decoder_gradient_back_to_phi_and_wake_sleep_does_not():
    """The difference from AEVB in one number: ∂ log p(x|z) / ∂φ through z = μ + σ ⊙ ε."""
    model = tiny_model(WakeSleep, likelihood="bernoulli")
    vae = models.VAE(model.encoder, model.decoder, seed=0)
    x, eps, _, _ = fixed_inputs("bernoulli")
    phi = model.encoder.trainable_variables

    def reconstruction(m):
        return lambda: -ops.mean(m.log_px_given_z(x, m(x, epsilon=eps)))

    assert max(np.abs(g).max() for g in gradients(reconstruction(vae), phi)) > 0.0
    assert max(np.abs(g).max() for g in gradients(reconstruction(model), phi)) == 0.0


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_the_wake_step_on_theta_is_the_aevb_step_on_theta(likelihood):
    """-log q(z|x) in the ELBO has no θ: ∇_θ wake loss = ∇_θ AEVB loss for the same ε."""
    model = tiny_model(WakeSleep, likelihood=likelihood)
    vae = models.VAE(model.encoder, model.decoder, likelihood=likelihood, seed=0)
    x, eps, _, _ = fixed_inputs(likelihood)
    theta = model.decoder.trainable_variables
    wake = gradients(lambda: model.phase_losses(x, model(x, epsilon=eps))["wake"], theta)
    aevb = gradients(lambda: vae.compute_loss(x=x, y_pred=vae(x, epsilon=eps), training=False),
                     theta)
    for a, b in zip(aevb, wake):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compute_loss_is_wake_plus_sleep_plus_weight_decay():
    keras.utils.set_random_seed(0)
    decay = keras.regularizers.L2(0.01)
    q, p = encoder(), decoder()
    for variable in q.trainable_weights + p.trainable_weights:
        variable.regularizer = decay
    model = WakeSleep(q, p, seed=0)
    x = binary_data(N)
    loss = float(ops.convert_to_numpy(model.compute_loss(x=x, training=False)))
    # compute_loss drew ε and the dreams from the model's streams: draw them again.
    model_again = WakeSleep(q, p, seed=0)
    terms = model_again.phase_losses(x, training=False)
    penalty = sum(0.01 * float(np.sum(np.square(ops.convert_to_numpy(v))))
                  for v in q.trainable_weights + p.trainable_weights)
    assert penalty > 0.0
    wake, sleep = (float(ops.convert_to_numpy(terms[k])) for k in ("wake", "sleep"))
    np.testing.assert_allclose(loss, wake + sleep + penalty,
                               rtol=1e-5)


def test_dreams_are_binary_for_bernoulli_and_reproducible_from_the_seed():
    model = tiny_model(WakeSleep, likelihood="bernoulli", seed=4)
    z, x = model.dream(200)
    x = ops.convert_to_numpy(x)
    assert ops.shape(z) == (200, J) and x.shape == (200, D)
    assert set(np.unique(x)) <= {0.0, 1.0}
    again = tiny_model(WakeSleep, likelihood="bernoulli", seed=4)
    np.testing.assert_array_equal(ops.convert_to_numpy(again.dream(200)[1]), x)


def test_dream_codes_come_from_the_prior():
    model = tiny_model(WakeSleep, likelihood="gaussian", seed=5)
    z = ops.convert_to_numpy(model.dream(4000)[0])
    # N(0, I): mean 0 and variance 1 within 5 standard errors for 4000 draws.
    assert np.all(np.abs(z.mean(0)) < 5 / np.sqrt(4000))
    assert np.all(np.abs(z.var(0) - 1) < 5 * np.sqrt(2 / 4000))


def test_fit_performs_both_phases_and_improves_both_objectives():
    model = tiny_model(WakeSleep, likelihood="bernoulli", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = binary_data(512)
    before_enc = [w.copy() for w in model.encoder.get_weights()]
    before_dec = [w.copy() for w in model.decoder.get_weights()]
    history = model.fit(x, epochs=15, batch_size=64, verbose=0).history
    assert set(model.trackers) == {"wake", "sleep", "reconstruction", "kl"} and model.beta is None
    assert {"loss", "wake", "sleep", "reconstruction", "kl"} <= set(history)
    assert history["wake"][-1] < history["wake"][0] - 1.0  # log p(x, z) increases
    assert history["sleep"][-1] < history["sleep"][0]  # log q(z̃|x̃) increases
    np.testing.assert_allclose(history["loss"], np.add(history["wake"], history["sleep"]),
                               rtol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(before_enc, model.encoder.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(before_dec, model.decoder.get_weights()))
    # The lower bound of the trained model is finite and above the untrained one's.
    assert np.mean(evaluation.elbo(model, x)) > -history["reconstruction"][0] - history["kl"][0]


def test_lower_bound_of_a_wake_sleep_model_is_the_vae_elbo_of_the_same_networks():
    """Evaluation is shared with AEVB: the same networks give the same per-example bound."""
    model = tiny_model(WakeSleep, likelihood="gaussian", seed=2)
    vae = models.VAE(model.encoder, model.decoder, likelihood="gaussian", seed=2)
    x = grey_data(50)
    np.testing.assert_allclose(evaluation.elbo(model, x, seed=1), evaluation.elbo(vae, x, seed=1),
                               rtol=1e-6)
    np.testing.assert_allclose(evaluation.log_likelihood(model, x, num_samples=20, seed=1),
                               evaluation.log_likelihood(vae, x, num_samples=20, seed=1),
                               rtol=1e-6)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = tiny_model(WakeSleep, likelihood="gaussian", seed=6, num_samples=2, name="ws")
    config = model.get_config()
    assert config["likelihood"] == "gaussian" and config["num_samples"] == 2
    assert config["seed"] == 6
    x = grey_data(7)
    model(x)  # build
    path = str(tmp_path / "ws.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, WakeSleep) and restored.name == "ws"
    np.testing.assert_allclose(evaluation.elbo(restored, x, seed=0),
                               evaluation.elbo(model, x, seed=0), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"likelihood": "poisson"}, "Expected `likelihood`"),
        ({"num_samples": 0}, "Expected `num_samples`"),
        ({"estimator": "C"}, "Expected `estimator`"),
    ],
)
def test_bad_construction_gets_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_model(WakeSleep, **kwargs)


def test_sample_weight_is_refused():
    model = tiny_model(WakeSleep)
    with pytest.raises(ValueError, match="Expected no `sample_weight`"):
        model.compute_loss(x=binary_data(4), sample_weight=np.ones(4))
