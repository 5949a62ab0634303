"""Trusted harness of __NAME__: runs on the worker, outside the sandbox, once per seed.

It draws the data from the keyed stream (never from the seed), keeps the test labels, calls the
candidate's predict() in the sandbox and reports the accuracy it computes itself.
"""
import numpy as np

import gaplab_harness as gh

N_TRAIN, N_TEST, DIM, NOISE = 400, 2000, 10, 0.3

rng = gh.random("data").generator()
w = rng.normal(size=DIM)
w /= np.linalg.norm(w)
x = rng.normal(size=(N_TRAIN + N_TEST, DIM))
y = (x @ w + NOISE * rng.normal(size=len(x)) > 0).astype(np.int64)

pred = gh.run_candidate(
    "method.predict", args=(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], gh.params())
)
pred = np.asarray(pred).reshape(-1)
if pred.shape != (N_TEST,):
    gh.fail_candidate(f"predict() returned {pred.shape[0]} labels, expected {N_TEST}")
gh.report(accuracy=float((pred == y[N_TRAIN:]).mean()), candidate_seconds=gh.last_call_seconds())
