"""Argument and data checks shared by the modules of vaelib.

Every check raises a `ValueError` (or `TypeError` for a wrong type) whose
message says what was expected and what was received, so that bad input is
refused before it reaches a backend kernel or turns into a silent NaN.
"""

import numpy as np


def check_positive_int(name, value):
    """Return `value` if it is a positive integer, else raise `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Expected `{name}` to be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_finite_number(name, value):
    """Return `value` as a float if it is a finite real number, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"Expected `{name}` to be a real number. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if not np.isfinite(value):
        raise ValueError(f"Expected `{name}` to be a finite number. Received: {name}={value!r}")
    return float(value)


def check_broadcastable(**tensors):
    """Raise `ValueError` unless the named tensors' shapes broadcast together.

    Checks the static shapes only (a dimension unknown while tracing, `None`,
    is accepted), so it costs nothing and also runs inside `fit`'s compiled
    step. A mismatch is refused here instead of deep inside a backend kernel.

    Args:
        **tensors: name=tensor pairs, e.g. `x=x, logits=logits`.
    """
    shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
    for axis in range(1, max(len(shape) for shape in shapes.values()) + 1):
        sizes = {s[-axis] for s in shapes.values() if len(s) >= axis and s[-axis] not in (None, 1)}
        if len(sizes) > 1:
            names = " and ".join(f"`{name}`" for name in shapes)
            received = ", ".join(
                f"{name}.shape=({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"
                for name, shape in shapes.items()
            )
            raise ValueError(
                f"Expected {names} to have broadcastable shapes (on each axis, counted "
                f"from the last, equal sizes or 1). Received: {received}"
            )


def check_option(name, value, options):
    """Return `value` if it is one of `options`, else raise `ValueError`."""
    if value not in options:
        raise ValueError(
            f"Expected `{name}` to be one of {list(options)}. Received: {name}={value!r}"
        )
    return value


def check_data(x, name="x", feature_shape=None, unit_interval=False):
    """Check an in-memory data array and return it as float32 NumPy.

    Args:
        x: array-like of shape `(n, *feature_shape)`.
        name: the argument's name, used in error messages.
        feature_shape: expected shape of one example, e.g. `(784,)`; `None`
            accepts any.
        unit_interval: if True, every value must lie in [0, 1] (the data of
            a Bernoulli decoder: pixel intensities or bits).

    Returns:
        `np.ndarray` of dtype float32.
    """
    try:
        array = np.asarray(x)
    except Exception as error:  # ragged lists and other non-arrays
        raise TypeError(
            f"Expected `{name}` to be an array of numbers. "
            f"Received: an object of type {type(x).__name__} ({error})"
        ) from None
    if array.dtype == bool:
        array = array.astype("float32")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(
            f"Expected `{name}` to hold real numbers (a float or integer dtype). "
            f"Received: dtype={array.dtype}"
        )
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(
            f"Expected `{name}` to be a non-empty batch of shape (n, ...) with n >= 1. "
            f"Received: shape={array.shape}"
        )
    if feature_shape is not None and tuple(array.shape[1:]) != tuple(feature_shape):
        raise ValueError(
            f"Expected `{name}` to have shape (n, {', '.join(map(str, feature_shape))}). "
            f"Received: shape={array.shape}"
        )
    array = array.astype("float32", copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"Expected `{name}` to hold only finite values. "
            f"Received: {bad} NaN or infinite value(s)"
        )
    if unit_interval and array.size:  # (n, 0) holds no value to range-check
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Expected `{name}` to lie in [0, 1] for a Bernoulli decoder "
                f"(scale 0-255 images by 1/255). Received: values in [{low:g}, {high:g}]"
            )
    return array
