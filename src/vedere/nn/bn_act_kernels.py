"""Batch normalisation followed by its activation (GELU or ReLU), fused: the compiled passes
on (M, C) rows.

z = a·r + c is the batch norm's output (a = γ/√(σ²+ε), c = β − μ·a per channel,
:mod:`vedere.nn.batchnorm`) and f(z) the activation's: GELU z·Φ(z) (float32, the rational
erf of :mod:`vedere.nn.kernels`) or ReLU max(z, 0) (any float dtype). Apart, a training step
passes over the tensor 12 times (the norm's moments, its affine map, the activation; the
activation's gradient, the norm's two sums, its input gradient: 8 reads, 4 writes) in six
launches or NumPy calls. Fused, z is never stored (the backward pass recomputes it from r)
and the gradient at z is computed with its sums, then mapped in place to the input's: 9
passes (6 reads, 3 writes) in four launches. :class:`vedere.nn.Sequential` fuses every such
pair.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere import parallel

from .kernels import _F_HALF_INV_SQRT2, _F_INV_SQRT2, _erf32

#: the activation of a build, a compile-time constant (its ``constants``): ReLU, else GELU
_RELU = False


@numba.njit(inline="always", fastmath=True)
def _gelu32(z):  # pragma: no cover - compiled
    """(GELU(z), GELU'(z)) = (z Φ(z), Φ(z) + z Φ'(z)) as :mod:`vedere.nn.kernels` computes
    them."""
    half, one = np.float32(0.5), np.float32(1)
    e, de = _erf32(z * _F_INV_SQRT2)
    return half * z * (one + e), half * (one + e) + z * _F_HALF_INV_SQRT2 * de


def bn(r, a, c, out):  # pragma: no cover - compiled
    """out[m, k] = f(a[k]·r[m, k] + c[k]): the norm's affine map and the activation in one
    pass."""
    m, ch = r.shape
    for row in numba.prange(m):
        for k in range(ch):
            z = a[k] * r[row, k] + c[k]
            if _RELU:
                out[row, k] = z if z > 0 else 0
            else:
                out[row, k] = _gelu32(z)[0]


def bn_dot(g, r, a, c, center, chunks, gz):  # pragma: no cover - compiled
    """gz = G' = g·f'(a·r + c), the gradient at the norm's output, and its sums
    (Σ G', Σ G'·(r − center)) per column in float64, reduced as
    :func:`vedere.nn.kernels.channel_dot` reduces them. The norm's input gradient is then one
    affine map of gz and r, written over gz."""
    m, ch = g.shape
    part = np.zeros((chunks, 2, ch))
    step = (m + chunks - 1) // chunks
    for kk in numba.prange(chunks):
        for row in range(kk * step, min(m, (kk + 1) * step)):
            for k in range(ch):
                x = r[row, k]
                z = a[k] * x + c[k]
                if _RELU:
                    d = g[row, k] if z > 0 else g[row, k] * 0
                else:
                    d = g[row, k] * _gelu32(z)[1]
                gz[row, k] = d
                part[kk, 0, k] += d
                part[kk, 1, k] += d * (x - center[k])
    return part.sum(axis=0)


#: the builds (:class:`vedere.parallel.Kernel`): GELU in float32 with fast maths (its
#: rational erf vectorised), ReLU exact (z and its sign recomputed bit for bit alike)
_GELU = {"_RELU": False}
_RELU_C = {"_RELU": True}
#: and NumPy's error model, as the GELU kernels of vedere.nn.kernels (no zero-divisor branch)
_NP = {"fastmath": True, "error_model": "numpy"}
bn_gelu = parallel.Kernel(bn, variant="_gelu", constants=_GELU, **_NP)
bn_gelu_dot = parallel.Kernel(bn_dot, variant="_gelu", constants=_GELU, **_NP)
bn_relu = parallel.Kernel(bn, variant="_relu", constants=_RELU_C)
bn_relu_dot = parallel.Kernel(bn_dot, variant="_relu", constants=_RELU_C)
