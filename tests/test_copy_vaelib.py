"""'Copy the folder vaelib/ into your project' works: vaelib alone, in an empty folder, trains a VAE."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import vaelib

REPOSITORY = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, os, sys

    import numpy as np
    import keras

    import vaelib
    from vaelib import models

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = (rng.random((256, 16)) < 0.3).astype("float32")  # random binary data
    encoder = models.build_encoder(input_dim=16, hidden_units=32, latent_dim=2)
    decoder = models.build_decoder(latent_dim=2, hidden_units=32, output_dim=16)
    model = models.VAE(encoder, decoder, seed=0)
    model.compile(optimizer="adam")
    history = model.fit(x, epochs=1, batch_size=32, verbose=0).history
    model.save("model.keras")
    restored = keras.models.load_model("model.keras")  # safe mode
    same = bool(np.array_equal(restored.reconstruct(x), model.reconstruct(x)))
    modules = {name: getattr(module, "__file__", None) or "" for name, module in sys.modules.items()}
    print(json.dumps({
        "vaelib_file": os.path.realpath(vaelib.__file__),
        "loss": history["loss"][0],
        "same_after_reload": same,
        "backend": keras.backend.backend(),
        "module_files": sorted(set(os.path.realpath(f) for f in modules.values() if f)),
    }))
""")


def test_a_copy_of_vaelib_alone_trains_saves_and_loads_a_vae(tmp_path):
    project = tmp_path / "my_project"  # an empty folder: a reader's new project
    project.mkdir()
    shutil.copytree(REPOSITORY / "vaelib", project / "vaelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / "train.py").write_text(SCRIPT)
    # The copy's folder is the only entry of PYTHONPATH (searched before site-packages, so before
    # the repository's editable install); -s leaves out the user's site-packages, and no other
    # PYTHON* variable of this process is passed on.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONPATH"] = str(project)
    env["KERAS_BACKEND"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run([sys.executable, "-s", "train.py"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vaelib_file"] == os.path.realpath(project / "vaelib" / "__init__.py")
    assert result["backend"] == env["KERAS_BACKEND"]
    assert 0.0 < result["loss"] < float("inf")
    assert result["same_after_reload"]
    # Nothing was imported from the repository: not its vaelib, not its tests, not anything else.
    repository = os.path.realpath(REPOSITORY) + os.sep
    from_repository = [f for f in result["module_files"]
                       if f.startswith(repository) and not f.startswith(repository + ".venv" + os.sep)]
    assert from_repository == []
    assert os.path.realpath(vaelib.__file__).startswith(repository)  # while this process uses it
    # The copy was a copy: the folder holds vaelib, the script and what the script wrote.
    assert sorted(p.name for p in project.iterdir()) == ["model.keras", "train.py", "vaelib"]
