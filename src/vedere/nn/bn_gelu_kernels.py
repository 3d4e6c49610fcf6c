"""Batch normalisation followed by GELU, fused: the compiled passes (float32, (M, C) rows).

z = a·r + c is the batch norm's output (a = γ/√(σ²+ε), c = β − μ·a per channel,
:mod:`vedere.nn.batchnorm`) and GELU(z) = z·Φ(z) the activation's (:mod:`vedere.nn.activations`).
Apart, a training step passes over the tensor 12 times (the norm's moments, its affine map,
the activation; the activation's gradient, the norm's two sums, its input gradient: 8
reads, 4 writes) in six launches. Fused, z is never stored (the backward pass recomputes it
from r) and the gradient at z is computed with its sums, then mapped in place to the
input's: 9 passes (6 reads, 3 writes) in four launches.
:meth:`vedere.nn.Sequential` fuses every BatchNorm → GELU pair of float32 layers.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere.parallel import kernel

from .kernels import _F_HALF_INV_SQRT2, _F_INV_SQRT2, _erf32


@kernel(fastmath=True)
def bn_gelu32(r, a, c, out):  # pragma: no cover - compiled
    """out[m, k] = GELU(a[k]·r[m, k] + c[k]): the norm's affine map and the activation in
    one pass."""
    half, one = np.float32(0.5), np.float32(1)
    m, ch = r.shape
    for row in numba.prange(m):
        for k in range(ch):
            z = a[k] * r[row, k] + c[k]
            e, _ = _erf32(z * _F_INV_SQRT2)
            out[row, k] = half * z * (one + e)


@numba.njit(inline="always", fastmath=True)
def _gelu_grad32(z):  # pragma: no cover - compiled
    """GELU'(z) = Φ(z) + z Φ'(z), as :func:`gelu_backward_flat32` computes it."""
    half, one = np.float32(0.5), np.float32(1)
    e, de = _erf32(z * _F_INV_SQRT2)
    return half * (one + e) + z * _F_HALF_INV_SQRT2 * de


@kernel(fastmath=True)
def bn_gelu_dot32(g, r, a, c, center, chunks, gz):  # pragma: no cover - compiled
    """gz = G' = g·GELU'(a·r + c), the gradient at the norm's output, and its sums
    (Σ G', Σ G'·(r − center)) per column in float64, reduced as :func:`channel_dot` reduces
    them. The norm's input gradient is then one affine map of gz and r, written over gz."""
    m, ch = g.shape
    part = np.zeros((chunks, 2, ch))
    step = (m + chunks - 1) // chunks
    for kk in numba.prange(chunks):
        for row in range(kk * step, min(m, (kk + 1) * step)):
            for k in range(ch):
                x = r[row, k]
                d = g[row, k] * _gelu_grad32(a[k] * x + c[k])
                gz[row, k] = d
                part[kk, 0, k] += d
                part[kk, 1, k] += d * (x - center[k])
    return part.sum(axis=0)
