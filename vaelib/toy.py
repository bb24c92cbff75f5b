"""A latent-variable model small enough to integrate on a grid (paper §2.1–2.2).

Chapters 1 and 2 need a model in which the quantities the paper calls
intractable can still be computed, so that every step of the variational
argument can be checked against the exact answer:

- the evidence p_θ(x) = ∫ p_θ(z) p_θ(x|z) dz (§2.1), by quadrature on a
  tensor grid over the latent space;
- the true posterior p_θ(z|x) = p_θ(x|z) p_θ(z) / p_θ(x) (§2.1), on the same
  grid;
- for a Gaussian approximate posterior q_φ(z|x), the two terms of the
  decomposition log p_θ(x) = D_KL(q_φ(z|x) ‖ p_θ(z|x)) + L(θ, φ; x) (paper
  Eq. 1), with the bound L in either of its forms (Eqs. 2 and 3).

The model is the paper's generative model in miniature: a standard normal
prior p_θ(z) = N(0, I_J), a fixed MLP decoder f_θ with one tanh hidden layer
(weights drawn once from a seeded generator), and a Gaussian likelihood
p_θ(x|z) = N(x; f_θ(z), σ² I_D). With `activation="linear"` the decoder is
affine and the model is linear-Gaussian, whose evidence and posterior have
closed forms (`ToyModel.exact_log_evidence`, `ToyModel.exact_posterior`): the
reference against which the quadrature is tested.

Everything is NumPy float64: this module is a measuring instrument for the
exact quantities, not a trainable Keras model. It works for any latent
dimension J, but the grid has n^J points, which is the point of Chapter 1.
"""

import math

import numpy as np

from vaelib._checks import check_model, check_option, check_positive_int, check_positive_number

_LOG_2PI = math.log(2.0 * math.pi)


def _as_float_array(name, value):
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Expected `{name}` to be an array of real numbers. "
            f"Received: an object of type {type(value).__name__} ({error})"
        ) from None
    if not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"Expected `{name}` to hold only finite values. Received: {bad} NaN or infinite value(s)"
        )
    return array


def _check_last_dim(name, array, size, what):
    if array.ndim == 0 or array.shape[-1] != size:
        raise ValueError(
            f"Expected `{name}` to have a last axis of size {size} ({what}). "
            f"Received: shape={array.shape}"
        )
    return array


def _logsumexp(values, axis=None):
    """log Σ exp(values), without overflow or underflow (the max is factored out)."""
    values = np.asarray(values, dtype="float64")
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.log(np.sum(np.exp(values - top), axis=axis, keepdims=True)) + top
    return np.squeeze(total, axis=axis) if axis is not None else float(total.reshape(()))


def gaussian_log_density(z, mean, log_var):
    """log N(z; μ, diag σ²), summed over the last axis, in float64.

    The density of a diagonal Gaussian q_φ(z|x) = N(μ, σ² I) (paper Eq. 9),
    and, with μ = 0 and log σ² = 0, of the prior p_θ(z) = N(0, I).

    Args:
        z: points, shape `(..., J)`.
        mean: μ, broadcastable with `z`.
        log_var: log σ², broadcastable with `z`.

    Returns:
        log density in nats, shape `(...)`.
    """
    z = _as_float_array("z", z)
    mean = _as_float_array("mean", mean)
    log_var = _as_float_array("log_var", log_var)
    return -0.5 * np.sum(_LOG_2PI + log_var + (z - mean) ** 2 * np.exp(-log_var), axis=-1)


def gaussian_kl(mean_q, log_var_q, mean_p=0.0, log_var_p=0.0):
    """Closed-form D_KL(q ‖ p) between two diagonal Gaussians, in nats.

    D_KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) = ½ Σ_j [log(σ_p²/σ_q²)
    + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1]. With p = N(0, I) it is the term
    D_KL(q_φ(z|x) ‖ p_θ(z)) of the bound's second form (paper Eq. 3), whose
    closed form is the paper's Appendix B.

    Args:
        mean_q, log_var_q: μ_q and log σ_q², shape `(..., J)`.
        mean_p, log_var_p: μ_p and log σ_p², broadcastable; default N(0, I).

    Returns:
        KL in nats, shape `(...)`, summed over the J dimensions.
    """
    mean_q, log_var_q, mean_p, log_var_p = (
        _as_float_array(name, value)
        for name, value in [("mean_q", mean_q), ("log_var_q", log_var_q),
                            ("mean_p", mean_p), ("log_var_p", log_var_p)]
    )
    mean_q, log_var_q, mean_p, log_var_p = np.broadcast_arrays(mean_q, log_var_q, mean_p, log_var_p)
    if mean_q.ndim == 0:
        raise ValueError(
            "Expected the means and log variances to have a last axis of J latent dimensions. "
            f"Received: shape={mean_q.shape}"
        )
    return 0.5 * np.sum(
        log_var_p - log_var_q + (np.exp(log_var_q) + (mean_q - mean_p) ** 2) * np.exp(-log_var_p) - 1.0,
        axis=-1,
    )


class ToyModel:
    """p_θ(z) = N(0, I_J), p_θ(x|z) = N(x; f_θ(z), σ² I_D) with a tiny fixed MLP f_θ.

    The generative model of paper §2.1 (z ~ p_θ(z), then x ~ p_θ(x|z)) with the
    decoder of Appendix C.2 in miniature: f_θ(z) = W₂ᵀ tanh(W₁ᵀ z + b₁) + b₂,
    one hidden layer of `hidden_units` units. The weights are drawn once from
    `numpy.random.default_rng(seed)` and never trained:

    - W₁ ~ N(0, `weight_scale`²), b₁ ~ N(0, 1): a hidden unit bends the map
      within about 1/`weight_scale` of z = 0, where the prior puts its mass;
    - W₂ ~ N(0, 1/H), b₂ = 0.

    With `activation="linear"` the hidden layer is the identity, f_θ is affine,
    f_θ(z) = A z + c, and p_θ(x) and p_θ(z|x) are Gaussian in closed form.

    Args:
        latent_dim: J, the dimension of z.
        data_dim: D, the dimension of x.
        hidden_units: H, units of the decoder's hidden layer.
        noise_std: σ, the standard deviation of p_θ(x|z).
        activation: `"tanh"` (the nonlinear model) or `"linear"`.
        weight_scale: standard deviation of W₁.
        seed: seed of the weights.
    """

    def __init__(self, latent_dim=1, data_dim=2, hidden_units=8, noise_std=0.1,
                 activation="tanh", weight_scale=2.0, seed=0):
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.hidden_units = check_positive_int("hidden_units", hidden_units)
        self.noise_std = check_positive_number("noise_std", noise_std)
        self.activation = check_option("activation", activation, ["tanh", "linear"])
        self.weight_scale = check_positive_number("weight_scale", weight_scale)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Expected `seed` to be a non-negative integer. Received: seed={seed!r}")
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        J, H, D = self.latent_dim, self.hidden_units, self.data_dim
        self.W1 = self.weight_scale * rng.normal(size=(J, H))  # (J, H)
        self.b1 = rng.normal(size=(H,))  # (H,)
        self.W2 = rng.normal(size=(H, D)) / math.sqrt(H)  # (H, D)
        self.b2 = np.zeros(D)  # (D,)

    def get_config(self):
        """The constructor arguments: `ToyModel(**config)` rebuilds the model (before any `set_weights`)."""
        return {"latent_dim": self.latent_dim, "data_dim": self.data_dim,
                "hidden_units": self.hidden_units, "noise_std": self.noise_std,
                "activation": self.activation, "weight_scale": self.weight_scale,
                "seed": self.seed}

    def get_weights(self):
        """The decoder's weights `[W1, b1, W2, b2]`, copies, shapes (J, H), (H,), (H, D), (D,)."""
        return [w.copy() for w in (self.W1, self.b1, self.W2, self.b2)]

    def set_weights(self, weights):
        """Replace the decoder's weights by `[W1, b1, W2, b2]` of the shapes of `get_weights`.

        For example, a linear model with H = D, W1 = A, b1 = c, W2 = I and b2 = 0
        has the decoder f_θ(z) = z A + c for any (J, D) matrix A.
        """
        if not isinstance(weights, (list, tuple)) or len(weights) != 4:
            raise ValueError(
                "Expected `weights` to be a list [W1, b1, W2, b2]. "
                f"Received: {type(weights).__name__} of length {len(weights) if hasattr(weights, '__len__') else '?'}"
            )
        new = []
        for name, value, old in zip(["W1", "b1", "W2", "b2"], weights, self.get_weights()):
            value = _as_float_array(name, value)
            if value.shape != old.shape:
                raise ValueError(f"Expected `{name}` of shape {old.shape}. Received: shape={value.shape}")
            new.append(value.copy())
        self.W1, self.b1, self.W2, self.b2 = new

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"ToyModel({args})"

    def _check_z(self, z):
        return _check_last_dim("z", _as_float_array("z", z), self.latent_dim, "the latent dimension J")

    def _check_x(self, x):
        return _check_last_dim("x", _as_float_array("x", x), self.data_dim, "the data dimension D")

    def decode(self, z):
        """The decoder mean f_θ(z): shape `(..., J)` to `(..., D)`."""
        z = self._check_z(z)
        hidden = z @ self.W1 + self.b1  # (..., H)
        if self.activation == "tanh":
            hidden = np.tanh(hidden)
        return hidden @ self.W2 + self.b2  # (..., D)

    def log_prior(self, z):
        """log p_θ(z) = log N(z; 0, I_J), shape `(..., J)` to `(...)`."""
        z = self._check_z(z)
        return -0.5 * np.sum(_LOG_2PI + z**2, axis=-1)

    def log_likelihood(self, x, z):
        """log p_θ(x|z) = log N(x; f_θ(z), σ² I_D), in nats.

        Args:
            x: data, shape `(D,)` or `(..., D)`, broadcastable with the
                decoder output for `z`.
            z: latent points, shape `(..., J)`.

        Returns:
            shape: the broadcast of `x.shape[:-1]` and `z.shape[:-1]`.
        """
        x = self._check_x(x)
        mean = self.decode(z)  # (..., D)
        return -0.5 * np.sum(
            _LOG_2PI + 2.0 * math.log(self.noise_std) + ((x - mean) / self.noise_std) ** 2, axis=-1
        )

    def log_joint(self, x, z):
        """log p_θ(x, z) = log p_θ(z) + log p_θ(x|z), the integrand of the evidence (§2.1)."""
        return self.log_prior(z) + self.log_likelihood(x, z)

    def sample(self, n, seed=0):
        """Draw n pairs by ancestral sampling: z ~ p_θ(z), then x ~ p_θ(x|z) (§2.1).

        Returns:
            `(z, x)` of shapes `(n, J)` and `(n, D)`.
        """
        n = check_positive_int("n", n)
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.latent_dim))  # (n, J)
        x = self.decode(z) + self.noise_std * rng.normal(size=(n, self.data_dim))  # (n, D)
        return z, x

    # The linear-Gaussian case, in closed form.

    def affine_map(self):
        """(A, c) with f_θ(z) = z A + c, shapes `(J, D)` and `(D,)`; linear models only."""
        if self.activation != "linear":
            raise ValueError(
                "Expected a model with activation='linear' (only then is f_θ affine). "
                f"Received: activation={self.activation!r}"
            )
        return self.W1 @ self.W2, self.b1 @ self.W2 + self.b2

    def exact_log_evidence(self, x):
        """log p_θ(x) in closed form for the linear model: x ~ N(c, AᵀA + σ² I_D).

        Args:
            x: shape `(D,)` or `(n, D)`.

        Returns:
            float, or shape `(n,)`.
        """
        A, c = self.affine_map()
        x = self._check_x(x)
        cov = A.T @ A + self.noise_std**2 * np.eye(self.data_dim)  # (D, D)
        chol = np.linalg.cholesky(cov)
        diff = np.atleast_2d(x - c)  # (n, D)
        white = np.linalg.solve(chol, diff.T)  # (D, n)
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        values = -0.5 * (self.data_dim * _LOG_2PI + log_det + np.sum(white**2, axis=0))
        return float(values[0]) if x.ndim == 1 else values

    def exact_posterior(self, x):
        """Mean and covariance of p_θ(z|x) for the linear model (Bayes' rule in closed form).

        Precision Λ = I + A Aᵀ/σ², mean = Λ⁻¹ A (x − c)/σ².

        Args:
            x: one data point, shape `(D,)`.

        Returns:
            `(mean, cov)`, shapes `(J,)` and `(J, J)`.
        """
        A, c = self.affine_map()
        x = self._check_x(x)
        if x.ndim != 1:
            raise ValueError(f"Expected one data point `x` of shape ({self.data_dim},). Received: shape={x.shape}")
        precision = np.eye(self.latent_dim) + A @ A.T / self.noise_std**2  # (J, J)
        cov = np.linalg.inv(precision)
        mean = cov @ (A @ (x - c)) / self.noise_std**2  # (J,)
        return mean, cov


def linear_model(singular_values, noise_std=1.0, seed=0):
    """A linear-Gaussian `ToyModel` with D = J and a decoder of chosen singular values.

    f_θ(z) = z A with A = Q₁ diag(s) Q₂ for two random rotations Q₁, Q₂ (drawn
    from `seed`), so that the posterior p_θ(z|x), a Gaussian of precision
    I + A Aᵀ/σ², has the widths σ/√(s_j² + σ²) along directions that are not
    aligned with the axes of a grid. Fixing `s` fixes how hard the posterior
    is to resolve, whatever J: the model of Chapter 1's scaling experiment.

    Args:
        singular_values: s, shape `(J,)`, positive.
        noise_std: σ of p_θ(x|z).
        seed: seed of the rotations.

    Returns:
        a `ToyModel` with `activation="linear"`, J = D = H = len(s).
    """
    s = _as_float_array("singular_values", singular_values)
    if s.ndim != 1 or len(s) == 0 or np.any(s <= 0):
        raise ValueError(
            "Expected `singular_values` to be a non-empty 1-D array of positive numbers. "
            f"Received: {singular_values!r}"
        )
    J = len(s)
    model = ToyModel(latent_dim=J, data_dim=J, hidden_units=J, noise_std=noise_std,
                     activation="linear", seed=seed)
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.normal(size=(J, J)))  # (J, J), orthogonal
    q2, _ = np.linalg.qr(rng.normal(size=(J, J)))  # (J, J), orthogonal
    model.set_weights([q1 @ np.diag(s) @ q2, np.zeros(J), np.eye(J), np.zeros(J)])
    return model


class GridPosterior:
    """The evidence and the posterior of one data point, by quadrature on a grid.

    Made by `quadrature`. The grid is the tensor product of `axis` with itself
    J times: n^J points z_k, each the centre of a cell of volume h^J.

    Attributes:
        log_evidence: the estimate of log p_θ(x) (float).
        axis: the n points of one axis, shape `(n,)`.
        cell_volume: h^J, the volume of one cell.
        log_joint: log p_θ(x, z_k), shape `(n,) * J` (axis j indexes z_j).
        log_posterior: log p_θ(z_k|x), the log posterior *density*, same shape.
    """

    def __init__(self, axis, cell_volume, log_joint, log_evidence):
        self.axis = axis
        self.cell_volume = cell_volume
        self.log_joint = log_joint
        self.log_evidence = log_evidence
        self.log_posterior = log_joint - log_evidence

    @property
    def latent_dim(self):
        """J, the number of grid axes."""
        return self.log_joint.ndim

    @property
    def num_points(self):
        """n^J, the number of grid points."""
        return self.log_joint.size

    def points(self):
        """The grid points z_k, shape `(n^J, J)`, in the order of `log_joint.ravel()`."""
        mesh = np.meshgrid(*([self.axis] * self.latent_dim), indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    def posterior_weights(self):
        """p_θ(z_k|x) h^J: the posterior mass of each cell; they sum to 1."""
        return np.exp(self.log_posterior) * self.cell_volume

    def expectation(self, values):
        """E_{p_θ(z|x)}[g(z)] ≈ Σ_k p_θ(z_k|x) h^J g(z_k), for g(z_k) of shape `(n,) * J (+ extra)`."""
        values = np.asarray(values, dtype="float64")
        weights = self.posterior_weights()
        if values.shape[: weights.ndim] != weights.shape:
            raise ValueError(
                f"Expected values on the grid, of shape {weights.shape} + (...). "
                f"Received: shape={values.shape}"
            )
        return np.tensordot(weights, values, axes=weights.ndim)

    def kl_from(self, mean, log_var):
        """D_KL(q ‖ p_θ(z|x)) for q = N(μ, diag σ²), by quadrature on this grid.

        The first term of paper Eq. 1: ∫ q(z) [log q(z) − log p_θ(z|x)] dz
        ≈ Σ_k q(z_k) h^J [log q(z_k) − log p_θ(z_k|x)]. Accurate when the grid
        covers and resolves q as well as the posterior.

        Args:
            mean: μ, shape `(J,)`.
            log_var: log σ², shape `(J,)`.

        Returns:
            float, in nats.
        """
        log_q = self._log_q(mean, log_var)
        return float(np.sum(np.exp(log_q) * self.cell_volume * (log_q - self.log_posterior)))

    def elbo(self, mean, log_var):
        """L(θ, φ; x) = E_q[−log q(z) + log p_θ(x, z)] (paper Eq. 2), on this grid."""
        log_q = self._log_q(mean, log_var)
        return float(np.sum(np.exp(log_q) * self.cell_volume * (self.log_joint - log_q)))

    def _log_q(self, mean, log_var):
        mean = _check_last_dim("mean", _as_float_array("mean", mean), self.latent_dim, "J")
        log_var = _check_last_dim("log_var", _as_float_array("log_var", log_var), self.latent_dim, "J")
        if mean.ndim != 1 or log_var.ndim != 1:
            raise ValueError(
                f"Expected `mean` and `log_var` of shape ({self.latent_dim},). "
                f"Received: shapes {mean.shape} and {log_var.shape}"
            )
        return gaussian_log_density(self.points(), mean, log_var).reshape(self.log_joint.shape)


def grid_axis(points_per_dim, limit=6.0):
    """The midpoints of n equal cells covering [−limit, limit]: shape `(n,)`, and their width h."""
    n = check_positive_int("points_per_dim", points_per_dim)
    limit = check_positive_number("limit", limit)
    h = 2.0 * limit / n
    return -limit + h * (np.arange(n) + 0.5), h


def _grid(model, x, ndim, points_per_dim, limit, limit_name, max_points):
    """Check a ToyModel, its data (one point, ndim 1, or a batch, ndim 2) and the grid's size.

    Returns:
        `(x, axis, h)`: the data as float64, and `grid_axis(points_per_dim, limit)`.
    """
    x = check_model("model", model, ToyModel)._check_x(x)
    if x.ndim != ndim:
        expected = f"one data point `x` of shape ({model.data_dim},)" if ndim == 1 else \
            f"a batch `x` of shape (n, {model.data_dim})"
        raise ValueError(f"Expected {expected}. Received: shape={x.shape}")
    axis, h = grid_axis(points_per_dim, limit)
    n, J = len(axis), model.latent_dim
    if n**J > check_positive_int(limit_name, max_points):
        raise ValueError(
            f"Expected at most {limit_name}={max_points} grid points. "
            f"Received: points_per_dim={n} in J={J} dimensions, n^J = {n**J}"
        )
    return x, axis, h


def quadrature(model, x, points_per_dim, limit=6.0, max_points=20_000_000, chunk_size=1 << 18):
    """log p_θ(x) and the posterior p_θ(z|x) by the midpoint rule on a tensor grid.

    The evidence of paper §2.1, p_θ(x) = ∫ p_θ(z) p_θ(x|z) dz, is approximated
    by Σ_k p_θ(x, z_k) h^J over the n^J midpoints z_k of a grid of cells of
    width h = 2·limit/n covering [−limit, limit]^J. The sum is taken in the log
    domain (log-sum-exp), because p_θ(x, z) underflows to 0 in float64 as soon
    as log p_θ(x|z) < −745, and the posterior on the grid is then
    p_θ(z_k|x) = p_θ(x, z_k)/p_θ(x) (Bayes' rule).

    The prior N(0, I) puts a mass of 2·10⁻⁹ outside [−6, 6] on each axis, so
    the default `limit` truncates nothing measurable for data the model can
    generate; the error comes from h, which must be small compared with the
    width of the posterior. The cost
    is n^J evaluations of the decoder: the curse of dimensionality of Chapter 1.

    Args:
        model: a `ToyModel`.
        x: one data point, shape `(D,)`.
        points_per_dim: n, grid points per latent axis.
        limit: the grid covers [−limit, limit] on each axis.
        max_points: refuse grids of more than this many points (memory).
        chunk_size: grid points evaluated per pass.

    Returns:
        a `GridPosterior`.
    """
    x, axis, h = _grid(model, x, 1, points_per_dim, limit, "max_points", max_points)
    n, J = len(axis), model.latent_dim
    chunk_size = check_positive_int("chunk_size", chunk_size)
    log_joint = np.empty(n**J)
    for start in range(0, n**J, chunk_size):
        index = np.arange(start, min(start + chunk_size, n**J))
        digits = np.stack(np.unravel_index(index, (n,) * J), axis=-1)  # (chunk, J)
        log_joint[index] = model.log_joint(x, axis[digits])
    log_joint = log_joint.reshape((n,) * J)
    log_evidence = _logsumexp(log_joint) + J * math.log(h)
    return GridPosterior(axis, h**J, log_joint, log_evidence)


def log_evidence(model, x, points_per_dim, limit=6.0, max_evaluations=1 << 22):
    """log p_θ(x) for a batch of data points, by the midpoint rule of `quadrature`.

    The same grid and the same sum as `quadrature`, evaluated for many x at
    once (for a map of p_θ(x) over the data space) and without keeping the
    posterior. At most `max_evaluations` values of log p_θ(x, z) are held in
    memory at a time.

    Args:
        model: a `ToyModel`.
        x: data, shape `(n_x, D)`.
        points_per_dim: n, grid points per latent axis.
        limit: the grid covers [−limit, limit] on each axis.
        max_evaluations: the largest block of (x, z) pairs evaluated at once.

    Returns:
        NumPy float64 array of shape `(n_x,)`.
    """
    x, axis, h = _grid(model, x, 2, points_per_dim, limit, "max_evaluations", max_evaluations)
    J = model.latent_dim
    mesh = np.meshgrid(*([axis] * J), indexing="ij")
    z = np.stack([m.ravel() for m in mesh], axis=-1)  # (n^J, J)
    log_prior = model.log_prior(z)  # (n^J,)
    mean = model.decode(z)  # (n^J, D)
    rows = max(1, max_evaluations // len(z))
    values = np.empty(len(x))
    for start in range(0, len(x), rows):
        xb = x[start:start + rows, None, :]  # (rows, 1, D)
        log_lik = -0.5 * np.sum(
            _LOG_2PI + 2.0 * math.log(model.noise_std) + ((xb - mean) / model.noise_std) ** 2, axis=-1
        )  # (rows, n^J)
        values[start:start + rows] = _logsumexp(log_prior + log_lik, axis=1) + J * math.log(h)
    return values


def gaussian_expectation(function, mean, log_var, points_per_dim=2000, limit=8.0,
                         max_points=4_000_000):
    """E_{N(μ, diag σ²)}[g(z)] by the midpoint rule in q's own coordinates.

    Writes z = μ + σ ⊙ t with t ~ N(0, I) and integrates over t on the grid
    of `grid_axis(points_per_dim, limit)` in J dimensions:
    E[g(z)] ≈ Σ_k N(t_k; 0, I) h^J g(μ + σ ⊙ t_k) / Σ_k N(t_k; 0, I) h^J.
    Its points follow q, not the prior, so it shares no grid with
    `quadrature` and gives an independent computation of the same integrals.
    N(0, 1) has a mass of 1.2·10⁻¹⁵ beyond ±8 standard deviations.

    Args:
        function: g, maps points of shape `(m, J)` to values of shape `(m,)`.
        mean: μ, shape `(J,)`.
        log_var: log σ², shape `(J,)`.
        points_per_dim: n, points per axis (n^J in all).
        limit: the grid covers ±`limit` standard deviations.
        max_points: refuse grids of more than this many points.

    Returns:
        float.
    """
    mean = _as_float_array("mean", mean)
    log_var = _as_float_array("log_var", log_var)
    if mean.ndim != 1 or mean.shape != log_var.shape:
        raise ValueError(
            "Expected `mean` and `log_var` of the same shape (J,). "
            f"Received: shapes {mean.shape} and {log_var.shape}"
        )
    axis, _ = grid_axis(points_per_dim, limit)
    J = len(mean)
    if len(axis) ** J > check_positive_int("max_points", max_points):
        raise ValueError(
            f"Expected at most max_points={max_points} points. "
            f"Received: points_per_dim={len(axis)} in J={J} dimensions, n^J = {len(axis) ** J}"
        )
    mesh = np.meshgrid(*([axis] * J), indexing="ij")
    t = np.stack([m.ravel() for m in mesh], axis=-1)  # (n^J, J)
    log_w = -0.5 * np.sum(t**2, axis=-1)  # log N(t; 0, I) up to a constant
    w = np.exp(log_w - log_w.max())
    values = np.asarray(function(mean + np.exp(0.5 * log_var) * t), dtype="float64")  # (n^J,)
    if values.shape != w.shape:
        raise ValueError(
            f"Expected `function` to return one value per point, shape ({len(w)},). "
            f"Received: shape={values.shape}"
        )
    return float(np.sum(w * values) / np.sum(w))


def elbo_closed_form_kl(model, x, mean, log_var, points_per_dim=2000):
    """L(θ, φ; x) = −D_KL(q ‖ p_θ(z)) + E_q[log p_θ(x|z)] (paper Eq. 3).

    The bound's second form for q = N(μ, diag σ²): the KL from the prior in
    closed form (Appendix B, `gaussian_kl`), the expected log-likelihood by
    `gaussian_expectation`, on points placed in q's own coordinates. It shares
    no grid with `quadrature`, so it is an independent check of Eqs. 1–3.

    Args:
        model: a `ToyModel`.
        x: one data point, shape `(D,)`.
        mean: μ, shape `(J,)`.
        log_var: log σ², shape `(J,)`.
        points_per_dim: points per axis of `gaussian_expectation`.

    Returns:
        float, in nats.
    """
    x = check_model("model", model, ToyModel)._check_x(x)
    mean = _check_last_dim("mean", _as_float_array("mean", mean), model.latent_dim, "J")
    log_var = _check_last_dim("log_var", _as_float_array("log_var", log_var), model.latent_dim, "J")
    expected_log_likelihood = gaussian_expectation(
        lambda z: model.log_likelihood(x, z), mean, log_var, points_per_dim
    )
    return float(expected_log_likelihood - gaussian_kl(mean, log_var))
