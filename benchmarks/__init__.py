"""How fast vaelib trains, measured against the usual ways of writing the same VAE.

`python -m benchmarks.run` measures, in one run on one machine, the training
throughput of vaelib's `VAE.fit()` on the TensorFlow, JAX and PyTorch backends
and of baselines written the way the PyTorch and Keras examples write a VAE,
all on the same network and data (see `benchmarks/README.md`).
"""
