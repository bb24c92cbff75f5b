"""The reparameterization trick (paper §2.4, Eq. 10), and a floor under learned variances."""

import keras
from keras import ops

from vaelib._checks import check_finite_number, check_positive_int


def reparameterize(z_mean, z_log_var, epsilon):
    """Return z = μ + σ ⊙ ε, the reparameterized sample of paper Eq. 10.

    Args:
        z_mean: μ, shape `(batch, latent_dim)`.
        z_log_var: log σ², shape `(batch, latent_dim)`.
        epsilon: ε ~ N(0, I), shape `(batch, latent_dim)` or
            `(batch, L, latent_dim)` for L samples per input.

    Returns:
        z with the shape of `epsilon`.
    """
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    epsilon = ops.convert_to_tensor(epsilon)
    if len(epsilon.shape) == 3:
        z_mean = ops.expand_dims(z_mean, 1)  # (batch, 1, latent_dim)
        z_log_var = ops.expand_dims(z_log_var, 1)  # (batch, 1, latent_dim)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


@keras.saving.register_keras_serializable(package="vaelib")
class Sampling(keras.layers.Layer):
    """Draw z ~ q_φ(z|x) = N(μ, σ² I) by the reparameterization trick.

    z = g_φ(ε, x) = μ + σ ⊙ ε with ε ~ N(0, I) (§2.4; Eq. 10 in §3) is a
    differentiable function of μ and σ, so gradients with respect to φ flow
    through the sample. The noise comes from the layer's own seeded
    `keras.random.SeedGenerator`: the same `seed`, the same ε on every run.

    Args:
        num_samples: L, samples per input: `None` (default) returns shape
            `(batch, latent_dim)`, an integer L `(batch, L, latent_dim)`.
        seed: integer seed of the noise, or `None` for a random one.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        inputs: the pair `(z_mean, z_log_var)`, each `(batch, latent_dim)`.
    """

    def __init__(self, num_samples=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_samples = check_positive_int("num_samples", num_samples, optional=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return reparameterize(z_mean, z_log_var, self.noise(z_mean))

    def noise(self, z_mean):
        """ε ~ N(0, I) from the layer's stream: `(batch, [L,] latent_dim)`."""
        batch, latent_dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        shape = (batch, *self._samples_axis(), latent_dim)
        return keras.random.normal(shape, seed=self.seed_generator, dtype=z_mean.dtype)

    def compute_output_shape(self, input_shape):
        batch, latent_dim = tuple(input_shape[0])
        return batch, *self._samples_axis(), latent_dim

    def _samples_axis(self):
        return () if self.num_samples is None else (self.num_samples,)

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples, "seed": self.seed}

    # No weights, but the noise stream has a position, which Keras does not save:
    # saved with the layer, a restored run draws the ε of one never stopped.

    def save_own_variables(self, store):
        """Save the state of the noise stream (Keras' hook for `save`/`save_weights`)."""
        store["seed_generator_state"] = ops.convert_to_numpy(self.seed_generator.state.value)

    def load_own_variables(self, store):
        """Restore the state of the noise stream, if the file has one."""
        if "seed_generator_state" in store.keys():
            self.seed_generator.state.assign(store["seed_generator_state"][...])


@keras.saving.register_keras_serializable(package="vaelib")
class LogVarianceFloor(keras.layers.Layer):
    """A smooth lower bound m on a learned log-variance: log σ² = m + softplus(t - m).

    The Gaussian decoder of Appendix C.2 learns log σ² = t with no bound, so
    where it predicts a pixel exactly, -½ log(2πσ²) grows without limit.
    With the floor each pixel earns at most -½ (log 2π + m) nats
    (`losses.quantization_log_var_floor` gives m for 8-bit images). Far above
    m it is the identity; its derivative sigmoid(t - m) is never 0, unlike
    clipping's, so no unit is cut off from the gradient for good.

    Args:
        min_log_var: the floor m, a finite number.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...).
    """

    def __init__(self, min_log_var, **kwargs):
        super().__init__(**kwargs)
        self.min_log_var = check_finite_number("min_log_var", min_log_var)

    def call(self, inputs):
        return self.min_log_var + ops.softplus(inputs - self.min_log_var)  # shape of inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_log_var": self.min_log_var}
