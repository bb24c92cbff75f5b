"""Keras callbacks for training a VAE: `KLAnnealing`, the warm-up of β."""

import keras

from vaelib._checks import check_non_negative, check_positive_int


class KLAnnealing(keras.callbacks.Callback):
    """Warm up β linearly from `start` to `stop` over the first `epochs` epochs.

    With β held low early in training, the decoder learns to use z before the
    KL term can pull q_φ(z|x) onto the prior, a remedy for posterior collapse
    ("KL annealing", Bowman et al. 2016, §3.1; "warm-up", Sønderby et al.
    2016, §2.2). Epoch e (counted from 0, as `fit`'s `initial_epoch`) trains
    with

        β_e = start + (stop - start) · min(1, e / epochs),

    so epoch 0 uses `start` and every epoch from `epochs` on uses `stop`. The
    value is assigned to the model's `beta` variable at the start of each
    epoch (which every backend reads afresh there) and written to the logs as
    `beta`, so it appears in `fit`'s history.

    Args:
        start: β of the first epoch (≥ 0).
        stop: β after the warm-up (≥ 0).
        epochs: length of the warm-up in epochs (a positive integer).
    """

    def __init__(self, start=0.0, stop=1.0, epochs=10):
        super().__init__()
        self.start, self.stop = check_non_negative("start", start), check_non_negative("stop", stop)
        self.epochs = check_positive_int("epochs", epochs)

    def beta_at(self, epoch):
        """β_e of epoch `epoch` (counted from 0)."""
        return self.start + (self.stop - self.start) * min(1.0, epoch / self.epochs)

    def on_train_begin(self, logs=None):
        if getattr(self.model, "beta", None) is None:
            raise ValueError(
                "Expected a model whose loss weighs a KL term by β (a VAE or ConditionalVAE). "
                f"Received: a {type(self.model).__name__}, whose loss has no β to anneal"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self.model.beta.assign(self.beta_at(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = self.beta_at(epoch)
