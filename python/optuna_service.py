"""gaplab's Optuna strategy: a long-lived process answering suggestion requests.

Protocol: one JSON object per line on stdin, one JSON object per line on stdout (nothing else is
ever written to stdout; logs go to stderr).

Request  {"id": 7, "op": "suggest", "space": [...], "direction": "maximize",
          "history": [{"params": {...}, "value": 0.8 | null, "state": "complete|fail|pruned",
                       "feasible": true}],
          "sampler": "tpe|gp|cmaes|random", "seed": 42, "n": 4, "key": "campaign-id",
          "failures": "avoid|ignore"}
Reply    {"id": 7, "ok": true, "configs": [{...}, ...], "stats": {...}}
      or {"id": 7, "ok": false, "kind": "bad_request|missing_dependency|internal", "error": "..."}

{"id": 1, "op": "ping"} answers {"id": 1, "ok": true, "optuna": "<version>"}.

Request  {"id": 8, "op": "importance", "space": [...], "direction": "maximize",
          "history": [...as above...], "evaluator": "fanova|ped-anova", "seed": 0}
Reply    {"id": 8, "ok": true, "importances": {"lr": 0.9, "epochs": 0.1}, "trials": 30,
          "evaluator": "fanova"}
Parameter importance by Optuna's own evaluators over the complete trials of the history (failed
ones say nothing about the objective); the server asks it for its parameter-importance view.

Each request rebuilds an in-memory study from the full history, so the answer depends only on
the request (same seed + same history -> same suggestions), whatever this process saw before.
The study is cached per `key` (a campaign's history only grows), so a call costs one pass over
the new entries plus the sampler's own work; see StudyCache.

Failed trials are information ("failures": "avoid", the default). Every Optuna sampler skips FAIL
trials, so a failure told as FAIL teaches nothing and the sampler proposes into a crashing or
hanging region again and again. Instead, per sampler:
- TPE and GP support constrained optimisation (Optuna 5 reads the constraints stored on each
  trial; `constraints_func` is deprecated): a failure becomes a COMPLETE trial that violates a
  "failed" constraint. TPE puts infeasible trials in its "bad" group, so its density of bad
  configurations covers the failing region and l(x)/g(x) steers away; GP models the probability
  of feasibility and multiplies it into the acquisition. Its value is the worst value seen (GP fits
  its objective model on every COMPLETE trial; TPE does not use the value of infeasible trials).
- CMA-ES and random have no constraint support: a failure becomes a COMPLETE trial with the worst
  value seen, so CMA-ES ranks it last and moves its mean away (random ignores history anyway).
  Until one trial has succeeded there is no worst value; failures stay FAIL until then.
  Caveat: Optuna 5's CmaEsSampler learns only from trials tagged with its own generation
  (system attr "cma:generation"), which trials rebuilt from a campaign's records are not; so
  here CMA-ES learns from neither successes nor failures until the service keeps its optimizer
  state across calls.
"failures": "ignore" keeps the old behaviour (FAIL) for comparison.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import traceback
import warnings
from collections import OrderedDict
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="optuna")

# Samplers that read trial.constraints (Optuna 5 stores them on the trial itself).
CONSTRAINT_AWARE = {"tpe", "gp"}
MAX_CACHED_KEYS = 32


class BadRequest(Exception):
    """Thrown when a request is malformed; the caller gets a bad_request reply naming the field."""


class MissingDependency(Exception):
    """Thrown when a sampler needs a Python package the venv does not have."""


# ------------------------------------------------------------------------------------------------
# Search space
# ------------------------------------------------------------------------------------------------


def distribution_of(p: dict[str, Any]) -> BaseDistribution:
    kind = p.get("kind")
    name = p.get("name")
    if kind == "float":
        return FloatDistribution(float(p["low"]), float(p["high"]), log=bool(p.get("log", False)))
    if kind == "int":
        return IntDistribution(int(p["low"]), int(p["high"]), log=bool(p.get("log", False)))
    if kind == "categorical":
        return CategoricalDistribution(list(p["choices"]))
    if kind == "boolean":
        return CategoricalDistribution([False, True])
    raise BadRequest(f"space.{name}.kind: unknown parameter kind {kind!r}")


def same_value(a: Any, b: Any) -> bool:
    # JSON true must not match 1 (Python treats True == 1).
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def is_active(p: dict[str, Any], config: dict[str, Any]) -> bool:
    cond = p.get("condition")
    if not cond:
        return True
    parent = cond["parent"]
    if parent not in config:
        return False
    return any(same_value(config[parent], v) for v in cond["values"])


class Space:
    def __init__(self, params: Any) -> None:
        if not isinstance(params, list) or not params:
            raise BadRequest("space: must be a non-empty list of parameters")
        self.params: list[dict[str, Any]] = params
        self.dists: dict[str, BaseDistribution] = {}
        for i, p in enumerate(params):
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise BadRequest(f"space.{i}.name: missing")
            try:
                self.dists[p["name"]] = distribution_of(p)
            except BadRequest:
                raise
            except Exception as e:  # noqa: BLE001 - report any bad bound as the field's fault
                raise BadRequest(f"space.{p['name']}: {e}") from e
        self.conditional = any(p.get("condition") for p in params)
        self.fingerprint = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()

    def active_params(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        """The subset of `values` that is active and inside the space, with its distributions."""
        params: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        for p in self.params:
            name = p["name"]
            if name not in values or not is_active(p, params):
                continue
            dist = self.dists[name]
            value = values[name]
            if isinstance(dist, CategoricalDistribution):
                match = next((c for c in dist.choices if same_value(c, value)), _MISSING)
                if match is _MISSING:
                    continue
                value = match
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            elif isinstance(dist, IntDistribution):
                if value != int(value):
                    continue
                value = int(value)
                if not dist.low <= value <= dist.high:
                    continue
            else:
                value = float(value)
                if not (math.isfinite(value) and dist.low <= value <= dist.high):
                    continue
            params[name] = value
            dists[name] = dist
        return params, dists

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Samples one configuration define-by-run, in space order, skipping inactive children."""
        config: dict[str, Any] = {}
        for p in self.params:
            if not is_active(p, config):
                continue
            name = p["name"]
            kind = p["kind"]
            if kind == "float":
                config[name] = trial.suggest_float(name, float(p["low"]), float(p["high"]), log=bool(p.get("log", False)))
            elif kind == "int":
                config[name] = trial.suggest_int(name, int(p["low"]), int(p["high"]), log=bool(p.get("log", False)))
            elif kind == "boolean":
                config[name] = trial.suggest_categorical(name, [False, True])
            else:
                config[name] = trial.suggest_categorical(name, list(p["choices"]))
        return config


_MISSING = object()


# ------------------------------------------------------------------------------------------------
# History -> FrozenTrials, cached per campaign
# ------------------------------------------------------------------------------------------------


def entry_digest(entry: Any) -> str:
    return hashlib.sha1(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def worst_value(history: list[Any], direction: str) -> float | None:
    """The worst finite objective value of the complete entries, or None when there is none."""
    values = [
        float(e["value"])
        for e in history
        if isinstance(e, dict)
        and e.get("state", "complete") == "complete"
        and isinstance(e.get("value"), (int, float))
        and not isinstance(e.get("value"), bool)
        and math.isfinite(e["value"])
    ]
    if not values:
        return None
    return min(values) if direction == "maximize" else max(values)


class FailurePolicy:
    """How failed entries become trials (see the module comment)."""

    def __init__(self, mode: str, sampler: str, worst: float | None) -> None:
        self.mode = mode
        # "infeasible": COMPLETE + violated "failed" constraint; "worst": COMPLETE with the worst
        # value; "fail": FAIL (ignored by every sampler).
        if mode == "ignore":
            self.as_ = "fail"
        elif sampler in CONSTRAINT_AWARE:
            self.as_ = "infeasible"
        else:
            self.as_ = "worst" if worst is not None else "fail"
        # TPE ranks infeasible trials by their violation only, never by value: a constant keeps
        # its cached study from being rebuilt whenever the worst value moves. GP fits the value.
        self.value = 0.0 if sampler == "tpe" or worst is None else worst

    @property
    def tag(self) -> str:
        # The cached study is rebuilt when the way failures are told changes (e.g. a new worst).
        return f"{self.as_}:{self.value!r}" if self.as_ != "fail" else "fail"


def to_frozen(
    space: Space, entry: Any, index: int, with_constraints: bool, failure: FailurePolicy | None = None
) -> FrozenTrial | None:
    if not isinstance(entry, dict):
        raise BadRequest(f"history.{index}: must be an object")
    raw_params = entry.get("params")
    if not isinstance(raw_params, dict):
        raise BadRequest(f"history.{index}.params: must be an object")
    params, dists = space.active_params(raw_params)
    state_name = entry.get("state", "complete")
    value = entry.get("value")
    constraints = None
    failure_as = failure.as_ if failure else "fail"
    learn = failure_as == "infeasible"
    if with_constraints:
        # <= 0 is feasible for Optuna; one violation unit is enough, TPE only ranks infeasible
        # trials among themselves by the sum. Every trial carries the same keys (GP stacks them).
        constraints = {"feasible": 0.0 if entry.get("feasible", True) else 1.0}
        if learn:
            constraints["failed"] = 0.0
    if state_name == "complete" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=float(value), params=params, distributions=dists, constraints=constraints
        )
    if state_name == "pruned":
        return optuna.trial.create_trial(state=TrialState.PRUNED, params=params, distributions=dists)
    if state_name in ("complete", "fail"):
        # A "complete" entry without a finite value is a failure as far as a sampler can tell.
        told = failure.value if failure else 0.0
        if failure_as == "infeasible":
            # A failure violates "failed" only: its constraint results are unknown.
            return optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=told,
                params=params,
                distributions=dists,
                constraints={"feasible": 0.0, "failed": 1.0},
            )
        if failure_as == "worst":
            return optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=told,
                params=params,
                distributions=dists,
                constraints=constraints,
            )
        return optuna.trial.create_trial(state=TrialState.FAIL, params=params, distributions=dists)
    raise BadRequest(f"history.{index}.state: expected complete, fail or pruned, got {state_name!r}")


def is_failure(entry: dict[str, Any]) -> bool:
    """Whether an entry is a failed trial (state fail, or complete without a finite value)."""
    state = entry.get("state", "complete")
    if state == "fail":
        return True
    value = entry.get("value")
    return state == "complete" and not (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    )


class CachedStudy:
    def __init__(self, tag: str, direction: str) -> None:
        self.tag = tag
        self.digests: list[str] = []
        self.ids: set[str] = set()
        self.study = optuna.create_study(direction=direction)


class StudyCache:
    """One in-memory study per campaign key, extended while the new history extends the old one.

    Rebuilding a study from 10k trials costs about a second (mostly Optuna's copies of each trial);
    extending it costs only the new trials. The trials a call asks for are closed as FAIL
    afterwards: every sampler ignores FAIL trials, so a cached study suggests exactly what a fresh
    one would (checked by the tests), and nothing leaks from one call into the next.
    """

    def __init__(self) -> None:
        self.entries: OrderedDict[str, CachedStudy] = OrderedDict()

    def study_for(
        self,
        key: str | None,
        space: Space,
        direction: str,
        history: list[Any],
        with_constraints: bool,
        failure: FailurePolicy | None = None,
    ) -> tuple[optuna.Study, int]:
        digests = [entry_digest(e) for e in history]
        tag = f"{space.fingerprint}:{direction}:{with_constraints}:{failure.tag if failure else 'fail'}"
        cached = self.entries.get(key) if key else None
        ids = [e.get("id") if isinstance(e, dict) else None for e in history]
        if key and ids and all(isinstance(i, str) for i in ids):
            # Entries with ids: the history may be a window of a longer campaign. The cached
            # study keeps every trial it was ever told and adds the ones it has not seen.
            if cached is None or cached.tag != tag or not cached.ids and cached.digests:
                cached = CachedStudy(tag, direction)
            fresh = [i for i, trial_id in enumerate(ids) if trial_id not in cached.ids]
            reused = len(history) - len(fresh)
            new = [to_frozen(space, history[i], i, with_constraints, failure) for i in fresh]
            cached.study.add_trials([t for t in new if t is not None])
            cached.ids.update(ids[i] for i in fresh)
            cached.digests = digests
            self.entries[key] = cached
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_CACHED_KEYS:
                self.entries.popitem(last=False)
            return cached.study, reused
        if (
            cached is None
            or cached.tag != tag
            or len(cached.digests) > len(digests)
            or cached.digests != digests[: len(cached.digests)]
        ):
            cached = CachedStudy(tag, direction)
        reused = len(cached.digests)
        new = [to_frozen(space, history[i], i, with_constraints, failure) for i in range(reused, len(history))]
        cached.study.add_trials([t for t in new if t is not None])
        cached.digests = digests
        if key:
            self.entries[key] = cached
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_CACHED_KEYS:
                self.entries.popitem(last=False)
        return cached.study, reused


# ------------------------------------------------------------------------------------------------
# Samplers
# ------------------------------------------------------------------------------------------------


def make_sampler(name: str, seed: int, space: Space) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # Multivariate TPE models interactions; `group` keeps it working when conditional
        # parameters make the search space differ between trials.
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=space.conditional,
            warn_independent_sampling=False,
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise MissingDependency(
                'sampler "gp" needs the Python package "torch" in the gaplab venv: add it to python/requirements.txt '
                "and run `npx gaplab setup`"
            ) from e
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError as e:
            raise MissingDependency(
                'sampler "cmaes" needs the Python package "cmaes" in the gaplab venv: add it to python/requirements.txt '
                "and run `npx gaplab setup`"
            ) from e
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise BadRequest(f"sampler: expected tpe, gp, cmaes or random, got {name!r}")


# ------------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------------

CACHE = StudyCache()


def suggest(req: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    space = Space(req.get("space"))
    direction = req.get("direction")
    if direction not in ("maximize", "minimize"):
        raise BadRequest("direction: expected maximize or minimize")
    history = req.get("history", [])
    if not isinstance(history, list):
        raise BadRequest("history: must be a list")
    n = req.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 1000:
        raise BadRequest("n: must be an integer between 1 and 1000")
    seed = req.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadRequest("seed: must be an integer")
    sampler_name = req.get("sampler", "tpe")
    key = req.get("key")
    if key is not None and not isinstance(key, str):
        raise BadRequest("key: must be a string")

    failures = req.get("failures", "avoid")
    if failures not in ("avoid", "ignore"):
        raise BadRequest("failures: expected avoid or ignore")

    # numpy seeds must fit in 32 bits.
    sampler = make_sampler(sampler_name, seed % (2**32), space)
    failure = FailurePolicy(failures, sampler_name, worst_value(history, direction))
    with_constraints = sampler_name in CONSTRAINT_AWARE and any(
        isinstance(e, dict) and (e.get("feasible", True) is False or (failure.as_ == "infeasible" and is_failure(e)))
        for e in history
    )
    study, reused = CACHE.study_for(key, space, direction, history, with_constraints, failure)
    study.sampler = sampler
    t1 = time.perf_counter()

    configs = []
    asked = []
    try:
        for _ in range(n):
            # Asked trials stay RUNNING until the batch is complete, then are closed as FAIL.
            # Samplers skip RUNNING trials (TPE's constant_liar is not set), so the n suggestions
            # of one call are n draws from the same model, told apart only by the sampler's
            # random state; nothing spreads them apart. The strategy (activities/strategies/
            # optuna.ts) asks for several per proposal when failures are known, and proposes the
            # one farthest from them.
            trial = study.ask()
            asked.append(trial)
            configs.append(space.suggest(trial))
    finally:
        for trial in asked:
            study.tell(trial, state=TrialState.FAIL)
    t3 = time.perf_counter()
    return {
        "configs": configs,
        "stats": {
            "trials": len(history),
            "reusedTrials": reused,
            "studyMs": round((t1 - t0) * 1000, 2),
            "sampleMs": round((t3 - t1) * 1000, 2),
        },
    }


EVALUATORS = {
    "fanova": lambda seed: optuna.importance.FanovaImportanceEvaluator(seed=seed),
    "ped-anova": lambda seed: optuna.importance.PedAnovaImportanceEvaluator(),
}
# Below this many complete trials the evaluators fit noise (fANOVA's forest needs a few points).
MIN_IMPORTANCE_TRIALS = 3


def importance(req: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    space = Space(req.get("space"))
    direction = req.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise BadRequest("direction: expected maximize or minimize")
    history = req.get("history", [])
    if not isinstance(history, list):
        raise BadRequest("history: must be a list")
    name = req.get("evaluator", "fanova")
    if name not in EVALUATORS:
        raise BadRequest(f"evaluator: expected one of {', '.join(EVALUATORS)}, got {name!r}")
    seed = req.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadRequest("seed: must be an integer")
    study = optuna.create_study(direction=direction)
    complete = 0
    for i, entry in enumerate(history):
        frozen = to_frozen(space, entry, i, with_constraints=False)
        if frozen is not None and frozen.state == TrialState.COMPLETE:
            study.add_trial(frozen)
            complete += 1
    importances: dict[str, float] = {}
    if complete >= MIN_IMPORTANCE_TRIALS:
        raw = optuna.importance.get_param_importances(study, evaluator=EVALUATORS[name](seed % (2**32)))
        importances = {k: float(v) for k, v in raw.items() if math.isfinite(float(v))}
    return {
        "importances": importances,
        "trials": complete,
        "evaluator": name,
        "ms": round((time.perf_counter() - t0) * 1000, 2),
    }


def handle(line: str) -> dict[str, Any]:
    try:
        req = json.loads(line)
    except json.JSONDecodeError as e:
        return {"id": None, "ok": False, "kind": "bad_request", "error": f"request is not JSON: {e}"}
    if not isinstance(req, dict):
        return {"id": None, "ok": False, "kind": "bad_request", "error": "request must be a JSON object"}
    rid = req.get("id")
    op = req.get("op", "suggest")
    try:
        if op == "ping":
            return {"id": rid, "ok": True, "optuna": optuna.__version__}
        if op == "suggest":
            return {"id": rid, "ok": True, **suggest(req)}
        if op == "importance":
            return {"id": rid, "ok": True, **importance(req)}
        raise BadRequest(f"op: unknown operation {op!r}")
    except BadRequest as e:
        return {"id": rid, "ok": False, "kind": "bad_request", "error": str(e)}
    except MissingDependency as e:
        return {"id": rid, "ok": False, "kind": "missing_dependency", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - the process must survive any single request
        traceback.print_exc(file=sys.stderr)
        return {"id": rid, "ok": False, "kind": "internal", "error": f"{type(e).__name__}: {e}"}


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = handle(line)
        out.write(json.dumps(reply, allow_nan=False) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
