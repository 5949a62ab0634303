"""Optuna used directly, the peer of gaplab's search-quality benchmark.

For each seed: a study with the same sampler gaplab's Optuna strategy builds
(python/optuna_service.py make_sampler: TPE multivariate, grouped when the space is conditional),
told the baseline configuration's value first (a gaplab campaign measures the baseline before it
searches, and its strategy sees that trial), then `study.optimize` for `--budget` trials, one at a
time. Parameters are suggested define-by-run in space order by the same Space class gaplab uses.
Objective values come from the TypeScript experiments themselves (bench/peers/evaluate.ts), on the
same seed a campaign with that seed uses for every trial.

Input (stdin): {"problems": [{"name", "experiment", "metric", "direction", "space", "baseline"}],
"seeds": [...], "budget": N, "sampler": "tpe"}. Output (stdout): {"runs": [{"problem", "seed",
"baselineValue", "values": [...], "seconds"}]}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

import optuna  # noqa: E402
from optuna_service import Space, make_sampler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")


class Evaluator:
    def __init__(self) -> None:
        node = os.environ.get("GAPLAB_NODE", "node")
        self.proc = subprocess.Popen(
            [node, "--import", "tsx", os.path.join(HERE, "evaluate.ts")],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __call__(self, experiment: str, params: dict, seed: int) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"experiment": experiment, "params": params, "seed": seed}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["metrics"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main() -> None:
    req = json.load(sys.stdin)
    evaluate = Evaluator()
    runs = []
    try:
        for problem in req["problems"]:
            space = Space(problem["space"])
            for seed in req["seeds"]:
                t0 = time.perf_counter()
                metric = problem["metric"]
                baseline_value = evaluate(problem["experiment"], problem["baseline"], seed)[metric]
                study = optuna.create_study(
                    direction=problem["direction"], sampler=make_sampler(req.get("sampler", "tpe"), seed % (2**32), space)
                )
                params, dists = space.active_params(problem["baseline"])
                study.add_trial(
                    optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=baseline_value, params=params, distributions=dists)
                )
                values: list[float] = []

                def objective(trial: optuna.Trial) -> float:
                    config = space.suggest(trial)
                    v = float(evaluate(problem["experiment"], config, seed)[metric])
                    values.append(v)
                    return v

                study.optimize(objective, n_trials=req["budget"])
                runs.append(
                    {
                        "problem": problem["name"],
                        "seed": seed,
                        "baselineValue": baseline_value,
                        "values": values,
                        "seconds": time.perf_counter() - t0,
                    }
                )
    finally:
        evaluate.close()
    json.dump({"runs": runs, "optuna": optuna.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
