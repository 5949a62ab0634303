"""Decodes what a candidate sends back (sandbox_driver.py's format) as untrusted data.

No pickle anywhere: the header is JSON, arrays are .npy read with allow_pickle=False (an object
array is refused), and every size is checked against the bytes that arrived and a bound.
"""
from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np

MAGIC = b"GLR1"
#: Largest JSON header accepted, in bytes.
MAX_HEADER_BYTES = 8 * 1024 * 1024


class CandidateOutputError(ValueError):
    """Raised when a candidate's output is not a well-formed result; the message says why."""


def decode_result(data: bytes, max_bytes: int = 64 * 1024 * 1024) -> Any:
    """The value a candidate returned, with its arrays; CandidateOutputError when malformed."""
    if len(data) > max_bytes:
        raise CandidateOutputError(f"the result has {len(data)} bytes, more than the {max_bytes} allowed")
    if len(data) < 8 or data[:4] != MAGIC:
        raise CandidateOutputError("no result: the candidate's function did not return (or wrote something else on the result channel)")
    (n,) = struct.unpack("<I", data[4:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise CandidateOutputError("malformed result: bad header length")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise CandidateOutputError(f"malformed result header: {type(e).__name__}") from None
    if not isinstance(header, dict) or set(header) != {"value", "sizes"}:
        raise CandidateOutputError("malformed result header: expected value and sizes")
    sizes = header["sizes"]
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise CandidateOutputError("malformed result header: sizes")
    if 8 + n + sum(sizes) != len(data):
        raise CandidateOutputError("malformed result: the arrays do not add up to the bytes sent")
    arrays = []
    pos = 8 + n
    for s in sizes:
        try:
            a = np.load(io.BytesIO(data[pos : pos + s]), allow_pickle=False)
        except Exception as e:  # numpy raises ValueError for pickled or malformed data
            raise CandidateOutputError(f"malformed array in the result: {str(e)[:200]}") from None
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            raise CandidateOutputError("malformed array in the result")
        arrays.append(a)
        pos += s

    def resolve(v: Any, depth: int = 0) -> Any:
        if depth > 64:
            raise CandidateOutputError("the result is nested more than 64 levels deep")
        if isinstance(v, dict):
            if set(v) == {"__ndarray__"}:
                i = v["__ndarray__"]
                if type(i) is not int or not 0 <= i < len(arrays):
                    raise CandidateOutputError("malformed result: bad array reference")
                return arrays[i]
            return {k: resolve(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [resolve(x, depth + 1) for x in v]
        return v

    return resolve(header["value"])
