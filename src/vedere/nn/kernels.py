"""Compiled element-wise kernels (Numba ufuncs) for layers NumPy has no single ufunc for.

Imported on first use, so that ``import vedere.nn`` does not pay Numba's start-up; compiled
once per machine (``cache=True``). Being ufuncs, they take any strides and keep the input's
memory layout in their output.
"""

from __future__ import annotations

import math

import numba

_SIGS1 = ["float32(float32)", "float64(float64)"]
_SIGS2 = ["float32(float32, float32)", "float64(float64, float64)"]
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@numba.vectorize(_SIGS1, cache=True)
def gelu(x):  # pragma: no cover - compiled
    """x Φ(x), Φ(x) = ½ (1 + erf(x / √2))."""
    return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))


@numba.vectorize(_SIGS2, cache=True)
def gelu_backward(x, g):  # pragma: no cover - compiled
    """g · (Φ(x) + x φ(x)), φ(x) = e^{-x²/2} / √(2π)."""
    return g * (0.5 * (1.0 + math.erf(x * _INV_SQRT2)) + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x))
