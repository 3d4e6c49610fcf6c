"""The detector's hot loops, compiled with Numba (plain Python loops, JIT-compiled on first
use and cached on disk): the best-stump pass of AdaBoost, the cascade's window scan and the
clustering of raw detections (:func:`cluster_labels`).

The first two are loops with a data-dependent exit or a running state that NumPy cannot express
without materialising F × N temporaries; everything else stays in NumPy.

**Threads.** Both kernels are ``parallel=True``. Numba's fallback threading layer
(``workqueue``, used where neither TBB nor OpenMP is available) aborts the whole process when
two Python threads launch parallel kernels at once — and the playground runs detections in
Starlette's thread pool. So every call goes through :data:`PARALLEL_LOCK`: one parallel
kernel runs at a time (it already uses every core), whatever the threading layer.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from vedere.detect.normalize import VARIANCE_FLOOR

#: held while a parallel kernel runs (see the module's docstring)
PARALLEL_LOCK = threading.Lock()


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


def scan_cascade(*args: object) -> None:
    """:func:`_scan_cascade` (documented there, same arguments), one parallel kernel at a
    time."""
    with PARALLEL_LOCK:
        _scan_cascade(*args)


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


@numba.njit(parallel=True, cache=True)
def _scan_cascade(
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
    limit = np.float32(VARIANCE_FLOOR)
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


@numba.njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True)
def cluster_labels(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, eps: float
) -> np.ndarray:
    """Connected components of OpenCV's similarity of boxes (float64 arrays of their x, y,
    w, h): i ~ j when each of |Δx|, |Δy|, |Δ(x + w)|, |Δ(y + h)| is at most
    δ = eps·(min(wᵢ, wⱼ) + min(hᵢ, hⱼ))/2. Labels (n,) int64 numbered in order of each
    component's first member.

    O(n) memory: boxes sorted by x, each compared only with those after it whose x is within
    eps·(wᵢ + hᵢ)/2 ≥ δ (no similar pair lies further apart), joined with union-find."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    parent = np.arange(n)
    for a in range(n):
        i = order[a]
        bound = eps * (w[i] + h[i]) * 0.5
        for b in range(a + 1, n):
            j = order[b]
            if x[j] - x[i] > bound:
                break
            delta = eps * (min(w[i], w[j]) + min(h[i], h[j])) * 0.5
            if (
                abs(x[i] - x[j]) <= delta
                and abs(y[i] - y[j]) <= delta
                and abs((x[i] + w[i]) - (x[j] + w[j])) <= delta
                and abs((y[i] + h[i]) - (y[j] + h[j])) <= delta
            ):
                ri, rj = _find(parent, i), _find(parent, j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    labels = np.full(n, -1, dtype=np.int64)
    first = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        r = _find(parent, i)
        if first[r] < 0:
            first[r] = k
            k += 1
        labels[i] = first[r]
    return labels
