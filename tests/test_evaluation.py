"""The test-set ELBO and the importance-sampled log p(x) (vaelib.evaluation).

The exactness checks use a linear Gaussian model, x = K^T z + b + noise with
z ~ N(0, I) and noise ~ N(0, exp(v) I), whose marginal is known in closed form:
p(x) = N(x; b, K^T K + exp(v) I).
"""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import multivariate_normal

import tiny
from vaelib import evaluation, models

LINEAR_D, LINEAR_J = 5, 2  # pixels and latent dimensions of the linear Gaussian model


def _linear_decoder(kernel, bias):
    """z -> K^T z + b: one linear Dense layer, the mean of a fixed-variance Gaussian decoder."""
    z = keras.Input(shape=(kernel.shape[0],), name="z")
    dense = keras.layers.Dense(kernel.shape[1], name="x_mean")
    decoder = keras.Model(z, dense(z), name="decoder")
    dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return decoder


def _posterior_encoder(kernel, bias, log_var, widen=1.0):
    """x -> the exact posterior N(mu(x), diag(sigma^2)) of the linear Gaussian model.

    With rows of K orthogonal (K K^T = diag(s^2)), p(z|x) has precision
    I + K K^T / exp(v) (diagonal) and mean (x - b) K^T / (exp(v) + s^2).
    `widen` multiplies the variance (1: q is exactly the posterior).
    """
    s2 = np.sum(kernel**2, axis=1)  # (J,)
    noise = np.exp(log_var)
    mean_kernel = kernel.T / (noise + s2)  # (D, J)
    x = keras.Input(shape=(kernel.shape[1],), name="x")
    z_mean_layer = keras.layers.Dense(kernel.shape[0], name="z_mean")
    z_log_var_layer = keras.layers.Dense(kernel.shape[0], name="z_log_var")
    encoder = keras.Model(x, [z_mean_layer(x), z_log_var_layer(x)], name="encoder")
    z_mean_layer.set_weights([mean_kernel.astype("float32"), (-bias @ mean_kernel).astype("float32")])
    z_log_var_layer.set_weights([np.zeros_like(mean_kernel, "float32"),
                                 np.log(widen * noise / (noise + s2)).astype("float32")])
    return encoder


def _mlp_encoder(rng):
    """build_encoder with small random weights drawn by NumPy (the same on every backend).

    Its q(z|x) = N(mu(x), 2 I) is wider than the posterior, so the importance
    weights p(x, z) / q(z|x) are bounded and k = 5000 samples suffice.
    """
    encoder = tiny.encoder(input_dim=LINEAR_D, latent_dim=LINEAR_J)
    encoder.get_layer("hidden_0").set_weights([0.5 * rng.normal(size=(LINEAR_D, tiny.H)), np.zeros(tiny.H)])
    encoder.get_layer("z_mean").set_weights([0.3 * rng.normal(size=(tiny.H, LINEAR_J)), np.zeros(LINEAR_J)])
    encoder.get_layer("z_log_var").set_weights([np.zeros((tiny.H, LINEAR_J)), np.full(LINEAR_J, np.log(2.0))])
    return encoder


def linear_gaussian(exact_posterior, log_var=0.0, estimator="B", n=80, seed=0, widen=1.0):
    """A VAE with a linear Gaussian decoder, data drawn from it, and the true log p(x)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(LINEAR_D, LINEAR_J)))  # orthonormal columns
    kernel = np.diag([1.5, 0.8]) @ q.T  # K, (J, D): K K^T = diag(2.25, 0.64)
    bias = rng.normal(size=LINEAR_D)
    if exact_posterior:
        encoder = _posterior_encoder(kernel, bias, log_var, widen)
    else:
        encoder = _mlp_encoder(rng)
    model = models.VAE(encoder, _linear_decoder(kernel, bias), likelihood="gaussian",
                       decoder_log_var=log_var, estimator=estimator, seed=seed)
    z = rng.normal(size=(n, LINEAR_J))
    x = z @ kernel + bias + np.exp(0.5 * log_var) * rng.normal(size=(n, LINEAR_D))
    truth = multivariate_normal(bias, kernel.T @ kernel + np.exp(log_var) * np.eye(LINEAR_D)).logpdf(x)
    return model, x.astype("float32"), truth


@pytest.fixture(scope="module")
def mlp_model():
    """The linear Gaussian model with an MLP encoder, 80 examples, the truth and a precise ELBO."""
    model, x, truth = linear_gaussian(exact_posterior=False, log_var=0.0)
    bound = evaluation.elbo(model, x, num_samples=500)  # estimator B: only log p(x|z) is random
    return model, x, truth, bound


# -- the ELBO ------------------------------------------------------------------


def test_elbo_is_the_per_example_bound_of_the_model():
    """elbo(model, x) = log p(x|z) - KL per example (Eq. 7), for the noise eps of SeedGenerator(seed).

    (One batch: elbo draws eps of shape (n, L, J) from keras.random.SeedGenerator(seed).)
    """
    model = tiny.tiny_model()
    x = tiny.random_bits(50, p=0.3)
    values = evaluation.elbo(model, x, num_samples=3, seed=4)
    assert values.shape == (50,) and values.dtype == np.float64
    eps = keras.random.normal((50, 3, tiny.J), seed=keras.random.SeedGenerator(4))
    log_likelihood, kl = model.elbo_terms(x, model(x, epsilon=eps))
    np.testing.assert_allclose(values, ops.convert_to_numpy(log_likelihood - kl), rtol=1e-6)
    np.testing.assert_array_equal(values, evaluation.elbo(model, x, num_samples=3, seed=4))
    assert not np.allclose(values, evaluation.elbo(model, x, num_samples=3, seed=5))
    assert np.all(values < 0)  # a bound on the log-probability of binary data


def test_mean_elbo_matches_minus_the_keras_loss():
    """The mean of evaluation.elbo is -loss of model.evaluate (estimator B), within Monte Carlo noise."""
    model = tiny.tiny_model()
    model.compile(optimizer="adam")
    x = tiny.random_bits(500, p=0.3)
    first, second = evaluation.elbo(model, x, seed=1), evaluation.elbo(model, x, seed=2)
    se = np.std(first - second) / np.sqrt(len(x))  # SE of a difference of two independent means
    loss = model.evaluate(x, batch_size=500, verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    print("mean ELBO", first.mean(), "-loss", -loss, "SE", se)
    assert abs(first.mean() + loss) < 5 * se + 1e-4


def test_elbo_and_log_likelihood_are_exact_when_q_is_the_true_posterior():
    """With q(z|x) = p(z|x): every weight p(x,z)/q(z|x) equals p(x), so both estimates are exact.

    Estimator A's single-sample ELBO, log p(x,z) - log q(z|x), is then log p(x) for every z,
    and so is the importance-sampled estimate for any k and any split into passes.
    """
    model, x, truth = linear_gaussian(exact_posterior=True, log_var=-0.5, estimator="A")
    np.testing.assert_allclose(evaluation.elbo(model, x), truth, rtol=1e-5, atol=1e-4)
    estimate = evaluation.log_likelihood(model, x, num_samples=1)
    assert estimate.shape == (len(x),)
    np.testing.assert_allclose(estimate, truth, rtol=1e-5, atol=1e-4)
    # Several examples per pass (k=3 in passes of 7), and k=100 in passes of 30, 30, 30, 10.
    for k, per_pass in ((3, 7), (100, 30)):
        estimate = evaluation.log_likelihood(model, x[:4], num_samples=k, max_samples_per_pass=per_pass)
        np.testing.assert_allclose(estimate, truth[:4], rtol=1e-5, atol=1e-4, err_msg=f"k={k}, pass={per_pass}")
    # Estimator B's ELBO is then exact only in expectation: its reconstruction term is random.
    model_b, _, _ = linear_gaussian(exact_posterior=True, log_var=-0.5, estimator="B")
    values = evaluation.elbo(model_b, x, num_samples=500)
    error = values - truth
    print("ELBO(B) - truth: mean", error.mean(), "max |.|", np.abs(error).max())
    assert abs(error.mean()) < 4 * error.std() / np.sqrt(len(x))
    assert np.max(np.abs(error)) < 0.3


def test_importance_sampled_log_likelihood_approaches_the_closed_form(mlp_model):
    """k = 5000 importance samples from an MLP encoder: close to log N(x; b, K^T K + I).

    The estimate is a stochastic lower bound (Jensen): on average it is not above the truth;
    the ELBO is below the truth by KL(q || p(z|x)) for every example.
    """
    model, x, truth, bound = mlp_model
    estimate = evaluation.log_likelihood(model, x[:20], num_samples=5000)
    error = estimate - truth[:20]
    print("IS - truth: mean", error.mean(), "max |.|", np.abs(error).max(), "; ELBO gap", (truth - bound).mean())
    assert np.abs(error).mean() < 0.05 and np.abs(error).max() < 0.2
    assert error.mean() < 0.01
    assert np.all(bound < truth)


def test_importance_sampling_tightens_with_k(mlp_model):
    """IWAE bound (Burda et al.): E[log p_k] increases with k; k = 1 is the (estimator-A) ELBO."""
    model, x, truth, bound = mlp_model
    repeated = np.repeat(x, 20, axis=0)  # 20 estimates per example average out their noise
    estimates = {k: evaluation.log_likelihood(model, repeated, num_samples=k, seed=k) for k in (1, 10, 100)}
    estimates[1000] = evaluation.log_likelihood(model, x, num_samples=1000, seed=1000)
    means = {k: value.mean() for k, value in estimates.items()}
    print("ELBO", bound.mean(), "IS means", means, "truth", truth.mean())
    one = estimates[1]
    bound = np.repeat(bound, 20)
    assert abs(one.mean() - bound.mean()) < 4 * np.std(one - bound) / np.sqrt(len(one))
    assert means[1] < means[10] < means[100]
    assert abs(means[1000] - truth.mean()) < 0.05  # converged: within the noise of the estimate
    assert bound.mean() < means[10]


def test_log_likelihood_does_not_depend_on_the_split_into_passes():
    """Passes of 30 samples (log-sum-exp accumulated) agree with one pass of 100, within noise.

    q is the true posterior with 1.5 times its variance, so that k = 100 weights are precise
    (relative variance ~0.13): both estimates are then within a few SE (~0.035 nats) of log p(x).
    """
    model, x, truth = linear_gaussian(exact_posterior=True, log_var=-0.5, n=10, widen=1.5)
    one_pass = evaluation.log_likelihood(model, x, num_samples=100, max_samples_per_pass=100, seed=3)
    in_passes = evaluation.log_likelihood(model, x, num_samples=100, max_samples_per_pass=30, seed=3)
    print("one pass - truth:", one_pass - truth, "in passes - truth:", in_passes - truth)
    assert one_pass.shape == in_passes.shape == (10,)
    assert np.mean(np.abs(one_pass - in_passes)) < 0.1
    assert np.max(np.abs(one_pass - truth)) < 0.2 and np.max(np.abs(in_passes - truth)) < 0.2
    np.testing.assert_array_equal(
        in_passes, evaluation.log_likelihood(model, x, num_samples=100, max_samples_per_pass=30, seed=3))


@pytest.mark.parametrize("function, kwargs, name", [
    (evaluation.log_likelihood, {"num_samples": 0}, "num_samples"),
    (evaluation.log_likelihood, {"num_samples": -1}, "num_samples"),
    (evaluation.log_likelihood, {"num_samples": 2.5}, "num_samples"),
    (evaluation.log_likelihood, {"max_samples_per_pass": 0}, "max_samples_per_pass"),
    (evaluation.elbo, {"num_samples": 0}, "num_samples"),
    (evaluation.elbo, {"batch_size": -3}, "batch_size"),
])
def test_bad_arguments_are_refused(function, kwargs, name):
    """Sample counts and pass sizes must be positive integers ('Expected ... Received')."""
    with pytest.raises(ValueError, match=rf"Expected `{name}`.*Received"):
        function(tiny.tiny_model(), tiny.random_bits(4, p=0.3), **kwargs)


@pytest.mark.parametrize("function", [evaluation.log_likelihood, evaluation.elbo])
def test_bad_data_is_refused(function):
    """The data is checked as by the model: shape, and [0, 1] for a Bernoulli decoder."""
    model = tiny.tiny_model()
    with pytest.raises(ValueError, match=rf"Expected `x` to have shape \(n, {tiny.D}\).*Received"):
        function(model, np.zeros((4, tiny.D + 1), "float32"), num_samples=2)
    with pytest.raises(ValueError, match=r"Expected `x` to lie in \[0, 1\].*Received"):
        function(model, tiny.random_bits(4, p=0.3) * 255, num_samples=2)
