"""Optuna as the peer of gaplab's overhead and slot-efficiency benchmarks.

N trials of an objective that returns x at once (or after `--sleep` seconds), through Optuna's
ask/tell loop with SQLite storage, run by `--concurrency` threads (what study.optimize(n_jobs=...)
does), each trial recorded in MLflow when `--mlflow-uri` is given.

optuna.integration.MLflowCallback lives in the optuna-integration package, which the project venv
does not have; the recording below makes the same MLflow calls per trial as that callback (start
a run named after the trial number, log the value as a metric, the params, the trial's tags, end
the run), serialised by one lock as the callback's own lock does.

Prints one JSON object on stdout: wall time, per-trial timestamps (seconds from the start) and
the slot (thread) of each trial.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import warnings

import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--mlflow-uri", default="")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--dir", default="")
    args = ap.parse_args()
    # MLflow prints run links on stdout; stdout carries only the result.
    out = sys.stdout
    sys.stdout = sys.stderr

    workdir = args.dir or tempfile.mkdtemp(prefix="gaplab-bench-optuna-")
    os.makedirs(workdir, exist_ok=True)
    storage_path = os.path.join(workdir, f"{args.name}.db")
    if os.path.exists(storage_path):
        os.remove(storage_path)
    storage = optuna.storages.RDBStorage(f"sqlite:///{storage_path}")
    study = optuna.create_study(
        study_name=args.name, storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )

    client = None
    experiment_id = None
    mlflow_lock = threading.Lock()
    if args.mlflow_uri:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=args.mlflow_uri)
        experiment_id = client.create_experiment(args.name)

    def record(trial: optuna.trial.FrozenTrial) -> None:
        # MLflowCallback: start_run(run_name=str(number)), log_metric(value), log_params(params),
        # set_tags(number, datetime_start, datetime_complete, direction, distributions, state), end_run.
        now = int(time.time() * 1000)
        with mlflow_lock:
            run = client.create_run(experiment_id, run_name=str(trial.number))
            rid = run.info.run_id
            client.log_batch(rid, metrics=[Metric("value", float(trial.value), now, 0)])
            client.log_batch(rid, params=[Param(k, str(v)) for k, v in trial.params.items()])
            tags = {
                "number": str(trial.number),
                "datetime_start": str(trial.datetime_start),
                "datetime_complete": str(trial.datetime_complete),
                "direction": "MAXIMIZE",
                "state": str(trial.state),
                **{f"{k}_distribution": str(d) for k, d in trial.distributions.items()},
            }
            client.log_batch(rid, tags=[RunTag(k, v) for k, v in tags.items()])
            client.set_terminated(rid)

    lock = threading.Lock()
    issued = 0
    records: list[dict] = []
    errors: list[str] = []
    t_start = time.perf_counter()

    def worker(slot: int) -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= args.trials:
                    return
                issued += 1
            t0 = time.perf_counter()
            try:
                trial = study.ask()
                x = trial.suggest_float("x", 0.0, 1.0)
                t1 = time.perf_counter()
                if args.sleep > 0:
                    time.sleep(args.sleep)
                t2 = time.perf_counter()
                frozen = study.tell(trial, x)
                if client is not None:
                    record(frozen)
                t3 = time.perf_counter()
            except Exception as e:  # noqa: BLE001 - counted and reported, the loop goes on
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                records.append(
                    {"slot": slot, "start": t0 - t_start, "objStart": t1 - t_start, "objEnd": t2 - t_start, "end": t3 - t_start}
                )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    completed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    out.write(
        json.dumps(
            {
                "wallSeconds": wall,
                "trials": len(records),
                "completedInStorage": completed,
                "errors": errors[:20],
                "errorCount": len(errors),
                "records": records,
                "optuna": optuna.__version__,
            }
        )
        + "\n"
    )
    out.flush()


if __name__ == "__main__":
    main()
