"""AdaBoost's hot loops over the training windows, compiled with Numba (``parallel=True``,
cached on disk; one parallel kernel at a time, under :data:`vedere.parallel.PARALLEL_LOCK`):
the best-stump pass over presorted Haar feature values (:func:`stump_errors`), and for LBP
features the codes of every feature on every window (:func:`lbp_codes`) and the best
categorical stump's error per feature (:func:`lbp_errors`).

Each is a loop with a running state (a prefix sum, a 256-bin histogram) that NumPy cannot
express without an F × N temporary.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere.detect.lbp import BIT_CORNERS as _LBP_CORNER
from vedere.parallel import PARALLEL_LOCK


def stump_errors(
    order: np.ndarray,
    signed: np.ndarray,
    t_pos: float,
    t_neg: float,
    flag: int,
    out: np.ndarray,
) -> None:
    """:func:`_stump_errors` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _stump_errors(order, signed, t_pos, t_neg, flag, out)


@numba.njit(parallel=True, cache=True)
def _stump_errors(
    order: np.ndarray,
    signed: np.ndarray,
    t_pos: float,
    t_neg: float,
    flag: int,
    out: np.ndarray,
) -> None:
    """out[f] = min over allowed splits k of min(T₊ − c_k, T₋ + c_k), c_k the running sum of
    ``signed`` in feature f's ``order``; a split after position k is allowed unless k's tie
    flag (``flag``, the top bit) says the next value is equal. The empty prefix (c = 0) is
    allowed."""
    n_f, n = order.shape
    mask = flag - 1
    for f in numba.prange(n_f):
        row = order[f]
        c = 0.0
        hi = 0.0
        lo = 0.0
        for k in range(n):
            e = row[k]
            c += signed[e & mask]
            if (e & flag) == 0:
                if c > hi:
                    hi = c
                elif c < lo:
                    lo = c
        out[f] = min(t_pos - hi, t_neg + lo)


def lbp_codes(ii: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """:func:`_lbp_codes` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _lbp_codes(ii, corners, out)


#: windows per block of :func:`_lbp_codes`: their integral images (64 × 625 int64 for a 24×24
#: window, 320 KB) stay in cache while every feature is read from them
LBP_BLOCK = 64


@numba.njit(parallel=True, cache=True)
def _lbp_codes(ii: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """LBP codes (:mod:`vedere.detect.lbp`) of F features on N windows: ``ii`` (N, S) int64
    flattened padded integral images, ``corners`` (F, 16) int64 offsets of each feature's
    4×4 grid corners (row i, column j at 4i + j), ``out`` (F, N) uint8.

    Blocks of :data:`LBP_BLOCK` windows are shared among the threads, and each block runs
    through every feature while its integral images are in cache (feature by feature over
    all N windows would stream the whole (N, S) array from memory once per feature)."""
    n_f = corners.shape[0]
    n = ii.shape[0]
    n_blocks = (n + LBP_BLOCK - 1) // LBP_BLOCK
    for blk in numba.prange(n_blocks):
        i0 = blk * LBP_BLOCK
        i1 = min(n, i0 + LBP_BLOCK)
        for f in range(n_f):
            c = corners[f]
            for i in range(i0, i1):
                row = ii[i]
                centre = row[c[5]] - row[c[6]] - row[c[9]] + row[c[10]]
                code = 0
                for bit in range(8):
                    a = _LBP_CORNER[bit]
                    if row[c[a]] - row[c[a + 1]] - row[c[a + 4]] + row[c[a + 5]] >= centre:
                        code |= 128 >> bit
                out[f, i] = code


def lbp_errors(codes: np.ndarray, signed: np.ndarray, out: np.ndarray) -> None:
    """:func:`_lbp_errors` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _lbp_errors(codes, signed, out)


@numba.njit(parallel=True, cache=True)
def _lbp_errors(codes: np.ndarray, signed: np.ndarray, out: np.ndarray) -> None:
    """The best categorical stump's error per LBP feature: with the signed weights s_i
    (+w face, −w non-face) summed per code c into W₊(c) and W₋(c), the set S = {c : W₊(c) >
    W₋(c)} errs by Σ_c min(W₊(c), W₋(c)). ``codes`` (F, N) uint8; ``out`` (F,) float64."""
    n_f, n = codes.shape
    for f in numba.prange(n_f):
        pos = np.zeros(256)
        neg = np.zeros(256)
        row = codes[f]
        for i in range(n):
            w = signed[i]
            if w > 0:
                pos[row[i]] += w
            else:
                neg[row[i]] -= w
        e = 0.0
        for c in range(256):
            e += min(pos[c], neg[c])
        out[f] = e
