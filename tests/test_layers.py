"""The reparameterization trick (vaelib.layers, paper §2.4, Eq. 10)."""

import keras
import numpy as np
import pytest
from keras import ops

from vaelib.layers import Sampling, reparameterize


def _inputs(batch=8, latent=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, latent)).astype("float32"),
            rng.normal(size=(batch, latent)).astype("float32"))


def test_reparameterize_is_mu_plus_sigma_times_epsilon():
    """Eq. 10: z = mu + exp(log sigma^2 / 2) * eps, for eps of shape (batch, J) and (batch, L, J)."""
    mu, log_var = _inputs()
    eps = np.random.default_rng(1).normal(size=mu.shape).astype("float32")
    got = ops.convert_to_numpy(reparameterize(mu, log_var, eps))
    assert got.shape == (8, 3)
    np.testing.assert_allclose(got, mu + np.exp(0.5 * log_var) * eps, rtol=1e-6, atol=1e-6)
    eps3 = np.random.default_rng(2).normal(size=(8, 5, 3)).astype("float32")  # (batch, L, J)
    got3 = ops.convert_to_numpy(reparameterize(mu, log_var, eps3))
    assert got3.shape == (8, 5, 3)
    np.testing.assert_allclose(got3, mu[:, None] + np.exp(0.5 * log_var)[:, None] * eps3,
                               rtol=1e-6, atol=1e-6)


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    """Two layers built with the same seed draw the same eps; another seed draws other eps."""
    mu, log_var = _inputs()
    a = ops.convert_to_numpy(Sampling(seed=42)([mu, log_var]))
    b = ops.convert_to_numpy(Sampling(seed=42)([mu, log_var]))
    c = ops.convert_to_numpy(Sampling(seed=43)([mu, log_var]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    layer = Sampling(seed=42)  # successive calls of one layer draw new noise
    first, second = (ops.convert_to_numpy(layer([mu, log_var])) for _ in range(2))
    np.testing.assert_array_equal(first, a)
    assert not np.allclose(first, second)


def test_output_shapes():
    """(batch, J) without num_samples, (batch, L, J) with num_samples=L."""
    mu, log_var = _inputs(batch=8, latent=3)
    assert tuple(Sampling(seed=0)([mu, log_var]).shape) == (8, 3)
    assert tuple(Sampling(num_samples=5, seed=0)([mu, log_var]).shape) == (8, 5, 3)
    assert Sampling().compute_output_shape(((None, 3), (None, 3))) == (None, 3)
    assert Sampling(num_samples=5).compute_output_shape(((None, 3), (None, 3))) == (None, 5, 3)


def test_samples_have_the_posterior_mean_and_standard_deviation():
    """z ~ N(mu, sigma^2): sample mean within 5 standard errors of mu, sample std of sigma."""
    mu = np.array([[1.5, -2.0, 0.0]], "float32")
    log_var = np.array([[0.5, -1.0, 2.0]], "float32")
    n = 50_000
    z = ops.convert_to_numpy(Sampling(num_samples=n, seed=3)([mu, log_var]))[0].astype("float64")  # (L, J)
    sigma = np.exp(0.5 * log_var[0].astype("float64"))
    se_mean = sigma / np.sqrt(n)
    se_std = sigma / np.sqrt(2 * n)  # standard error of a Gaussian sample's std
    assert np.all(np.abs(z.mean(0) - mu[0]) < 5 * se_mean), (z.mean(0), mu[0])
    assert np.all(np.abs(z.std(0, ddof=1) - sigma) < 5 * se_std), (z.std(0), sigma)
    # The dimensions are independent: the off-diagonal correlations are near zero.
    corr = np.corrcoef(z.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(corr) < 5 / np.sqrt(n))


def test_config_round_trip():
    """get_config/from_config and Keras' (de)serialization keep num_samples, seed and name."""
    layer = Sampling(num_samples=4, seed=7, name="s")
    config = layer.get_config()
    assert config["num_samples"] == 4 and config["seed"] == 7
    clone = Sampling.from_config(config)
    assert (clone.num_samples, clone.seed, clone.name) == (4, 7, "s")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, Sampling) and (revived.num_samples, revived.seed) == (4, 7)
    mu, log_var = _inputs()
    np.testing.assert_array_equal(ops.convert_to_numpy(clone([mu, log_var])),
                                  ops.convert_to_numpy(Sampling(num_samples=4, seed=7)([mu, log_var])))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_invalid_num_samples_is_refused(bad):
    """num_samples must be a positive integer; the message says what was expected and received."""
    with pytest.raises(ValueError, match=r"Expected `num_samples`.*Received") as info:
        Sampling(num_samples=bad)
    assert repr(bad) in str(info.value)
