"""How a model file stores its float32 parameters: as they are, in float16, or in int8.

``save(model, path, precision=...)`` (:mod:`vedere.nn.io`):

- ``"float32"``: as they are, 4 bytes a weight.
- ``"float16"``: each rounded to the nearest IEEE float16, 2 bytes a weight (11 significant
  bits: relative error ≤ 2⁻¹¹); a weight beyond ±65504 cannot be stored so.
- ``"int8"``: a weight tensor W of rank ≥ 2 (a convolution's (C_out, C_in, kh, kw) or a
  linear layer's (C_out, C_in)) as int8 codes q and one float32 scale s_o per output
  channel o (its first axis), symmetric, 1 byte a weight:

      s_o = max_k |W[o, k]| / 127,    q[o, k] = round(W[o, k] / s_o) ∈ [−127, 127],
      W[o, k] ≈ s_o · q[o, k]         (error ≤ s_o / 2: 1/254 of the channel's largest weight)

  The scales are the tensor ``NAME.int8_scale`` (C_out,) beside ``NAME``; the rank-1
  parameters (biases, BatchNorm's γ and β: a few hundred values) are stored in float16.

Buffers (BatchNorm's running statistics, counters) keep their dtype in every case, and
loading widens every stored parameter back to float32 (:func:`decoded`). A float64 model's
parameters are always stored as they are.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .tensor_file import MAX_FILE_BYTES, ModelFileError, TensorInfo

__all__ = [
    "HALF_MAX",
    "PRECISIONS",
    "SCALE_SUFFIX",
    "check_int8",
    "check_precision",
    "decoded",
    "encoded",
]

#: the storage precisions ``save`` accepts
PRECISIONS = ("float32", "float16", "int8")
#: the largest finite float16: a weight beyond it cannot be stored in half precision
HALF_MAX = float(np.finfo(np.float16).max)
#: the name of an int8 weight's scales is the weight's name and this suffix
SCALE_SUFFIX = ".int8_scale"
#: int8 values a file may hold in all: widened to float32 they take 4 bytes each
MAX_INT8_VALUES = MAX_FILE_BYTES // 4
INT8 = np.dtype("i1")


def check_precision(precision: object) -> str:
    """``precision`` if it is one of :data:`PRECISIONS` (ValueError otherwise)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def _halved(name: str, a: np.ndarray) -> np.ndarray:
    if a.size and float(np.abs(a).max()) > HALF_MAX:
        raise ValueError(
            f"weight {name} has values beyond ±{HALF_MAX:g}: it cannot be saved in half precision"
        )
    return a.astype(np.float16)


def _quantised(name: str, a: np.ndarray) -> dict[str, np.ndarray]:
    """{name: q (int8, a's shape), name + SCALE_SUFFIX: s (float32, (a.shape[0],))}."""
    rows = a.reshape(a.shape[0], -1)
    if not np.isfinite(rows).all():
        raise ValueError(f"weight {name} contains NaN or inf: it cannot be saved in int8")
    s = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)
    q = np.zeros(rows.shape, dtype=INT8)
    live = s > 0  # an all-zero channel keeps q = 0, s = 0
    q[live] = np.clip(np.rint(rows[live] / s[live, None]), -127, 127).astype(INT8)
    return {name: q.reshape(a.shape), name + SCALE_SUFFIX: s}


def encoded(name: str, a: np.ndarray, precision: str) -> dict[str, np.ndarray]:
    """The tensors that store parameter ``name`` (array ``a``) at ``precision``."""
    if a.dtype != np.float32 or precision == "float32":
        return {name: a}
    if precision == "int8" and a.ndim >= 2 and a.size > 0:
        return _quantised(name, a)
    return {name: _halved(name, a)}


def check_int8(path: Path, tensors: dict[str, TensorInfo]) -> dict[str, TensorInfo]:
    """Take the scale tensors out of ``tensors`` (the file's layout, before any data is
    read) and return them by weight name, after checking that every int8 tensor has rank ≥
    2 and a float32 scale per output channel, that every scale belongs to an int8 tensor,
    and that the int8 values are within :data:`MAX_INT8_VALUES`."""
    suffixed = [n for n in tensors if n.endswith(SCALE_SUFFIX)]
    scales = {n[: -len(SCALE_SUFFIX)]: tensors.pop(n) for n in suffixed}
    total = 0
    for name, t in tensors.items():
        if t.dtype != INT8:
            continue
        if len(t.shape) < 2:
            raise ModelFileError(path, f"int8 tensor {name[:80]} has rank {len(t.shape)}, not ≥ 2")
        s = scales.get(name)
        if s is None:
            raise ModelFileError(path, f"int8 weight {name[:80]} has no {SCALE_SUFFIX} tensor")
        if s.dtype != np.float32 or s.shape != t.shape[:1]:
            raise ModelFileError(
                path,
                f"the scales of int8 weight {name[:80]} are {s.shape} {s.dtype}, "
                f"not ({t.shape[0]},) float32",
            )
        total += math.prod(t.shape)
    for name in scales:
        if name not in tensors or tensors[name].dtype != INT8:
            raise ModelFileError(path, f"{name[:80]}{SCALE_SUFFIX} scales no int8 weight")
    if total > MAX_INT8_VALUES:
        raise ModelFileError(
            path, f"{total} int8 values would widen to more than {MAX_FILE_BYTES} bytes"
        )
    return scales


def decoded(path: Path, name: str, q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """W = s · q as float32 (the inverse of int8 storage); refuses scales that are NaN, inf
    or negative."""
    if not (np.isfinite(scale).all() and (scale >= 0).all()):
        raise ModelFileError(path, f"the scales of weight {name[:80]} must be finite and ≥ 0")
    rows = q.reshape(q.shape[0], -1).astype(np.float32)
    with np.errstate(over="ignore"):  # an overflow to inf is refused by the loader's check
        return (rows * scale[:, None]).reshape(q.shape)
