"""The VAE of the keras.io example (examples/generative/vae), written the same way.

As there: a `Sampling` layer with its own seed generator inside a functional
encoder that outputs `[z_mean, z_log_var, z]`, a functional decoder ending in
a sigmoid, images shaped (28, 28, 1), and a `keras.Model` subclass whose
`train_step` computes the loss under `tf.GradientTape` (so it runs on the
TensorFlow backend only), tracks total, reconstruction and KL losses, and
`compile(optimizer=keras.optimizers.Adam())` with every other argument left
at its default. The example's convolutions are replaced by the recipe's MLP
(a `Flatten` in, a `Reshape` out), so that the network is the one every
contender trains.
"""

import keras
import tensorflow as tf
from keras import layers, ops

from benchmarks.common import RECIPE
from benchmarks.contenders._keras_clock import ClockCallback


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder():
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Flatten()(encoder_inputs)
    x = layers.Dense(RECIPE["hidden_units"], activation="relu")(x)
    z_mean = layers.Dense(RECIPE["latent_dim"], name="z_mean")(x)
    z_log_var = layers.Dense(RECIPE["latent_dim"], name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder():
    latent_inputs = keras.Input(shape=(RECIPE["latent_dim"],))
    x = layers.Dense(RECIPE["hidden_units"], activation="relu")(latent_inputs)
    x = layers.Dense(RECIPE["input_dim"], activation="sigmoid")(x)
    decoder_outputs = layers.Reshape((28, 28, 1))(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}



def train(x_train, clock, options):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("The keras.io VAE uses tf.GradientTape: run it with KERAS_BACKEND=tensorflow")
    keras.utils.set_random_seed(options.get("seed", 0))
    encoder, decoder = build_encoder(), build_decoder()
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=RECIPE["learning_rate"]))
    mnist_digits = x_train.reshape(-1, 28, 28, 1)

    def get_weights():
        return encoder.get_weights() + decoder.get_weights()

    vae.fit(mnist_digits, epochs=clock.planned_epochs, batch_size=RECIPE["batch_size"], verbose=0,
            callbacks=[ClockCallback(clock, get_weights)])
    return {"backend": "tensorflow", "jit_compile": bool(vae.jit_compile),
            "steps_per_execution": vae.steps_per_execution}
