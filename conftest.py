"""Test-session settings shared by the unit tests and the notebooks run by nbval.

They are set here, before anything imports Keras, and the notebook kernels that
nbval starts inherit them:

- TensorFlow's C++ start-up messages carry timestamps and would break nbval's
  comparison of outputs (`TF_CPP_MIN_LOG_LEVEL=2`);
- oneDNN's reordered float arithmetic would change the last digits from one
  x86 CPU to another (`TF_ENABLE_ONEDNN_OPTS=0`);
- the datasets are read from the verified copies in `../shared/data` when no
  `VAELIB_DATA_DIR` is set and that folder exists (DESIGN.md §5).
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

_SHARED_DATA = pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"
if "VAELIB_DATA_DIR" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["VAELIB_DATA_DIR"] = str(_SHARED_DATA)
