"""Trusted driver, run inside the sandbox as /input/driver.py by every gaplab_harness call.

It reads /input/call.json (which function of which candidate module, and the arguments: JSON
values, numpy arrays saved as .npy files, paths of input files, the candidate's generator),
calls the function and writes what it returns on fd 3, the result channel:

    b"GLR1" + uint32 LE header length + header JSON + the .npy blobs the header counts

Only numbers, strings, booleans, None, lists, dicts with string keys and numeric numpy arrays
can be sent back; arrays are written with allow_pickle=False. The candidate shares this process,
so it could change anything here: the harness treats what arrives as untrusted data and decodes
it with bounds and without pickle (codec.py). What the candidate prints is a log line. A
candidate that replaced functions of modules loaded before it (numpy's, the driver's) fails with
the names (gaplab_guard: a tripwire that makes the attempt visible; the process boundary is what
keeps the harness's own copies untouched).
"""
import importlib
import io
import json
import os
import struct
import sys

import numpy as np

import gaplab_guard  # the tripwire (experiments/tamper_guard.py), trusted, beside this file

INPUT = "/input"


def decode_arg(v, rng):
    if isinstance(v, dict):
        if set(v) == {"__ndarray__"}:
            return np.load(os.path.join(INPUT, v["__ndarray__"]), allow_pickle=False)
        if set(v) == {"__path__"}:
            return os.path.join(INPUT, v["__path__"])
        if set(v) == {"__rng__"}:
            return rng
        return {k: decode_arg(x, rng) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_arg(x, rng) for x in v]
    return v


def encode(v, blobs):
    if isinstance(v, np.ndarray):
        if v.dtype.hasobject:
            raise TypeError("an array of Python objects cannot be sent back: use a numeric dtype")
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(v), allow_pickle=False)
        blobs.append(buf.getvalue())
        return {"__ndarray__": len(blobs) - 1}
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [encode(x, blobs) for x in v]
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise TypeError("dict keys sent back must be strings")
        return {k: encode(x, blobs) for k, x in v.items()}
    raise TypeError(
        f"a {type(v).__name__} cannot be sent back: return numbers, strings, lists, dicts and numpy arrays"
    )


def main() -> None:
    with open(os.path.join(INPUT, "call.json")) as f:
        call = json.load(f)
    loaded = gaplab_guard.snapshot()
    sys.path.insert(0, os.path.join(INPUT, "candidate"))
    module = importlib.import_module(call["module"])
    fn = getattr(module, call["function"], None)
    if not callable(fn):
        raise AttributeError(f"{call['module']}.py defines no function {call['function']}()")
    rng = np.random.default_rng(call["rng_seed"])
    args = [decode_arg(a, rng) for a in call["args"]]
    kwargs = {k: decode_arg(a, rng) for k, a in call["kwargs"].items()}
    out = fn(*args, **kwargs)
    blobs: list = []
    header = json.dumps({"value": encode(out, blobs), "sizes": [len(b) for b in blobs]}).encode()
    gaplab_guard.check(loaded)
    with os.fdopen(3, "wb") as channel:
        channel.write(b"GLR1" + struct.pack("<I", len(header)) + header)
        for b in blobs:
            channel.write(b)


if __name__ == "__main__":
    main()
