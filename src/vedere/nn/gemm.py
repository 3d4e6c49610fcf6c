"""The layers' matrix products, C ← A·B or C ← A·B + C, in one place.

Every product a layer computes (Linear's x·Wᵀ and G·W, its weight gradient Gᵀ·x, a
convolution's X_col·W_matᵀ, X_colᵀ·G and G·W_mat) goes through :func:`gemm`, so that the
backend that multiplies is chosen here and nowhere else. Today that is NumPy's ``matmul``
(its bundled OpenBLAS), writing straight into the output; accumulation adds a product
computed into a temporary.

Intel MKL was tried as a second backend (``cblas_sgemm`` through ctypes): on the Intel Xeon
measured it multiplies a convolution's tall, narrow products 1.3–1.6× faster than OpenBLAS
(BENCHMARKS.md). It was dropped: in a process that had also loaded PyTorch, whose CPU build
exports the MKL it links in, the products came out wrong (errors of order 70 on a
2000×500·500×200 product), whatever the load order and with ``RTLD_DEEPBIND``. A backend
that can silently compute wrong numbers beside a library the tests use as an oracle is not
one to ship.
"""

from __future__ import annotations

import numpy as np


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """out ← a·b, or out ← a·b + out with ``accumulate``; a (M, K), b (K, N), out (M, N).
    Any strides; returns ``out``."""
    if (
        a.ndim != 2
        or b.ndim != 2
        or b.shape[0] != a.shape[1]
        or out.shape
        != (
            a.shape[0],
            b.shape[1],
        )
    ):
        raise ValueError(f"gemm: shapes {a.shape} · {b.shape} → {out.shape} do not match")
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
    return out


def column_sums(a: np.ndarray) -> np.ndarray:
    """Σ_m a[m] (N,) of a (M, N): a bias's gradient, as the product 1ᵀ·a on the BLAS
    (gemv: every BLAS thread, about 6× faster than ``a.sum(axis=0)`` on a convolution's
    (N·H·W, C) gradient, and no less accurate: both accumulate in a's dtype)."""
    if a.ndim != 2:
        raise ValueError(f"column_sums: a must be 2-D, got shape {a.shape}")
    return np.ones(a.shape[0], dtype=a.dtype) @ a
