"""The contenders, one small module each; every one trains the recipe of `benchmarks.common`.

Each module has `train(x_train, clock, options)`: it builds its model, trains it
on the in-memory array `x_train` (float32, shape (n, 784)) for as many epochs as
`clock` asks, calling `clock.begin()` before and `clock.end(get_weights)` after
every epoch, and returns a dict of the settings it used. `get_weights()` returns
the ten arrays of `benchmarks.common.negative_elbo`.
"""
