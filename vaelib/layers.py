"""The reparameterization trick as a Keras layer (paper §2.4, Eq. 10)."""

import keras
from keras import ops

from vaelib._checks import check_positive_int


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
    z_mean, z_log_var, epsilon = (ops.convert_to_tensor(a) for a in (z_mean, z_log_var, epsilon))
    if len(epsilon.shape) == 3:
        z_mean = ops.expand_dims(z_mean, 1)  # (batch, 1, latent_dim)
        z_log_var = ops.expand_dims(z_log_var, 1)  # (batch, 1, latent_dim)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


@keras.saving.register_keras_serializable(package="vaelib")
class Sampling(keras.layers.Layer):
    """Draw z ~ q_φ(z|x) = N(μ, σ² I) by the reparameterization trick.

    The paper's §2.4 writes the sample as a deterministic, differentiable
    function of the encoder's outputs and of independent noise,
    z = g_φ(ε, x) = μ + σ ⊙ ε with ε ~ N(0, I) (Eq. 10), so that gradients
    with respect to φ flow through μ and σ. The noise comes from the layer's
    own `keras.random.SeedGenerator`: a layer built with the same `seed`
    draws the same sequence of ε on every backend run.

    Args:
        num_samples: L, the number of samples per input. `None` (default)
            returns one sample of shape `(batch, latent_dim)`; an integer L
            returns shape `(batch, L, latent_dim)`.
        seed: integer seed of the noise, or `None` for a random one.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        inputs: a pair `(z_mean, z_log_var)`: μ and log σ², each of shape
            `(batch, latent_dim)`.

    Returns:
        z: shape `(batch, latent_dim)`, or `(batch, L, latent_dim)`.
    """

    def __init__(self, num_samples=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if num_samples is not None:
            num_samples = check_positive_int("num_samples", num_samples)
        self.num_samples = num_samples
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, latent_dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        if self.num_samples is None:
            shape = (batch, latent_dim)
        else:
            shape = (batch, self.num_samples, latent_dim)
        epsilon = keras.random.normal(shape, seed=self.seed_generator, dtype=z_mean.dtype)
        return reparameterize(z_mean, z_log_var, epsilon)

    def compute_output_shape(self, input_shape):
        mean_shape = tuple(input_shape[0])
        if self.num_samples is None:
            return mean_shape
        return (mean_shape[0], self.num_samples, mean_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_samples": self.num_samples, "seed": self.seed})
        return config

    # The layer has no weights, but its noise stream has a position: the state
    # of its SeedGenerator, which Keras does not save by itself. Saving it with
    # the layer makes a saved model, or a training run restored by
    # `keras.callbacks.BackupAndRestore`, draw the same ε as one never stopped.

    def save_own_variables(self, store):
        """Save the state of the noise stream (Keras' hook for `save`/`save_weights`)."""
        store["seed_generator_state"] = ops.convert_to_numpy(self.seed_generator.state.value)

    def load_own_variables(self, store):
        """Restore the state of the noise stream, if the file has one."""
        if "seed_generator_state" in store.keys():
            self.seed_generator.state.assign(store["seed_generator_state"][...])
