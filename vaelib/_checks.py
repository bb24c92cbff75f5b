"""Argument and data checks shared by the modules of vaelib.

Each check is one named function that returns the checked value, so that a
module calls it in one line (`self.latent_dim, ... = check_networks(...)`) and
keeps its code about the mathematics. Every check raises a `ValueError` (or a
`TypeError` for a wrong type, `FileNotFoundError` for a missing file) whose
message says what was expected and what was received, so that bad input is
refused before it reaches a backend kernel or turns into a silent NaN.
"""

import inspect
import os

import keras
import numpy as np

# -- numbers and options --------------------------------------------------------


def check_positive_int(name, value, optional=False):
    """Return `value` if it is a positive integer (or None if `optional`), else raise."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Expected `{name}` to be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_finite_number(name, value, optional=False):
    """Return `value` as a float if it is a finite real number (or None if `optional`)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"Expected `{name}` to be a real number. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if not np.isfinite(value):
        raise ValueError(f"Expected `{name}` to be a finite number. Received: {name}={value!r}")
    return float(value)


def check_non_negative(name, value):
    """Return `value` as a float if it is a finite number ≥ 0 (a weight such as β)."""
    if check_finite_number(name, value) < 0.0:
        raise ValueError(f"Expected `{name}` to be a non-negative number. Received: {name}={value!r}")
    return float(value)


def check_positive_number(name, value):
    """Return `value` as a float if it is a finite number > 0 (a width, a scale)."""
    if check_finite_number(name, value) <= 0.0:
        raise ValueError(f"Expected `{name}` to be a positive number. Received: {name}={value!r}")
    return float(value)


def check_option(name, value, options):
    """Return `value` if it is one of `options`, else raise `ValueError`."""
    if value not in options:
        raise ValueError(
            f"Expected `{name}` to be one of {list(options)}. Received: {name}={value!r}"
        )
    return value


def check_unused(name, value, when):
    """Refuse an argument that would be ignored: `value` must be None `when` so."""
    if value is not None:
        raise ValueError(f"Expected no `{name}` {when}: it would be ignored. "
                         f"Received: {name}={value!r}")


def check_sizes(name, sizes):
    """Return a positive integer or a non-empty sequence of them as a tuple of ints."""
    values = (sizes,) if np.isscalar(sizes) else tuple(sizes)
    if not values:
        raise ValueError(
            f"Expected `{name}` to be a positive integer or a non-empty sequence of them. "
            f"Received: {name}={sizes!r}"
        )
    return tuple(check_positive_int(name, size) for size in values)


def check_image_shape(image_shape, num_halvings):
    """Return (H, W, C) as a tuple of ints, H and W divisible by 2**num_halvings."""
    try:
        shape = tuple(check_positive_int("image_shape", size) for size in image_shape)
    except (TypeError, ValueError):
        shape = ()
    factor = 2**num_halvings
    if len(shape) != 3 or shape[0] % factor or shape[1] % factor:
        raise ValueError(
            "Expected `image_shape` to be (height, width, channels), positive integers with "
            f"height and width divisible by 2**len(filters) = {factor}. "
            f"Received: image_shape={image_shape!r}"
        )
    return shape


# -- tensors and data -----------------------------------------------------------

UNIT_INTERVAL = (0.0, 1.0, " (grey levels or bits)")  # a `value_range` of `check_data`


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


def check_data(x, name="x", feature_shape=None, value_range=None):
    """Check an in-memory data array and return it as float32 NumPy.

    Args:
        x: array-like of shape `(n, *feature_shape)`.
        name: the argument's name, used in error messages.
        feature_shape: expected shape of one example, e.g. `(784,)`; `None`
            accepts any.
        value_range: `(low, high, why)`: every value must lie in [low, high]
            (`why` says why, in the error message); `None` for any value.

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
    if value_range is not None and array.size:  # (n, 0) holds no value to range-check
        (low, high, why), least, most = value_range, float(array.min()), float(array.max())
        if least < low or most > high:
            raise ValueError(
                f"Expected `{name}` to lie in [{low:g}, {high:g}]{why} (scale 0-255 "
                f"images by 1/255). Received: values in [{least:g}, {most:g}]"
            )
    return array


def check_labels(labels, num_classes, n=None, name="labels"):
    """Return labels as float32 one-hot rows `(n, K)`, from class ids or one-hot rows."""
    try:
        array = np.asarray(labels)
    except Exception:
        array = np.asarray(None)
    k = num_classes
    if array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() >= k):
            raise ValueError(
                f"Expected `{name}` to be class ids in [0, {k}). "
                f"Received: values in [{array.min()}, {array.max()}]"
            )
        array = np.eye(k, dtype="float32")[array]
    elif array.ndim == 2 and array.shape[1] == k and (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        array = array.astype("float32")
        if not (np.all((array == 0) | (array == 1)) and np.all(array.sum(axis=1) == 1)):
            raise ValueError(
                f"Expected `{name}` to be one-hot rows (a single 1, otherwise 0). "
                "Received: rows that are not"
            )
    else:
        raise ValueError(
            f"Expected `{name}` to be integer class ids of shape (n,) or one-hot rows "
            f"of shape (n, {k}). Received: dtype={array.dtype}, shape={array.shape}"
        )
    if n is not None and len(array) != n:
        raise ValueError(
            f"Expected one label per example, {n} in all. Received: {len(array)} labels"
        )
    return array


# -- networks and models --------------------------------------------------------

LIKELIHOODS = ("bernoulli", "gaussian")
VARIANCES = ("learned", "fixed")
# Activations whose values cannot leave an interval, and that interval.
_BOUNDED_ACTIVATIONS = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0),
                        "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
                        "relu": (0.0, np.inf), "softplus": (0.0, np.inf),
                        "exponential": (0.0, np.inf), "elu": (-1.0, np.inf)}


def check_decoder_options(likelihood, variance, mean_activation, min_log_var):
    """Validate the output options of a decoder builder (MLP or convolutional)."""
    check_option("likelihood", likelihood, LIKELIHOODS)
    check_option("variance", variance, VARIANCES)
    if likelihood == "bernoulli" and (
        mean_activation is not None or variance != "learned" or min_log_var is not None
    ):
        raise ValueError(
            "Expected `mean_activation`, `variance` and `min_log_var` only with "
            "likelihood='gaussian' (a Bernoulli decoder outputs raw logits). Received: "
            f"mean_activation={mean_activation!r}, variance={variance!r}, "
            f"min_log_var={min_log_var!r} with likelihood='bernoulli'"
        )
    _only_with("min_log_var", min_log_var, "variance", variance, "learned",
               "a fixed variance is set by the VAE's `decoder_log_var`")
    return check_finite_number("min_log_var", min_log_var, optional=True)


def check_decoder_log_var(decoder_log_var, likelihood):
    """Return the fixed log σ² of a Gaussian decoder as a float (a NaN would make every loss NaN)."""
    _only_with("decoder_log_var", decoder_log_var, "likelihood", likelihood, "gaussian",
               "it is the fixed log-variance of a Gaussian decoder")
    return check_finite_number("decoder_log_var", decoder_log_var, optional=True)


def _only_with(name, value, option, chosen, required, why):
    """Refuse `name` unless `option` is `required` (the only setting it has a meaning with)."""
    if value is not None and chosen != required:
        raise ValueError(
            f"Expected `{name}` only with {option}={required!r} ({why}). "
            f"Received: {name}={value!r} with {option}={chosen!r}"
        )


def check_networks(encoder, decoder, likelihood, decoder_log_var):
    """Check that encoder and decoder fit together and match the likelihood.

    Returns:
        `(latent_dim, input_shape)`: J, and the shape of one example.
    """
    for name, network in (("encoder", encoder), ("decoder", decoder)):
        if not (isinstance(network, keras.Model) and getattr(network, "inputs", None)
                and getattr(network, "outputs", None)):
            raise TypeError(
                f"Expected `{name}` to be a functional keras.Model with known inputs "
                f"and outputs (see build_{name}). Received: {type(network).__name__}"
            )
    outputs = encoder.outputs
    if len(outputs) != 2 or outputs[0].shape != outputs[1].shape:
        raise ValueError(
            "Expected the encoder to output [z_mean, z_log_var] of one shape. "
            f"Received: outputs of shapes {[t.shape for t in outputs]}"
        )
    latent_dim = int(outputs[0].shape[-1])
    decoder_input = tuple(decoder.inputs[0].shape[1:])
    if decoder_input != (latent_dim,):
        raise ValueError(
            f"Expected the decoder to take z of shape (batch, {latent_dim}), the "
            f"encoder's latent size. Received: a decoder input of shape (batch, "
            f"{', '.join(map(str, decoder_input))})"
        )
    input_shape = tuple(encoder.inputs[0].shape[1:])
    expected = 1 if likelihood == "bernoulli" or decoder_log_var is not None else 2
    if len(decoder.outputs) != expected:
        raise ValueError(
            f"Expected a {likelihood} decoder"
            + (" with a fixed `decoder_log_var`" if decoder_log_var is not None else "")
            + f" to have {expected} output(s). Received: {len(decoder.outputs)} outputs"
        )
    for output in decoder.outputs:
        if tuple(output.shape[1:]) != input_shape:
            raise ValueError(
                f"Expected the decoder's outputs to have the data's shape (batch, "
                f"{', '.join(map(str, input_shape))}). Received: {tuple(output.shape)}"
            )
    return latent_dim, input_shape


def check_label_inputs(encoder, decoder):
    """Check that a conditional encoder and decoder take [data, one-hot label]; return K."""
    sizes = {}
    for name, network in (("encoder", encoder), ("decoder", decoder)):
        inputs = network.inputs
        if len(inputs) != 2 or len(inputs[1].shape) != 2:
            raise ValueError(
                f"Expected the {name} to take two inputs, the data and a one-hot label "
                f"(batch, K) (see build_conditional_{name}). Received: inputs of shapes "
                f"{[tuple(t.shape) for t in inputs]}"
            )
        sizes[name] = inputs[1].shape[1]
    if sizes["encoder"] != sizes["decoder"]:
        raise ValueError(
            "Expected encoder and decoder to take labels of one size K. Received: "
            f"K={sizes['encoder']} (encoder) and K={sizes['decoder']} (decoder)"
        )
    return int(sizes["encoder"])


def data_range(decoder, likelihood):
    """The interval the data must lie in for this decoder to be able to fit it.

    A Bernoulli decoder models values in [0, 1]. A Gaussian decoder whose mean
    goes through a bounded activation (the `x_mean` head of vaelib's decoder
    builders with `mean_activation="sigmoid"`, say, in the decoder or in a
    model nested in it) can never predict a value outside that activation's
    range: on 0-255 pixels it would train on a loss of millions of nats.
    Returns `(low, high, why)`, or None when any finite value will do (or
    when the mean head is not one of vaelib's, whose activation it cannot see).
    """
    if likelihood == "bernoulli":
        return 0.0, 1.0, " for a Bernoulli decoder"
    for layer in _all_layers(decoder):
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        if layer.name in ("x_mean", "x_mean_image") and activation in _BOUNDED_ACTIVATIONS:
            low, high = _BOUNDED_ACTIVATIONS[activation]
            return low, high, f", the range of the decoder's mean (a {activation})"
    return None


def _all_layers(model):
    """The layers of a model and of the models nested in it."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def check_model(name, model, model_class, hint=""):
    """Return `model` if it is an instance of `model_class`, else raise `TypeError`."""
    if not isinstance(model, model_class):
        package = model_class.__module__.split(".")[0]
        expected = f"keras.{model_class.__name__}" if package == "keras" else \
            f"vaelib {model_class.__name__}"
        raise TypeError(f"Expected `{name}` to be a {expected}{hint}. "
                        f"Received: {type(model).__name__}")
    return model


def check_model_kwargs(model_class, kwargs):
    """Return `kwargs` if they are keras.Model's own (name, trainable, dtype), else raise."""
    unknown = sorted(set(kwargs) - {"name", "trainable", "dtype"})
    if unknown:
        own = []  # the class's arguments, and its parent's where it hands them on (**kwargs)
        for cls in model_class.__mro__:
            if "__init__" in cls.__dict__ and cls.__module__.startswith("vaelib"):
                names = [p for p in inspect.signature(cls.__init__).parameters
                         if p not in ("self", "kwargs")]
                own += [name for name in names if name not in own]
                if len(names) > 2:  # more than (encoder, decoder): it names them all
                    break
        raise TypeError(
            f"Expected the arguments of {model_class.__name__} ({', '.join(own)}) or of "
            f"keras.Model (name, trainable, dtype). Received: unknown keyword argument(s) {unknown}"
        )
    return kwargs


def check_no_sample_weight(sample_weight):
    """Refuse a `sample_weight`: every example of the ELBO counts once."""
    if sample_weight is not None:
        raise ValueError(
            "Expected no `sample_weight`: every example of the ELBO counts once. "
            "Received: a sample_weight"
        )


def check_fit_arguments(method, x, y, kwargs):
    """Refuse the arguments of `fit`/`evaluate`/`predict` that a VAE would silently ignore.

    A VAE learns from x alone, so a target `y`, a `class_weight` or a
    `sample_weight` have nothing to act on; and a dataset, generator or
    `keras.utils.PyDataset` makes its own batches, so Keras ignores
    `batch_size` (and `validation_batch_size` for streamed `validation_data`).
    """
    check_no_sample_weight(kwargs.get("sample_weight"))
    if kwargs.get("_use_cached_eval_dataset"):  # fit's own validation pass: checked by fit
        return
    if y is not None:
        raise ValueError(
            f"Expected no `y` in {method}(): a VAE learns from x alone (its loss "
            f"reconstructs x). Received: y of type {type(y).__name__}"
        )
    if kwargs.get("class_weight") is not None:
        raise ValueError(f"Expected no `class_weight` in {method}(): a VAE has no classes. "
                         "Received: a class_weight")
    validation = kwargs.get("validation_data")
    if isinstance(validation, tuple) and len(validation) == 1:
        validation = validation[0]
    for name, data in (("batch_size", x), ("validation_batch_size", validation)):
        if kwargs.get(name) is not None and _is_stream(data):
            raise ValueError(
                f"Expected no `{name}` with a {type(data).__name__}: it makes its own "
                f"batches, so {name} would be ignored. Received: {name}={kwargs[name]!r}"
            )


def _is_stream(data):
    """True for a dataset, generator or PyDataset: data that makes its own batches."""
    return data is not None and not isinstance(data, (list, tuple)) and not hasattr(data, "__array__")


def check_legacy_config(config):
    """A configuration saved by vaelib 0.1, whose VAE took `regularizer` and `mmd_weight`."""
    if "regularizer" not in config:
        return config
    regularizer = config.pop("regularizer")
    if regularizer != "kl" or config.pop("mmd_weight", 1.0) != 1.0:
        raise ValueError(f"Expected a VAE with regularizer='kl' from vaelib 0.1 (load an "
                         f"'mmd' or 'none' one as mmd.MMDVAE or autoencoder.Autoencoder). "
                         f"Received: regularizer={regularizer!r}")
    return config


# -- files ------------------------------------------------------------------------


def check_keras_path(path):
    """Return `path` as a string if it names a `.keras` file (not a folder)."""
    try:
        path = os.fspath(path)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path.endswith(".keras"):
        raise ValueError(
            f"Expected a path ending in .keras (Keras' native format). Received: path={path!r}"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"Expected a .keras file at {path}. Received: a directory")
    return path


def check_folder(path, what):
    """Return `path` if it is an existing folder; say what it is otherwise."""
    if not os.path.isdir(path):
        found = "a file" if os.path.exists(path) else "no such folder"
        raise NotADirectoryError(f"Expected {what} to name a folder. Received: {path} ({found})")
    return path


def check_file(path, what):
    """Return `path` if it is an existing file; say whether it is missing or a folder."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"Expected {what} at {path}. Received: a directory")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected {what} at {path}. Received: no such file")
    return path


class CheckedFit:
    """`fit`, `evaluate` and `predict` that check their data first: a mixin of `VAE`.

    In-memory arrays go through the model's `check_inputs` before Keras sees
    them; datasets and generators are streamed as they are. Arguments that
    Keras would silently ignore are refused (`check_fit_arguments`).
    """

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit`, after refusing what it would ignore and checking arrays."""
        check_fit_arguments("fit", x, y, kwargs)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked_validation(kwargs["validation_data"])
        return super().fit(self._checked(x, "x"), **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate`, after the checks of `fit`."""
        check_fit_arguments("evaluate", x, y, kwargs)
        return super().evaluate(self._checked(x, "x"), **kwargs)

    def predict(self, x, **kwargs):
        """`keras.Model.predict` of the checked `x`: `call`'s dict of NumPy arrays."""
        check_fit_arguments("predict", x, None, kwargs)
        return super().predict(self._checked(x, "x"), **kwargs)

    def train_on_batch(self, x, y=None, **kwargs):
        """`keras.Model.train_on_batch`, after the checks of `fit`."""
        check_fit_arguments("train_on_batch", x, y, kwargs)
        return super().train_on_batch(self._checked(x, "x"), **kwargs)

    def test_on_batch(self, x, y=None, **kwargs):
        """`keras.Model.test_on_batch`, after the checks of `fit`."""
        check_fit_arguments("test_on_batch", x, y, kwargs)
        return super().test_on_batch(self._checked(x, "x"), **kwargs)

    def _checked(self, x, name):
        # In-memory data is checked up front; datasets and generators are streamed.
        return x if x is None or _is_stream(x) else self.check_inputs(x, name)

    def _checked_validation(self, data):
        if isinstance(data, tuple) and len(data) != 1:
            raise ValueError("Expected `validation_data` as (x_val,): a VAE has no targets. "
                             f"Received: a tuple of {len(data)} items")
        data = self._checked(data[0] if isinstance(data, tuple) else data, "validation_data")
        return (data,) if isinstance(data, (list, np.ndarray)) else data
