"""Evaluator of the bin-packing problem, in OpenEvolve's layout: evaluate(program_path) -> dict,
with a cascade (stage 1: one small instance; stage 2: two large ones).

Under gaplab it draws its instances from the keyed stream (gaplab_harness.random), so a program
cannot learn them from the seed; run by anything else it uses a fixed generator. Every number is
computed here from the returned bin assignment, which is validated first: a bin over capacity or
an item without a bin scores 0.
"""
import importlib.util
import math

import numpy as np

CAPACITY = 100

try:
    import gaplab_harness as _gh

    def _rng(purpose):
        return _gh.random(purpose).generator()

    def _options():
        return _gh.params()

except ImportError:  # run outside gaplab

    def _rng(purpose):
        return np.random.default_rng(list(purpose.encode()))

    def _options():
        return {}


def _load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _instance(rng, n):
    return [int(s) for s in rng.integers(10, 71, size=n)]


def _score(program, sizes):
    """Lower bound / bins used, or 0 for an invalid packing."""
    bins = program.pack(sizes, CAPACITY, _options())
    if not isinstance(bins, list) or len(bins) != len(sizes):
        return 0.0, 0
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < len(sizes) for b in bins):
        return 0.0, 0
    loads = {}
    for b, s in zip(bins, sizes):
        loads[b] = loads.get(b, 0) + s
    if max(loads.values()) > CAPACITY:
        return 0.0, 0
    return math.ceil(sum(sizes) / CAPACITY) / len(loads), 1


def evaluate_stage1(program_path):
    score, valid = _score(_load(program_path), _instance(_rng("stage1"), 60))
    return {"combined_score": score, "stage1_score": score, "valid": valid}


def evaluate_stage2(program_path):
    program = _load(program_path)
    rng = _rng("stage2")
    results = [_score(program, _instance(rng, 500)) for _ in range(2)]
    return {
        "combined_score": float(np.mean([s for s, _ in results])),
        "valid": min(v for _, v in results),
    }


def evaluate(program_path):
    return {**evaluate_stage1(program_path), **evaluate_stage2(program_path)}
