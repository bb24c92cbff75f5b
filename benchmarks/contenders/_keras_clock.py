"""The epoch clock as a Keras callback, for the contenders trained with `fit()`."""

import keras


class ClockCallback(keras.callbacks.Callback):
    """Calls `clock.begin()` and `clock.end(get_weights)` around each epoch of `fit()`."""

    def __init__(self, clock, get_weights):
        super().__init__()
        self.clock, self.get_weights = clock, get_weights

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.begin()

    def on_epoch_end(self, epoch, logs=None):
        if self.clock.end(self.get_weights):
            self.model.stop_training = True
