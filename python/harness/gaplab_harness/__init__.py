"""gaplab_harness: write the trusted harness of a gaplab code experiment in Python.

The harness runs on the worker, outside the sandbox, started by the worker for one seed. It owns
the data and the ground truth; the candidate's code runs only in the sandbox, called through
run_candidate; every metric is computed here and sent with report(). What the harness or the
candidate prints is a log line, never a metric.

    import gaplab_harness as gh

    rng = gh.random("data").generator()      # keyed: the harness never handles the seed
    x, y = make_data(rng)
    pred = gh.run_candidate("method.predict", args=(x[:800], y[:800], x[800:]))
    gh.report(accuracy=float((pred == y[800:]).mean()))
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Mapping, NoReturn

import numpy as np

from .codec import CandidateOutputError, decode_result
from .keyed import KeyedStream

__all__ = [
    "CANDIDATE_RNG",
    "CandidateFailed",
    "CandidateOutputError",
    "KeyedStream",
    "candidate_seed",
    "decode_result",
    "fail_candidate",
    "last_call_seconds",
    "params",
    "prune",
    "random",
    "report",
    "run_candidate",
]


class _CandidateRng:
    def __repr__(self) -> str:
        return "CANDIDATE_RNG"


#: Pass as an argument to give the candidate a numpy Generator seeded with candidate_seed().
CANDIDATE_RNG = _CandidateRng()


class CandidateFailed(Exception):
    """Raised by run_candidate when the candidate crashed, hit a limit or sent back bad output.

    ``reason`` is one line (the exception and where in the candidate's files); ``stdout`` and
    ``stderr`` are the tails of what it printed. Left uncaught, the seed fails with the reason.
    """

    def __init__(self, reason: str, stdout: str = "", stderr: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr


class _Channel:
    """The worker's side: JSON lines out on one fd, answers in on another."""

    def __init__(self) -> None:
        ctx_file = os.environ.get("GAPLAB_HARNESS_CONTEXT")
        rpc = os.environ.get("GAPLAB_HARNESS_RPC")
        if not ctx_file or not rpc:
            raise RuntimeError(
                "gaplab_harness runs inside a gaplab worker: try "
                "`npx tsx experiments/run.ts <experiment> --seed 1` (or `gaplab run`)"
            )
        with open(ctx_file) as f:
            self.context = json.load(f)
        out_fd, in_fd = (int(x) for x in rpc.split(","))
        self._out = os.fdopen(out_fd, "w", encoding="utf-8", buffering=1)
        self._in = os.fdopen(in_fd, "r", encoding="utf-8")
        self._calls = 0
        self.last_seconds = 0.0

    def request(self, msg: dict) -> dict:
        self._out.write(json.dumps(msg) + "\n")
        self._out.flush()
        line = self._in.readline()
        if not line:
            raise RuntimeError("the worker closed the harness channel")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"worker refused {msg.get('op')}: {reply['error']}")
        return reply

    def next_call_dir(self) -> tuple[str, str]:
        self._calls += 1
        name = f"call-{self._calls}"
        path = os.path.join(self.context["scratch"], name)
        os.mkdir(path)
        return name, path


_channel: _Channel | None = None


def _ch() -> _Channel:
    global _channel
    if _channel is None:
        _channel = _Channel()
    return _channel


def params() -> dict:
    """The trial's parameters (a copy)."""
    return dict(_ch().context["params"])


def candidate_seed() -> int:
    """The seed the candidate gets for its own randomness (never the harness's)."""
    return int(_ch().context["candidateSeed"])


def random(purpose: str) -> KeyedStream:
    """The keyed stream for ``purpose`` ("data", "noise", ...): the same for every run of this
    seed under this deployment's secret, unpredictable without it. Draw everything random here."""
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("purpose must be a non-empty string")
    key = bytes.fromhex(_ch().request({"op": "stream", "purpose": purpose})["key"])
    return KeyedStream(key)


def report(metrics: Mapping[str, float] | None = None, /, **more: float) -> None:
    """Sends metrics to the worker (merged with what was reported before); values must be finite."""
    merged = {**(dict(metrics) if metrics else {}), **more}
    out = {}
    for k, v in merged.items():
        f = float(v)
        if not np.isfinite(f):
            raise ValueError(f"metric {k}: {v!r} is not a finite number")
        out[str(k)] = f
    _ch().request({"op": "report", "metrics": out})


def fail_candidate(reason: str) -> NoReturn:
    """Ends the seed as the candidate's failure (say, an output of the wrong shape), with reason."""
    _ch().request({"op": "failed", "reason": str(reason)[:1000]})
    sys.exit(1)


def prune(stage: int, score: float | None = None) -> None:
    """Ends the seed as pruned at cascade ``stage`` (1 = the first) when the harness exits: the
    candidate scored ``score`` there, below the stage's threshold. Report that stage's metrics
    too; the objective need not be among them. A pruned trial is never ranked, verified or counted
    as a failure, and is shown as "pruned at stage N (score ...)"."""
    if isinstance(stage, bool) or not isinstance(stage, int) or stage < 1:
        raise ValueError(f"stage must be an integer of at least 1, got {stage!r}")
    value = None if score is None else float(score)
    if value is not None and not np.isfinite(value):
        value = None
    _ch().request({"op": "prune", "stage": stage, "score": value})


def last_call_seconds() -> float:
    """Wall seconds of the last run_candidate call in the sandbox."""
    return _ch().last_seconds


def _encode_arg(v: Any, folder: str, names: list) -> Any:
    if v is CANDIDATE_RNG:
        return {"__rng__": True}
    if isinstance(v, np.ndarray):
        if v.dtype.hasobject:
            raise TypeError("object arrays cannot be sent to a candidate")
        name = f"a{len(names)}.npy"
        np.save(os.path.join(folder, name), v, allow_pickle=False)
        names.append(name)
        return {"__ndarray__": name}
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_encode_arg(x, folder, names) for x in v]
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str) or k in ("__ndarray__", "__path__", "__rng__"):
                raise TypeError(f"argument dict key {k!r} cannot be sent")
        return {k: _encode_arg(x, folder, names) for k, x in v.items()}
    raise TypeError(f"a {type(v).__name__} cannot be sent to a candidate: use arrays, JSON values or files=")


def run_candidate(
    entry: str,
    args: tuple | list = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    files: Mapping[str, str] | None = None,
    limits: Mapping[str, float] | None = None,
    max_output_bytes: int = 64 * 1024 * 1024,
) -> Any:
    """Calls ``entry`` ("module.function", a module of the candidate's editable files) in a fresh
    sandbox and returns what it returned, decoded safely.

    - ``args``/``kwargs``: JSON values and numpy arrays (nested in lists and dicts too), and
      CANDIDATE_RNG for a numpy Generator seeded with candidate_seed();
    - ``files``: {name: path on this machine}: copied in; the candidate gets the path
      /input/files/<name> (pass that path as an argument);
    - ``limits``: cpuSeconds, memoryBytes, wallSeconds (capped by the experiment's sandbox:);
    - returns numbers, strings, lists, dicts and numpy arrays; never unpickles anything.

    Raises CandidateFailed with the reason when the candidate crashes, exceeds a limit or sends
    back something malformed or larger than ``max_output_bytes``.
    """
    module, _, function = entry.rpartition(".")
    if not module or not function:
        raise ValueError(f'entry must be "module.function", got {entry!r}')
    ch = _ch()
    name, folder = ch.next_call_dir()
    names: list = []
    call = {
        "module": module,
        "function": function,
        "args": [_encode_arg(a, folder, names) for a in args],
        "kwargs": {k: _encode_arg(v, folder, names) for k, v in (kwargs or {}).items()},
        "rng_seed": candidate_seed(),
    }
    for fname, src in (files or {}).items():
        if "/" in fname or fname.startswith(".") or not fname:
            raise ValueError(f"files: {fname!r} is not a plain file name")
        os.makedirs(os.path.join(folder, "files"), exist_ok=True)
        shutil.copyfile(src, os.path.join(folder, "files", fname))
        names.append(f"files/{fname}")
    with open(os.path.join(folder, "call.json"), "w") as f:
        json.dump(call, f)
    names.append("call.json")
    reply = ch.request({"op": "run", "dir": name, "files": names, "limits": dict(limits or {})})
    ch.last_seconds = float(reply.get("seconds", 0.0))
    if reply.get("failure"):
        raise CandidateFailed(reply["failure"], reply.get("stdout", ""), reply.get("stderr", ""))
    with open(os.path.join(folder, "result.bin"), "rb") as f:
        data = f.read(max_output_bytes + 1)
    try:
        value = decode_result(data, max_output_bytes)
    except CandidateOutputError as e:
        ch.request({"op": "failed", "reason": f"candidate output refused: {e}"})
        raise CandidateFailed(f"candidate output refused: {e}", reply.get("stdout", ""), reply.get("stderr", "")) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return value
