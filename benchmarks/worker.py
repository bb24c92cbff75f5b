"""Runs one measurement in this process and writes its result as JSON: `python -m benchmarks.worker SPEC OUT`.

`benchmarks.run` starts one worker per contender, one after the other, so that
each has the machine to itself, imports only its own framework and has its own
Keras backend (fixed per process by `KERAS_BACKEND`, set by the parent).
SPEC is a JSON object: `{"task": "train" | "is_eval" | "hardware", ...}`.
"""

import importlib
import json
import os
import resource
import sys
import time


def _train(spec):
    from benchmarks.common import TARGET_NATS, EpochClock, load_data

    x_train, x_test = load_data(spec.get("train_size"), spec.get("test_size"))
    ttq = spec.get("time_to_quality", False)
    clock = EpochClock(
        epochs=spec["epochs"], x_test=x_test if ttq else None,
        target=TARGET_NATS if ttq else None, max_epochs=spec.get("max_epochs"))
    module = importlib.import_module(f"benchmarks.contenders.{spec['module']}")
    settings = module.train(x_train, clock, spec.get("options", {}))
    result = {"settings": settings, "epoch_seconds": clock.seconds,
              "train_examples": len(x_train)}
    if ttq:
        result["test_nelbo"] = clock.test_nelbo
        result["target_nats"] = TARGET_NATS
        result["reached_at_epoch"] = clock.reached_at[0] if clock.reached_at else None
        result["seconds_to_target"] = clock.reached_at[1] if clock.reached_at else None
    return result


def _is_eval(spec):
    from benchmarks.common import load_data
    from benchmarks.contenders import is_eval

    _, x_test = load_data(test_size=spec.get("test_size"))
    return is_eval.evaluate(x_test, spec.get("options", {}))


def _hardware(spec):
    from benchmarks import hardware

    return hardware.measure(smoke=spec.get("smoke", False))


TASKS = {"train": _train, "is_eval": _is_eval, "hardware": _hardware}


def main(argv):
    spec_json, out_path = argv
    spec = json.loads(spec_json)
    start = time.perf_counter()
    result = TASKS[spec["task"]](spec)
    result["process_seconds"] = time.perf_counter() - start
    # Peak resident memory of this process (kB on Linux), everything it imported included.
    result["peak_rss_mib"] = max(result.get("peak_rss_mib", 0.0),
                                 resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["keras_backend_env"] = os.environ.get("KERAS_BACKEND")
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
