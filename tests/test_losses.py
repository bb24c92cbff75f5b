"""The terms of the bound (vaelib.losses) against independent NumPy/SciPy computations."""

import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from vaelib import losses


def np_(tensor):
    return ops.convert_to_numpy(tensor).astype("float64")


def numpy_kl(mu, log_var):
    """Appendix B, written out in NumPy: KL = -1/2 sum_j (1 + log s_j^2 - mu_j^2 - s_j^2)."""
    return -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)


@pytest.mark.parametrize("latent_dim", [3, 4, 5])
def test_kl_closed_form_equals_monte_carlo_estimate(latent_dim):
    """Appendix B: the closed form equals E_q[log q(z) - log p(z)] within 4 standard errors."""
    rng = np.random.default_rng(latent_dim)
    mu = rng.normal(size=(3, latent_dim))
    log_var = rng.normal(scale=0.7, size=(3, latent_dim))
    closed = np_(losses.kl_divergence(mu.astype("float32"), log_var.astype("float32")))
    assert closed.shape == (3,)
    for i in range(3):
        sigma = np.exp(0.5 * log_var[i])
        z = mu[i] + sigma * rng.normal(size=(200_000, latent_dim))
        diff = norm.logpdf(z, mu[i], sigma).sum(1) - norm.logpdf(z).sum(1)  # log q - log p
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        assert abs(diff.mean() - closed[i]) < 4 * se, (i, diff.mean(), closed[i], se)


def test_kl_is_summed_not_averaged_over_latent_dimensions():
    """Eq. 10 / Appendix B sum over j = 1..J: J identical dimensions give J times the KL."""
    J = 6
    one = np_(losses.kl_divergence(np.array([[0.7]], "float32"), np.array([[-0.4]], "float32")))
    many = np_(losses.kl_divergence(np.full((1, J), 0.7, "float32"), np.full((1, J), -0.4, "float32")))
    expected = 0.5 * (0.7**2 + np.exp(-0.4) - 1 + 0.4)  # per dimension: (mu^2 + s^2 - 1 - log s^2) / 2
    assert one.shape == many.shape == (1,)
    np.testing.assert_allclose(one, [expected], rtol=1e-6)
    np.testing.assert_allclose(many, [J * expected], rtol=1e-6)
    np.testing.assert_allclose(many, J * one, rtol=1e-6)
    # Random rows against the NumPy formula, one value per row.
    rng = np.random.default_rng(7)
    mu, log_var = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    got = np_(losses.kl_divergence(mu.astype("float32"), log_var.astype("float32")))
    np.testing.assert_allclose(got, numpy_kl(mu, log_var), rtol=1e-5)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    """KL(q || p) >= 0 with equality iff q = p = N(0, I)."""
    zero = np_(losses.kl_divergence(np.zeros((2, 5), "float32"), np.zeros((2, 5), "float32")))
    np.testing.assert_array_equal(zero, [0.0, 0.0])
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(50, 5)).astype("float32")
    log_var = rng.normal(size=(50, 5)).astype("float32")
    kl = np_(losses.kl_divergence(mu, log_var))
    assert kl.shape == (50,) and np.all(kl > 0)
    # Moving only the mean, or only the variance, away from the prior also costs nats.
    assert np_(losses.kl_divergence(np.full((1, 2), 0.1, "float32"), np.zeros((1, 2), "float32")))[0] > 0
    assert np_(losses.kl_divergence(np.zeros((1, 2), "float32"), np.full((1, 2), -0.1, "float32")))[0] > 0


def numpy_bernoulli(x, logits):
    y = 1.0 / (1.0 + np.exp(-logits))
    return np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=-1)


def test_bernoulli_log_likelihood_equals_the_textbook_formula():
    """Appendix C.1: sum_d x log y + (1 - x) log(1 - y), y = sigmoid(logits), one value per example."""
    rng = np.random.default_rng(2)
    x = (rng.random((5, 30)) < 0.4).astype("float64")
    logits = rng.normal(scale=3, size=(5, 30))
    got = np_(losses.bernoulli_log_likelihood(x.astype("float32"), logits.astype("float32")))
    assert got.shape == (5,)
    np.testing.assert_allclose(got, numpy_bernoulli(x, logits), rtol=1e-5)
    # Grey levels are legal too (the continuous relaxation used by many examples).
    x_grey = rng.random((5, 30))
    got = np_(losses.bernoulli_log_likelihood(x_grey.astype("float32"), logits.astype("float32")))
    np.testing.assert_allclose(got, numpy_bernoulli(x_grey, logits), rtol=1e-5)


def test_bernoulli_log_likelihood_keeps_the_sample_axis():
    """x of shape (batch, 1, D) against logits (batch, L, D) gives log p(x|z_l), shape (batch, L)."""
    rng = np.random.default_rng(3)
    x = (rng.random((4, 1, 10)) < 0.5).astype("float32")  # (batch, 1, D)
    logits = rng.normal(scale=2, size=(4, 3, 10)).astype("float32")  # (batch, L, D)
    got = np_(losses.bernoulli_log_likelihood(x, logits))
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, numpy_bernoulli(x.astype("float64"), logits.astype("float64")), rtol=1e-5)


def test_bernoulli_log_likelihood_is_stable_for_saturated_logits():
    """Logits of +-1e4 would give log(0) through sigmoid; the logit form stays finite and exact."""
    x = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    right = np.array([[1e4, -1e4, 1e4, -1e4]], "float32")
    certain = np_(losses.bernoulli_log_likelihood(x, right))
    wrong = np_(losses.bernoulli_log_likelihood(x, -right))
    assert np.all(np.isfinite(certain)) and np.all(np.isfinite(wrong))
    assert certain[0] == pytest.approx(0.0, abs=1e-6)
    assert wrong[0] == pytest.approx(-4e4, rel=1e-6)  # each wrong pixel costs |logit| nats
    one = np_(losses.bernoulli_log_likelihood(np.ones((1, 1), "float32"), np.full((1, 1), 1e4, "float32")))
    assert one[0] == 0.0


def test_gaussian_log_likelihood_with_learned_and_fixed_variance():
    """Appendix C.2: log N(x; mu, sigma^2 I) summed over the last axis, tensor or float log sigma^2."""
    rng = np.random.default_rng(3)
    x, mu = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    log_var = rng.normal(scale=0.5, size=(6, 8))
    expected = norm.logpdf(x, mu, np.exp(0.5 * log_var)).sum(1)
    got = np_(losses.gaussian_log_likelihood(*(a.astype("float32") for a in (x, mu, log_var))))
    assert got.shape == (6,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    fixed = np_(losses.gaussian_log_likelihood(x.astype("float32"), mu.astype("float32"), -1.0))
    assert fixed.shape == (6,)
    np.testing.assert_allclose(fixed, norm.logpdf(x, mu, np.exp(-0.5)).sum(1), rtol=1e-5)


def test_gaussian_log_likelihood_keeps_the_sample_axis():
    """x (batch, 1, D) against a mean of shape (batch, L, D): one density per sample."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 1, 5))
    mu, log_var = rng.normal(size=(3, 4, 5)), rng.normal(scale=0.3, size=(3, 4, 5))
    got = np_(losses.gaussian_log_likelihood(*(a.astype("float32") for a in (x, mu, log_var))))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, norm.logpdf(x, mu, np.exp(0.5 * log_var)).sum(-1), rtol=1e-5)


def test_standard_normal_log_density():
    """log N(z; 0, I) summed over the J dimensions, the prior p(z) of the paper."""
    z = np.random.default_rng(4).normal(size=(7, 3)).astype("float32")
    expected = norm.logpdf(z.astype("float64")).sum(1)
    got = np_(losses.standard_normal_log_density(z))
    assert got.shape == (7,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got, np_(losses.gaussian_log_likelihood(z, 0.0, 0.0)), rtol=1e-6)
