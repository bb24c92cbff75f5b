"""A plain Keras 3 VAE: `compute_loss` overridden, `compile` and `fit` with their defaults.

What a reader writes after the Keras 3 guide on customizing `fit()`, with no
library: the model's `call` encodes, samples z = μ + σ ⊙ ε with
`keras.random` and decodes to logits; `compute_loss` returns the summed
binary cross-entropy plus the summed KL, averaged over the batch. Only
`keras.ops`, so it runs on every backend; `compile(optimizer=Adam(1e-3))`
leaves `jit_compile="auto"` and `steps_per_execution=1`.
"""

import keras
from keras import layers, ops

from benchmarks.common import RECIPE
from benchmarks.contenders._keras_clock import ClockCallback


class VAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        h, j, d = RECIPE["hidden_units"], RECIPE["latent_dim"], RECIPE["input_dim"]
        self.hidden_enc = layers.Dense(h, activation="relu")
        self.dense_mean = layers.Dense(j)
        self.dense_log_var = layers.Dense(j)
        self.hidden_dec = layers.Dense(h, activation="relu")
        self.dense_logits = layers.Dense(d)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, x):
        h = self.hidden_enc(x)
        z_mean, z_log_var = self.dense_mean(h), self.dense_log_var(h)
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * epsilon
        return self.dense_logits(self.hidden_dec(z)), z_mean, z_log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, z_mean, z_log_var = y_pred
        bce = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=1)
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        return ops.mean(bce + kl)

    def weight_list(self):
        return [w for layer in (self.hidden_enc, self.dense_mean, self.dense_log_var,
                                self.hidden_dec, self.dense_logits)
                for w in layer.get_weights()]



def train(x_train, clock, options):
    keras.utils.set_random_seed(options.get("seed", 0))
    vae = VAE()
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=RECIPE["learning_rate"]))
    vae.fit(x_train, epochs=clock.planned_epochs, batch_size=RECIPE["batch_size"], verbose=0,
            callbacks=[ClockCallback(clock, vae.weight_list)])
    return {"backend": keras.backend.backend(), "jit_compile": bool(vae.jit_compile),
            "steps_per_execution": vae.steps_per_execution}
