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
def _lbp_codes(blocks: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """LBP codes (:mod:`vedere.detect.lbp`) of F features on N windows: ``blocks`` (B, S,
    LBP_BLOCK) int64, the flattened padded integral images of windows b·LBP_BLOCK + i in
    column i of block b (zeros past N), ``corners`` (F, 16) int64 offsets of each feature's
    4×4 grid corners (row i, column j at 4i + j), ``out`` (F, N) uint8.

    The blocks are shared among the threads, and each block runs through every feature while
    its integral images are in cache (feature by feature over all N windows would stream the
    whole array from memory once per feature); a corner is one contiguous row of the block,
    so the loop over its windows is a vector loop."""
    n_f = corners.shape[0]
    n = out.shape[1]
    for b in numba.prange(blocks.shape[0]):
        blk = blocks[b]
        i0 = b * LBP_BLOCK
        m = min(n, i0 + LBP_BLOCK) - i0
        codes = np.zeros(LBP_BLOCK, dtype=np.int64)
        for f in range(n_f):
            c = corners[f]
            p0, p1, p2, p3 = blk[c[0]], blk[c[1]], blk[c[2]], blk[c[3]]
            p4, p5, p6, p7 = blk[c[4]], blk[c[5]], blk[c[6]], blk[c[7]]
            p8, p9, p10, p11 = blk[c[8]], blk[c[9]], blk[c[10]], blk[c[11]]
            p12, p13, p14, p15 = blk[c[12]], blk[c[13]], blk[c[14]], blk[c[15]]
            for i in range(LBP_BLOCK):
                ce = p5[i] - p6[i] - p9[i] + p10[i]
                codes[i] = (
                    (np.int64(p0[i] - p1[i] - p4[i] + p5[i] >= ce) << 7)
                    | (np.int64(p1[i] - p2[i] - p5[i] + p6[i] >= ce) << 6)
                    | (np.int64(p2[i] - p3[i] - p6[i] + p7[i] >= ce) << 5)
                    | (np.int64(p6[i] - p7[i] - p10[i] + p11[i] >= ce) << 4)
                    | (np.int64(p10[i] - p11[i] - p14[i] + p15[i] >= ce) << 3)
                    | (np.int64(p9[i] - p10[i] - p13[i] + p14[i] >= ce) << 2)
                    | (np.int64(p8[i] - p9[i] - p12[i] + p13[i] >= ce) << 1)
                    | np.int64(p4[i] - p5[i] - p8[i] + p9[i] >= ce)
                )
            for i in range(m):
                out[f, i0 + i] = codes[i]


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
