"""Trusted driver, run inside the sandbox: loads the inputs the harness allows, calls the
candidate's train() and sends its predictions back on fd 3 as little-endian float64.

It never sees a label: the harness keeps the ground truth outside the sandbox and computes
every metric itself from these predictions. Anything the candidate prints is only a log line.
A candidate that replaced functions of modules loaded before it fails with their names
(gaplab_guard, experiments/tamper_guard.py).
"""
import json
import os
import sys

import numpy as np

import gaplab_guard  # the tripwire (experiments/tamper_guard.py), trusted, beside this file

INPUT = "/input"


def main() -> None:
    features = np.load(os.path.join(INPUT, "features.npy"))
    weak_labels = np.load(os.path.join(INPUT, "weak_labels.npy"))
    unlabelled = np.load(os.path.join(INPUT, "unlabelled_features.npy"))
    with open(os.path.join(INPUT, "call.json")) as f:
        call = json.load(f)
    loaded = gaplab_guard.snapshot()
    sys.path.insert(0, os.path.join(INPUT, "candidate"))
    import method  # noqa: E402  (the candidate's module)

    rng = np.random.default_rng(call["rng_seed"])
    out = method.train(features, weak_labels, unlabelled, dict(call["params"]), rng)
    pred = np.asarray(out, dtype="<f8").reshape(-1)
    gaplab_guard.check(loaded)
    with os.fdopen(3, "wb") as channel:
        channel.write(pred.tobytes())


if __name__ == "__main__":
    main()
