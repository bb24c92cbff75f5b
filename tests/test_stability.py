"""Numerical stability: the bound and its gradients stay finite at extreme but legal inputs.

Property-based (hypothesis): logits up to ±1e4 (a decoder certain of every
pixel, rightly or wrongly), log-variances up to ±50 (σ² from 2e-22 to 5e21,
far beyond anything training produces, still inside float32), all-zero and
all-one images. The losses of vaelib.losses, the VAE's loss as `fit` computes
it, and their gradients must be finite there. Gradients are taken by each
backend's own autodiff (`value_and_grads` below), so the file checks whatever
backend KERAS_BACKEND selects. Examples are derandomized: the same inputs on
every run.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops
from scipy.special import expit

from tiny import D, J, codes, tiny_model
from vaelib import losses
from vaelib.layers import reparameterize

LOGIT, LOG_VAR = 1e4, 50.0
FAST = settings(max_examples=20, deadline=None, derandomize=True)
SLOW = settings(max_examples=6, deadline=None, derandomize=True)  # whole-model gradients


def value_and_grads(fn, *arrays):
    """Return fn(*arrays) and the gradient of its sum with respect to each array, as NumPy.

    `fn` takes and returns backend tensors; the gradient is taken by the
    active backend's autodiff.
    """
    backend = keras.backend.backend()
    arrays = [np.asarray(a, dtype="float32") for a in arrays]
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = fn(*inputs)
            total = tf.reduce_sum(value)
        grads = tape.gradient(total, inputs)
    elif backend == "jax":
        import jax

        def total(*a):
            value = fn(*a)
            return jax.numpy.sum(value), value

        (_, value), grads = jax.value_and_grad(total, argnums=tuple(range(len(arrays))), has_aux=True)(*arrays)
    elif backend == "torch":
        import torch

        inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        value = fn(*inputs)
        value.sum().backward()
        grads = [t.grad for t in inputs]
    else:
        pytest.skip(f"no gradient helper for the {backend} backend")
    return ops.convert_to_numpy(value), [ops.convert_to_numpy(g) for g in grads]


def assert_finite(*arrays):
    for array in arrays:
        assert np.all(np.isfinite(array)), array


def extreme(bound, shape):
    """Arrays of float32 in [-bound, bound], the bounds and 0 drawn often."""
    elements = st.one_of(st.sampled_from([-bound, bound, 0.0]),
                         st.floats(-bound, bound, width=32, allow_subnormal=False))
    return hnp.arrays(np.float32, shape, elements=elements)


def images(shape):
    """Legal Bernoulli data: all zeros, all ones, or any bits or grey levels in [0, 1]."""
    return st.one_of(st.just(np.zeros(shape, np.float32)), st.just(np.ones(shape, np.float32)),
                     hnp.arrays(np.float32, shape, elements=st.sampled_from([0.0, 1.0])),
                     hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))


# -- the terms of the bound ----------------------------------------------------------------


@FAST
@given(x=images((3, 7)), logits=extreme(LOGIT, (3, 7)))
def test_bernoulli_log_likelihood_and_gradient_at_logits_of_1e4(x, logits):
    """log p(x|z) = Σ x·l - softplus(l); d/dl = x - sigmoid(l), which lies in [-1, 1]."""
    value, (grad_x, grad_logits) = value_and_grads(losses.bernoulli_log_likelihood, x, logits)
    assert_finite(value, grad_x, grad_logits)
    assert np.all(value <= 1e-3)  # a log-probability of binary data is <= 0
    assert np.all(np.abs(grad_logits) <= 1.0)
    np.testing.assert_allclose(grad_logits, x - expit(logits.astype("float64")), atol=1e-6)


@FAST
@given(z_mean=extreme(LOGIT, (2, 4)), z_log_var=extreme(LOG_VAR, (2, 4)))
def test_kl_and_gradient_at_log_variances_of_50(z_mean, z_log_var):
    """Appendix B's KL and its gradient (μ, ½(σ² - 1)) for μ up to ±1e4 and log σ² up to ±50."""
    value, (grad_mean, grad_log_var) = value_and_grads(losses.kl_divergence, z_mean, z_log_var)
    assert_finite(value, grad_mean, grad_log_var)
    assert np.all(value >= -1e-3 * np.abs(value).max())  # KL >= 0, up to float32 rounding
    np.testing.assert_allclose(grad_mean, z_mean, rtol=1e-6)
    np.testing.assert_allclose(grad_log_var, 0.5 * (np.exp(z_log_var.astype("float64")) - 1),
                               rtol=1e-5, atol=1e-6)


@FAST
@given(x=images((2, 5)), mean=extreme(LOGIT, (2, 5)), log_var=extreme(LOG_VAR, (2, 5)))
def test_gaussian_log_likelihood_and_gradients_at_extremes(x, mean, log_var):
    """Appendix C.2's log N(x; μ, σ²): finite with its gradients for |μ| <= 1e4 and |log σ²| <= 50."""
    value, grads = value_and_grads(losses.gaussian_log_likelihood, x, mean, log_var)
    assert_finite(value, *grads)


@FAST
@given(z=extreme(LOGIT, (3, 4)))
def test_prior_log_density_and_gradient(z):
    value, (grad,) = value_and_grads(losses.standard_normal_log_density, z)
    assert_finite(value, grad)
    np.testing.assert_allclose(grad, -z, rtol=1e-6)


@FAST
@given(z_mean=extreme(10.0, (2, 3)), z_log_var=extreme(LOG_VAR, (2, 3)),
       epsilon=hnp.arrays(np.float32, (2, 4, 3), elements=st.floats(-5, 5, width=32)))
def test_reparameterization_and_its_gradient_at_log_variances_of_50(z_mean, z_log_var, epsilon):
    """Eq. 10, z = μ + exp(½ log σ²) ε, and dz/dμ, dz/dlog σ² stay finite for |log σ²| <= 50."""
    value, grads = value_and_grads(reparameterize, z_mean, z_log_var, epsilon)
    assert_finite(value, *grads)
    np.testing.assert_array_equal(grads[0], np.full_like(z_mean, 4.0))  # four samples of each z


# -- the whole model, as fit() computes it ---------------------------------------------------

MODELS = {(lik, est): tiny_model(likelihood=lik, estimator=est, num_samples=2)
          for lik in ("bernoulli", "gaussian") for est in ("A", "B")}


def set_bias(network, layer, value):
    kernel, bias = network.get_layer(layer).get_weights()
    network.get_layer(layer).set_weights([kernel, np.full_like(bias, value)])


def loss_and_weight_gradients(model, x, epsilon):
    """-ELBO (compute_loss, as in fit) and its gradient with respect to every trainable weight."""
    variables = model.trainable_variables

    def loss(*values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            y_pred = model(x, epsilon=epsilon, training=True)
            return model.compute_loss(x=x, y_pred=y_pred, training=True)

    return value_and_grads(loss, *[ops.convert_to_numpy(v) for v in variables])


@SLOW
@given(likelihood=st.sampled_from(["bernoulli", "gaussian"]), estimator=st.sampled_from(["A", "B"]),
       output_bias=st.sampled_from([-LOGIT, LOGIT, 0.0]), log_var_bias=st.sampled_from([-LOG_VAR, LOG_VAR]),
       x=images((4, D)), epsilon=hnp.arrays(np.float32, (4, 2, J), elements=st.floats(-4, 4, width=32)))
def test_vae_loss_and_weight_gradients_at_extremes(likelihood, estimator, output_bias, log_var_bias, x, epsilon):
    """Decoder outputs of ±1e4 and log-variances of ±50 (set through the biases), all-0/all-1 images:
    the loss of fit() and its gradient with respect to every weight are finite, for both
    likelihoods and both estimators (Eqs. 6 and 7)."""
    model = MODELS[likelihood, estimator]
    set_bias(model.encoder, "z_log_var", log_var_bias)
    if likelihood == "bernoulli":
        set_bias(model.decoder, "logits", output_bias)
    else:
        set_bias(model.decoder, "x_mean", output_bias)
        set_bias(model.decoder, "x_log_var", log_var_bias)
    value, grads = loss_and_weight_gradients(model, x, epsilon)
    assert_finite(value, *grads)


@pytest.mark.parametrize("bias", [-LOGIT, LOGIT])
def test_decode_at_saturated_logits_gives_exact_probabilities_without_warnings(bias):
    """sigmoid(±1e4) is 0 or 1 exactly, with no overflow warning from NumPy."""
    model = MODELS["bernoulli", "B"]
    set_bias(model.decoder, "logits", bias)
    z = codes(3, seed=0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact
        probabilities = model.decode(z)
    assert np.all(probabilities == (1.0 if bias > 0 else 0.0))
