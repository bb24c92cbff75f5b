"""The toy latent-variable model and its quadrature (vaelib.toy), against independent computations.

The exact references are a linear-Gaussian decoder, whose evidence and posterior
are Gaussian in closed form (computed here by SciPy and by conditioning the joint
Gaussian, not by vaelib's formulas), Monte Carlo estimates with their standard
errors, and the normalization of densities over the data space.
"""

import math

import numpy as np
import pytest
from keras import ops
from scipy.stats import multivariate_normal, norm

from vaelib import losses, toy


def _linear(J, D, noise_std=0.5, seed=0):
    return toy.ToyModel(latent_dim=J, data_dim=D, hidden_units=3, noise_std=noise_std,
                        activation="linear", weight_scale=1.0, seed=seed)


def _joint_gaussian_reference(model, x):
    """log p(x) and p(z|x) of the linear model by conditioning the joint Gaussian of (z, x).

    With f(z) = z W1 W2 + b1 W2 + b2 =: z A + c, (z, x) is Gaussian with
    Cov(z) = I, Cov(z, x) = A, Cov(x) = A^T A + s^2 I; the posterior is
    N(A Cov(x)^-1 (x - c), I - A Cov(x)^-1 A^T) (the Schur complement).
    """
    A = model.W1 @ model.W2
    c = model.b1 @ model.W2 + model.b2
    cov_x = A.T @ A + model.noise_std**2 * np.eye(model.data_dim)
    gain = A @ np.linalg.inv(cov_x)  # (J, D)
    mean = gain @ (x - c)
    cov = np.eye(model.latent_dim) - gain @ A.T
    return multivariate_normal(c, cov_x).logpdf(x), mean, cov


# The model.

def test_weights_are_seeded_and_the_config_rebuilds_the_model():
    a = toy.ToyModel(latent_dim=2, data_dim=3, seed=4)
    b = toy.ToyModel(**a.get_config())
    c = toy.ToyModel(latent_dim=2, data_dim=3, seed=5)
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.W1, c.W1)
    assert [w.shape for w in a.get_weights()] == [(2, 8), (8,), (8, 3), (3,)]
    assert "ToyModel(latent_dim=2" in repr(a)


def test_decoder_is_the_tanh_mlp_and_shapes_broadcast():
    model = toy.ToyModel(latent_dim=2, data_dim=3, seed=1)
    z = np.random.default_rng(0).normal(size=(4, 5, 2))
    expected = np.tanh(z @ model.W1 + model.b1) @ model.W2 + model.b2
    np.testing.assert_allclose(model.decode(z), expected, rtol=1e-14)
    assert model.decode(z).shape == (4, 5, 3)
    assert model.log_likelihood(np.zeros(3), z).shape == (4, 5)
    assert model.log_prior(z).shape == (4, 5)


def test_log_densities_match_scipy():
    model = toy.ToyModel(latent_dim=2, data_dim=3, noise_std=0.3, seed=2)
    rng = np.random.default_rng(1)
    z, x = rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    prior = norm.logpdf(z).sum(axis=1)
    lik = np.array([multivariate_normal(model.decode(z[i]), 0.09 * np.eye(3)).logpdf(x[i]) for i in range(6)])
    np.testing.assert_allclose(model.log_prior(z), prior, rtol=1e-12)
    np.testing.assert_allclose(model.log_likelihood(x, z), lik, rtol=1e-12)
    np.testing.assert_allclose(model.log_joint(x, z), prior + lik, rtol=1e-12)


def test_ancestral_samples_follow_the_prior_and_the_noise_level():
    model = toy.ToyModel(latent_dim=2, data_dim=3, noise_std=0.2, seed=3)
    z, x = model.sample(50_000, seed=0)
    assert z.shape == (50_000, 2) and x.shape == (50_000, 3)
    se = 1 / math.sqrt(50_000)
    assert np.all(np.abs(z.mean(axis=0)) < 4 * se)
    assert np.all(np.abs(z.std(axis=0) - 1) < 4 * se)
    residual = (x - model.decode(z)) / 0.2  # standard normal if p(x|z) = N(f(z), s^2 I)
    assert np.all(np.abs(residual.std(axis=0) - 1) < 4 * se)
    z2, x2 = model.sample(10, seed=0)
    np.testing.assert_array_equal(z2, model.sample(10, seed=0)[0])


# The linear-Gaussian reference.

@pytest.mark.parametrize("J, D", [(1, 1), (1, 2), (2, 2), (2, 3)])
def test_closed_forms_of_the_linear_model_match_the_joint_gaussian(J, D):
    model = _linear(J, D, seed=J + D)
    _, xs = model.sample(3, seed=1)
    for x in xs:
        log_px, mean, cov = _joint_gaussian_reference(model, x)
        assert model.exact_log_evidence(x) == pytest.approx(log_px, rel=1e-12)
        got_mean, got_cov = model.exact_posterior(x)
        np.testing.assert_allclose(got_mean, mean, atol=1e-12)
        np.testing.assert_allclose(got_cov, cov, atol=1e-12)
    np.testing.assert_allclose(model.exact_log_evidence(xs), [model.exact_log_evidence(x) for x in xs])


@pytest.mark.parametrize("J", [1, 2])
def test_quadrature_equals_the_closed_form_evidence_and_posterior(J):
    model = _linear(J, 2, seed=10 + J)
    _, xs = model.sample(2, seed=2)
    for x in xs:
        grid = toy.quadrature(model, x, 400 if J == 1 else 200)
        log_px, mean, cov = _joint_gaussian_reference(model, x)
        assert abs(grid.log_evidence - log_px) < 1e-9
        np.testing.assert_allclose(grid.posterior_weights().sum(), 1.0, rtol=1e-12)
        z = grid.points().reshape(grid.log_joint.shape + (J,))
        got_mean = grid.expectation(z)
        centred = z - got_mean
        got_cov = grid.expectation(centred[..., :, None] * centred[..., None, :])
        np.testing.assert_allclose(got_mean, mean, atol=1e-9)
        np.testing.assert_allclose(got_cov, cov, atol=1e-9)


def test_linear_model_has_the_chosen_singular_values():
    s = np.array([2.0, 1.5, 1.0])
    model = toy.linear_model(s, noise_std=0.7, seed=3)
    A, c = model.affine_map()
    np.testing.assert_allclose(np.linalg.svd(A, compute_uv=False), s, rtol=1e-12)
    np.testing.assert_array_equal(c, np.zeros(3))
    _, cov = model.exact_posterior(np.ones(3))
    widths = np.sort(np.sqrt(np.linalg.eigvalsh(cov)))
    np.testing.assert_allclose(widths, np.sort(0.7 / np.sqrt(s**2 + 0.49)), rtol=1e-10)


# The nonlinear model: checks that need no closed form.

def test_evidence_is_a_normalized_density_over_the_data_space():
    """∫ p(x) dx = 1: a dropped 1/2, 2π or σ anywhere in log p(x|z) would break it."""
    model = toy.ToyModel(latent_dim=1, data_dim=1, noise_std=0.2, seed=0)
    xs, dx = toy.grid_axis(600, limit=3.0 + 6 * 0.2 + float(np.abs(model.W2).sum()))
    p = np.exp(toy.log_evidence(model, xs[:, None], 300))
    assert abs(np.sum(p) * dx - 1.0) < 1e-6


def test_evidence_matches_monte_carlo_over_the_prior():
    """p(x) = E_{p(z)}[p(x|z)], estimated with 200,000 prior draws, within 4 standard errors."""
    model = toy.ToyModel(latent_dim=2, data_dim=2, noise_std=0.3, seed=1)
    _, xs = model.sample(2, seed=3)
    z = np.random.default_rng(0).normal(size=(200_000, 2))
    for x in xs:
        lik = np.exp(model.log_likelihood(x, z))
        estimate, se = lik.mean(), lik.std() / math.sqrt(len(z))
        exact = math.exp(toy.quadrature(model, x, 300).log_evidence)
        assert abs(estimate - exact) < 4 * se, (estimate, exact, se)


def test_batched_log_evidence_equals_quadrature_point_by_point():
    model = toy.ToyModel(latent_dim=2, data_dim=2, seed=2)
    _, xs = model.sample(5, seed=4)
    batched = toy.log_evidence(model, xs, 60, max_evaluations=7_000)  # 2 points per block
    single = [toy.quadrature(model, x, 60, chunk_size=1000).log_evidence for x in xs]
    np.testing.assert_allclose(batched, single, rtol=1e-12)


def test_log_sum_exp_survives_where_the_density_underflows():
    model = toy.ToyModel(latent_dim=1, data_dim=1, noise_std=0.01, seed=0)
    x = model.decode(np.array([0.0])) + 3.0  # 300 noise std from the curve
    grid = toy.quadrature(model, x, 2000)
    assert np.all(np.exp(grid.log_joint) == 0.0)  # every term underflows in float64...
    assert np.isfinite(grid.log_evidence)  # ...but the log-domain sum does not
    np.testing.assert_allclose(grid.posterior_weights().sum(), 1.0, rtol=1e-9)


# Gaussian q and the bound (paper Eqs. 1-3).

def test_gaussian_log_density_matches_scipy_and_vaelib_losses():
    rng = np.random.default_rng(5)
    z, mean, log_var = rng.normal(size=(3, 7, 4))
    expected = norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(axis=-1)
    np.testing.assert_allclose(toy.gaussian_log_density(z, mean, log_var), expected, rtol=1e-12)
    keras_value = ops.convert_to_numpy(losses.gaussian_log_likelihood(z, mean, log_var))
    np.testing.assert_allclose(toy.gaussian_log_density(z, mean, log_var), keras_value, rtol=1e-5)


def test_gaussian_kl_against_quadrature_and_vaelib_losses():
    rng = np.random.default_rng(6)
    mq, lq, mp, lp = rng.normal(size=(4, 3))
    t, h = toy.grid_axis(20_000, limit=30.0)
    for j in range(3):  # one dimension at a time, by the definition E_q[log q - log p]
        q = norm.pdf(t, mq[j], math.exp(lq[j] / 2))
        integrand = q * (norm.logpdf(t, mq[j], math.exp(lq[j] / 2)) - norm.logpdf(t, mp[j], math.exp(lp[j] / 2)))
        assert toy.gaussian_kl(mq[j:j + 1], lq[j:j + 1], mp[j:j + 1], lp[j:j + 1]) == pytest.approx(
            np.sum(integrand) * h, abs=1e-10)
    # Against the prior: the paper's Appendix B, as vaelib.losses computes it.
    rng_mu, rng_lv = rng.normal(size=(2, 5, 4))
    keras_kl = ops.convert_to_numpy(losses.kl_divergence(rng_mu, rng_lv))
    np.testing.assert_allclose(toy.gaussian_kl(rng_mu, rng_lv), keras_kl, rtol=1e-5)
    assert toy.gaussian_kl(mq, lq, mq, lq) == 0.0
    assert toy.gaussian_kl(mq, lq, mp, lp) > 0 and toy.gaussian_kl(mp, lp, mq, lq) > 0
    assert toy.gaussian_kl(mq, lq, mp, lp) != pytest.approx(toy.gaussian_kl(mp, lp, mq, lq))


def test_gaussian_expectation_is_exact_for_moments():
    mean, log_var = np.array([0.3, -1.2]), np.array([0.4, -0.8])
    var = np.exp(log_var)
    assert toy.gaussian_expectation(lambda z: z[:, 0], mean, log_var, 200) == pytest.approx(0.3, abs=1e-12)
    second = toy.gaussian_expectation(lambda z: z[:, 1] ** 2, mean, log_var, 200)
    assert second == pytest.approx(1.44 + var[1], rel=1e-12)
    cross = toy.gaussian_expectation(lambda z: z[:, 0] * z[:, 1], mean, log_var, 200)
    assert cross == pytest.approx(0.3 * -1.2, rel=1e-12)


@pytest.mark.parametrize("J", [1, 2])
def test_log_evidence_is_kl_plus_elbo_and_both_forms_agree(J):
    """Eq. 1 with the KL by quadrature on the prior's grid and the bound by Eq. 3 on q's own points."""
    model = toy.ToyModel(latent_dim=J, data_dim=2, seed=7)
    _, xs = model.sample(1, seed=5)
    grid = toy.quadrature(model, xs[0], 3000 if J == 1 else 300, limit=10.0)
    rng = np.random.default_rng(J)
    for _ in range(4):
        mean, log_var = rng.normal(scale=0.8, size=J), rng.normal(scale=0.8, size=J) - 1.0
        kl = grid.kl_from(mean, log_var)
        eq2 = grid.elbo(mean, log_var)
        eq3 = toy.elbo_closed_form_kl(model, xs[0], mean, log_var, 2000 if J == 1 else 200)
        assert kl > 0 and eq3 < grid.log_evidence
        assert abs(eq2 - eq3) < 1e-8
        assert abs(kl + eq3 - grid.log_evidence) < 1e-8


def test_gap_closes_when_q_is_the_exact_posterior():
    model = _linear(1, 2, seed=8)
    _, xs = model.sample(1, seed=6)
    mean, cov = model.exact_posterior(xs[0])
    log_var = np.log(np.diag(cov))
    elbo = toy.elbo_closed_form_kl(model, xs[0], mean, log_var)
    assert abs(elbo - model.exact_log_evidence(xs[0])) < 1e-10
    grid = toy.quadrature(model, xs[0], 2000, limit=8.0)
    assert abs(grid.kl_from(mean, log_var)) < 1e-10


# Bad inputs are refused with a message saying what was expected.

@pytest.mark.parametrize("kwargs", [
    {"latent_dim": 0}, {"data_dim": 1.5}, {"hidden_units": True}, {"noise_std": -0.1},
    {"noise_std": float("nan")}, {"activation": "relu"}, {"weight_scale": 0}, {"seed": -1},
])
def test_bad_model_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="Expected"):
        toy.ToyModel(**kwargs)


def test_bad_inputs_are_refused():
    model = toy.ToyModel(latent_dim=2, data_dim=3)
    cases = [
        lambda: model.decode(np.zeros((4, 3))),  # z has J = 2 columns
        lambda: model.log_likelihood(np.zeros(2), np.zeros(2)),  # x has D = 3 entries
        lambda: model.log_prior(np.array([np.nan, 0.0])),
        lambda: model.affine_map(),  # tanh model
        lambda: model.set_weights([np.zeros((3, 8)), model.b1, model.W2, model.b2]),
        lambda: model.set_weights(model.W1),
        lambda: model.sample(0),
        lambda: toy.quadrature(model, np.zeros((2, 3)), 10),  # one point only
        lambda: toy.quadrature(model, np.zeros(3), 0),
        lambda: toy.quadrature(model, np.zeros(3), 10, limit=-1.0),
        lambda: toy.quadrature(model, np.zeros(3), 5000),  # 25 million points
        lambda: toy.log_evidence(model, np.zeros(3), 10),  # a batch is needed
        lambda: toy.log_evidence(model, np.zeros((2, 3)), 5000),
        lambda: toy.quadrature(model, np.zeros(3), 10).kl_from(np.zeros(3), np.zeros(3)),
        lambda: toy.quadrature(model, np.zeros(3), 10).expectation(np.zeros(7)),
        lambda: toy.gaussian_kl(0.0, 0.0),
        lambda: toy.gaussian_expectation(lambda z: z[:, 0], np.zeros(2), np.zeros(3)),
        lambda: toy.gaussian_expectation(lambda z: z, np.zeros(2), np.zeros(2), 10),
        lambda: toy.linear_model([1.0, -2.0]),
        lambda: toy.elbo_closed_form_kl(model, np.zeros(3), np.zeros(3), np.zeros(3)),
        lambda: _linear(1, 2).exact_posterior(np.zeros((2, 2))),
    ]
    for case in cases:
        with pytest.raises(ValueError, match="Expected"):
            case()
    for case in [lambda: toy.quadrature("model", np.zeros(3), 10),
                 lambda: toy.log_evidence(None, np.zeros((1, 3)), 10),
                 lambda: model.decode("abc")]:
        with pytest.raises(TypeError, match="Expected"):
            case()
