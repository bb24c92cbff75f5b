"""What every contender shares: the recipe, the data, the FLOP count and one yardstick.

Nothing here imports a deep-learning framework, so each contender's process
loads only its own.
"""

import time

import numpy as np

# The pytorch/examples VAE recipe (vae/main.py): a 784-400-20 MLP with ReLU hidden
# units, a Bernoulli decoder on grey-level MNIST, loss = summed binary cross-entropy
# + summed KL, minibatches of 128, Adam with learning rate 1e-3.
RECIPE = {
    "input_dim": 784,
    "hidden_units": 400,
    "latent_dim": 20,
    "activation": "relu",
    "likelihood": "bernoulli",
    "data": "MNIST, grey levels in [0, 1] (vaelib.data.load_mnist(binarization='none'))",
    "batch_size": 128,
    "optimizer": "Adam",
    "learning_rate": 1e-3,
}
TARGET_NATS = 105.0  # time-to-quality: test -ELBO below this many nats per digit


def load_data(train_size=None, test_size=None):
    """MNIST grey levels, float32 of shape (n, 784): the 60,000 training and 10,000 test digits.

    Every contender gets the same arrays, in memory; `train_size` and `test_size`
    keep a prefix (smoke mode).
    """
    from vaelib import data

    (x_train, _), (x_test, _) = data.load_mnist(binarization="none")
    return x_train[:train_size], x_test[:test_size]


def layer_shapes(recipe=RECIPE):
    """The (fan_in, fan_out) of the five weight matrices, in the order of `numpy_weights`."""
    d, h, j = recipe["input_dim"], recipe["hidden_units"], recipe["latent_dim"]
    return [(d, h), (h, j), (h, j), (j, h), (h, d)]


def training_flops_per_example(recipe=RECIPE):
    """Floating-point operations of one training step per example, counting the matmuls only.

    A dense layer with an (m, n) weight costs 2·m·n FLOPs per example forward,
    2·m·n for the gradient of its weight and 2·m·n for the gradient of its
    input, except the first layer, whose input (the data) needs no gradient.
    Elementwise work (activations, loss, Adam) is O(m + n) per layer and left out.
    """
    shapes = layer_shapes(recipe)
    forward = sum(2 * m * n for m, n in shapes)
    first_m, first_n = shapes[0]
    return 3 * forward - 2 * first_m * first_n


def softplus(x):
    return np.logaddexp(0.0, x)


def negative_elbo(weights, x, seed=0, batch_size=2000):
    """Test -ELBO in nats per digit, from a contender's weights, in NumPy (float64).

    One yardstick for every contender: the same noise ε (from `seed`), the same
    arithmetic. `weights` = [W1, b1, W_mu, b_mu, W_logvar, b_logvar, W3, b3, W4, b4],
    each W of shape (fan_in, fan_out); the decoder's last layer gives the logits.
    -ELBO = Σ_d [softplus(l_d) - x_d l_d] + KL(N(μ, σ²) ‖ N(0, I)), the summed BCE
    plus the summed KL of the recipe.
    """
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    w1, b1, wm, bm, wv, bv, w3, b3, w4, b4 = w
    eps = np.random.default_rng(seed).standard_normal((len(x), wm.shape[1]))
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = np.asarray(x[start:start + batch_size], dtype=np.float64)
        h = np.maximum(xb @ w1 + b1, 0.0)
        mu, log_var = h @ wm + bm, h @ wv + bv
        z = mu + np.exp(0.5 * log_var) * eps[start:start + batch_size]
        logits = np.maximum(z @ w3 + b3, 0.0) @ w4 + b4
        bce = np.sum(softplus(logits) - xb * logits, axis=1)
        kl = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=1)
        total += float(np.sum(bce + kl))
    return total / len(x)


class EpochClock:
    """Times each training epoch and, optionally, checks the test -ELBO between epochs.

    A contender calls `begin()` before an epoch and `end(get_weights)` after it.
    Only the time between the two counts; the evaluation (NumPy, on the test
    set) runs after `end` has stopped the clock. `end` returns True when
    training should stop: `epochs` are done and, if `target` is set, the test
    -ELBO has dropped below it (or `max_epochs` is reached).
    """

    def __init__(self, epochs, x_test=None, target=None, max_epochs=None):
        self.epochs, self.x_test, self.target = epochs, x_test, target
        self.max_epochs = max(epochs, max_epochs or epochs)
        self.seconds, self.test_nelbo = [], []
        self.reached_at = None  # (epoch, cumulative training seconds)
        self._start = None

    @property
    def planned_epochs(self):
        """An upper bound on the number of epochs to ask a training loop for."""
        return self.max_epochs if self.target is not None else self.epochs

    def begin(self):
        self._start = time.perf_counter()

    def end(self, get_weights):
        self.seconds.append(time.perf_counter() - self._start)
        done = len(self.seconds)
        if self.x_test is not None:
            self.test_nelbo.append(negative_elbo(get_weights(), self.x_test))
            if self.target is not None and self.reached_at is None \
                    and self.test_nelbo[-1] < self.target:
                self.reached_at = (done, float(np.sum(self.seconds)))
        if done >= self.max_epochs:
            return True
        if self.target is not None:
            return done >= self.epochs and self.reached_at is not None
        return done >= self.epochs
