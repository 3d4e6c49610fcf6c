"""The detector's two hot loops, compiled with Numba (plain Python loops, JIT-compiled on first
use and cached on disk): the best-stump pass of AdaBoost and the cascade's window scan.

Both are loops with a data-dependent exit or a running state that NumPy cannot express
without materialising F × N temporaries; everything else stays in NumPy.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def stump_errors(
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


@numba.njit(parallel=True, cache=True)
def scan_cascade(
    ii: np.ndarray,
    sq: np.ndarray,
    stride: int,
    ys: np.ndarray,
    n_x: int,
    step: int,
    norm_offs: np.ndarray,
    norm_area: float,
    offs: np.ndarray,
    wts: np.ndarray,
    stage_ends: np.ndarray,
    stage_thr: np.ndarray,
    weak_thr: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    skip_rejected: bool,
    hit: np.ndarray,
    score: np.ndarray,
) -> None:
    """OpenCV's scan of one pyramid level (``CascadeClassifierInvoker``): windows at x = 0,
    step, 2·step, … < ``n_x`` on each row y of ``ys`` (rows in parallel). A window whose
    variance is too low is passed over; otherwise each stage sums its stumps' leaves (feature
    value = Σ wᵢ·rectᵢ / n_f, the left leaf when value < threshold) and rejects the window
    when the sum is below the stage threshold; a window rejected by the first stage makes
    the scan skip the next position (``skip_rejected``, as OpenCV does).

    ``ii``, ``sq``: flattened padded integral images (int64) of the level and of its square,
    rows of length ``stride``; ``norm_offs`` (4,) the inner rectangle's corner offsets;
    ``offs`` (K, 12) corner offsets and ``wts`` (K, 12) float32 corner weights of the K weak
    classifiers' features, stage s owning weak classifiers [stage_ends[s-1], stage_ends[s]).
    Marks accepted windows in ``hit`` (len(ys), columns) and stores their last stage sums
    in ``score``; column j is x = j·step."""
    n_s = stage_ends.shape[0]
    area32 = np.float32(norm_area)
    limit = np.float32(0.1)
    for yi in numba.prange(ys.shape[0]):
        y = ys[yi]
        x = 0
        while x < n_x:
            origin = x + y * stride
            s = ii[origin + norm_offs[0]] - ii[origin + norm_offs[1]]
            s += ii[origin + norm_offs[3]] - ii[origin + norm_offs[2]]
            s2 = sq[origin + norm_offs[0]] - sq[origin + norm_offs[1]]
            s2 += sq[origin + norm_offs[3]] - sq[origin + norm_offs[2]]
            nf = norm_area * np.float64(s2) - np.float64(s) * np.float64(s)
            if nf <= 0.0:
                x += step
                continue
            inv = np.float32(1.0 / np.sqrt(nf))
            if not (area32 * inv < limit):
                x += step
                continue
            start = 0
            passed = True
            total = 0.0
            for st in range(n_s):
                end = stage_ends[st]
                total = 0.0
                for w in range(start, end):
                    v = np.float32(0.0)
                    for r in range(3):
                        j = 4 * r
                        wr = wts[w, j]
                        if wr != 0:
                            rs = (
                                ii[origin + offs[w, j]]
                                - ii[origin + offs[w, j + 1]]
                                - ii[origin + offs[w, j + 2]]
                                + ii[origin + offs[w, j + 3]]
                            )
                            v += wr * np.float32(rs)
                    v = v * inv
                    total += left[w] if v < weak_thr[w] else right[w]
                start = end
                if total < stage_thr[st]:
                    passed = False
                    if st == 0 and skip_rejected:
                        x += step
                    break
            if passed:
                hit[yi, x // step] = 1
                score[yi, x // step] = total
            x += step
