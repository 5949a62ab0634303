"""Runs an OpenEvolve-layout evaluator as a gaplab harness:

    harness: ['{python}', '-m', 'gaplab_harness.openevolve', '{dir}/evaluator.py',
              '--program', 'initial_program.py', '--cascade', '0.5,0.8']

The evaluator (``evaluate(program_path) -> dict``, optional ``evaluate_stage1/2/3``) runs here,
outside the sandbox, unchanged. The ``program_path`` it gets is a proxy module: importing it runs
nothing of the candidate's, and every function called on it runs the candidate's function of that
name in a fresh sandbox (run_candidate), its arguments and its return value sent as data (JSON
values and numpy arrays, never pickles). So the evaluator never shares a process with candidate
code: the candidate cannot patch what the evaluator imports, read its source or its secrets, or
hand it a pickle.

Cascade: with ``evaluate_stage1`` defined, stage 1 runs first; when its score (``combined_score``,
else the mean of its numeric metrics, as OpenEvolve) is below the stage's threshold, the seed ends
there, pruned (``gh.prune``: the trial's outcome is "pruned at stage i"), with that stage's
metrics and ``cascade_stage`` / ``pruned`` set; otherwise stage 2
(then 3) runs and its metrics are merged in. Without stage functions, ``evaluate`` runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile

import gaplab_harness as gh

PROXY = '''"""gaplab proxy of the candidate program: every call runs in the sandbox."""
import gaplab_harness as _gh


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def call(*args, **kwargs):
        return _gh.run_candidate(MODULE + "." + name, args=args, kwargs=kwargs)

    call.__name__ = name
    return call
'''


def score(metrics: dict) -> float:
    """OpenEvolve's threshold score: combined_score, else the mean of the numeric metrics."""
    if isinstance(metrics.get("combined_score"), (int, float)):
        return float(metrics["combined_score"])
    values = [float(v) for v in metrics.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(values) / len(values) if values else 0.0


def numeric(metrics: dict) -> dict:
    """The metrics gaplab can record: finite numbers (booleans as 0/1)."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, (bool, int, float)) and math.isfinite(float(v)):
            out[str(k)] = float(v)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gaplab_harness.openevolve")
    p.add_argument("evaluator")
    p.add_argument("--program", default="initial_program.py")
    p.add_argument("--cascade", default="", help="thresholds of stages 1 and 2, e.g. 0.5,0.8")
    a = p.parse_args(argv)
    thresholds = [float(t) for t in a.cascade.split(",") if t.strip()]

    module_name = os.path.splitext(os.path.basename(a.program))[0]
    folder = tempfile.mkdtemp(prefix="gaplab-proxy-")
    program_path = os.path.join(folder, os.path.basename(a.program))
    with open(program_path, "w") as f:
        f.write(f"MODULE = {module_name!r}\n" + PROXY)

    spec = importlib.util.spec_from_file_location("evaluator", a.evaluator)
    evaluator = importlib.util.module_from_spec(spec)
    sys.modules["evaluator"] = evaluator
    spec.loader.exec_module(evaluator)

    stages = [getattr(evaluator, f"evaluate_stage{i}", None) for i in (1, 2, 3)]
    if stages[0] is None:
        gh.report(numeric(evaluator.evaluate(program_path)))
        return
    merged: dict = {}
    for i, stage in enumerate(stages):
        if stage is None:
            break
        merged.update(stage(program_path))
        if i < len(thresholds) and score(merged) < thresholds[i]:
            gh.report({**numeric(merged), "cascade_stage": i + 1, "pruned": 1})
            gh.prune(i + 1, score(merged))
            return
        last = i + 1
    gh.report({**numeric(merged), "cascade_stage": last, "pruned": 0})


if __name__ == "__main__":
    main()
