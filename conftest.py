"""Test-session settings shared by the unit tests and the notebooks run by nbval.

They are set here, before anything imports Keras, and the notebook kernels that
nbval starts inherit them:

- TensorFlow's C++ start-up messages carry timestamps and would break nbval's
  comparison of outputs (`TF_CPP_MIN_LOG_LEVEL=2`);
- oneDNN's reordered float arithmetic would change the last digits from one
  x86 CPU to another (`TF_ENABLE_ONEDNN_OPTS=0`).

The datasets come from the folder named by `VAELIB_DATA_DIR` (CI sets it), or
else from Keras' download (see CONTRIBUTING.md, "Data").
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
