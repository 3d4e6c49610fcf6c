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


@numba.njit(cache=True, inline="always")
def _similar(
    xi: float,
    yi: float,
    wi: float,
    hi: float,
    xj: float,
    yj: float,
    wj: float,
    hj: float,
    eps: float,
) -> bool:
    """OpenCV's ``SimilarRects`` (same float64 arithmetic)."""
    delta = eps * (min(wi, wj) + min(hi, hj)) * 0.5
    return (
        abs(xi - xj) <= delta
        and abs(yi - yj) <= delta
        and abs((xi + wi) - (xj + wj)) <= delta
        and abs((yi + hi) - (yj + hj)) <= delta
    )


@numba.njit(cache=True)
def _labels(parent: np.ndarray) -> np.ndarray:
    """Component labels numbered in order of each component's first member."""
    n = parent.shape[0]
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


@numba.njit(cache=True)
def cluster_labels_sweep(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, eps: float
) -> np.ndarray:
    """Connected components of OpenCV's similarity of boxes (float64 arrays of their x, y,
    w, h): i ~ j when each of |Δx|, |Δy|, |Δ(x + w)|, |Δ(y + h)| is at most
    δ = eps·(min(wᵢ, wⱼ) + min(hᵢ, hⱼ))/2. Labels (n,) int64 numbered in order of each
    component's first member.

    Any boxes: sorted by x, each compared with those after it whose x is within
    bᵢ = eps·(wᵢ + hᵢ)/2 ≥ δ, joined with union-find; O(n) memory."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    parent = np.arange(n)
    for a in range(n):
        i = order[a]
        bound = eps * (w[i] + h[i]) * 0.5
        ri = _find(parent, i)
        for b in range(a + 1, n):
            j = order[b]
            if x[j] - x[i] > bound:
                break
            if _similar(x[i], y[i], w[i], h[i], x[j], y[j], w[j], h[j], eps):
                rj = _find(parent, j)
                if rj != ri:  # join the two roots under the smaller index
                    root = min(ri, rj)
                    parent[ri] = root
                    parent[rj] = root
                    ri = root
    return _labels(parent)


@numba.njit(cache=True)
def _first_at_least(
    ks: np.ndarray, gxs: np.ndarray, gys: np.ndarray, k: int, gx: int, gy: int
) -> int:
    """First position whose (k, gx, gy) is ≥ the given key in lexicographically sorted keys."""
    lo, hi = 0, ks.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if (ks[mid], gxs[mid], gys[mid]) < (k, gx, gy):
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def cluster_labels_grid(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    eps: float,
    size_class: np.ndarray,
    cell: np.ndarray,
) -> np.ndarray:
    """The components of :func:`cluster_labels_sweep`, found in near-linear time for boxes of
    positive size: similar boxes have sizes s = w + h within a ratio 1 + 2·eps, so box i
    only meets boxes of size classes ``size_class[i]`` ± 2 (class k: s ∈ [(1+2eps)^k,
    (1+2eps)^(k+1)), numbered from 0), and within a class only those in the grid cells (side
    ``cell[k]`` ≈ the class's largest bᵢ) around it."""
    n = x.shape[0]
    gx = np.empty(n, dtype=np.int64)
    gy = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = cell[size_class[i]]
        gx[i] = np.int64(np.floor(x[i] / c))
        gy[i] = np.int64(np.floor(y[i] / c))
    # lexicographic order of (class, gx, gy)
    order = np.argsort(gy, kind="mergesort")
    order = order[np.argsort(gx[order], kind="mergesort")]
    order = order[np.argsort(size_class[order], kind="mergesort")]
    ks, gxs, gys = size_class[order], gx[order], gy[order]
    parent = np.arange(n)
    n_cls = cell.shape[0]
    for i in range(n):
        bound = eps * (w[i] + h[i]) * 0.5
        ri = _find(parent, i)
        for k in range(max(0, size_class[i] - 2), min(n_cls, size_class[i] + 3)):
            c = cell[k]
            x_lo = np.int64(np.floor((x[i] - bound) / c)) - 1
            x_hi = np.int64(np.floor((x[i] + bound) / c)) + 1
            y_lo = np.int64(np.floor((y[i] - bound) / c)) - 1
            y_hi = np.int64(np.floor((y[i] + bound) / c)) + 1
            for cx in range(x_lo, x_hi + 1):
                a = _first_at_least(ks, gxs, gys, k, cx, y_lo)
                b = _first_at_least(ks, gxs, gys, k, cx, y_hi + 1)
                for p in range(a, b):
                    j = order[p]
                    if j > i and _similar(x[i], y[i], w[i], h[i], x[j], y[j], w[j], h[j], eps):
                        rj = _find(parent, j)
                        if rj != ri:
                            root = min(ri, rj)
                            parent[ri] = root
                            parent[rj] = root
                            ri = root
    return _labels(parent)


@numba.njit(cache=True)
def greedy_nms(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    order: np.ndarray,
    overlap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression over boxes [x1, x2) × [y1, y2) (float64) visited in
    ``order``: each box still alive suppresses the alive boxes whose intersection over union
    with it exceeds ``overlap`` (IoU = inter / (areaᵢ + areaⱼ − inter), 0 when that is not
    positive). Returns the kept indices and how many boxes each took out, itself included."""
    n = x1.shape[0]
    alive = np.ones(n, dtype=np.bool_)
    area = (x2 - x1) * (y2 - y1)
    keep = np.empty(n, dtype=np.int64)
    support = np.empty(n, dtype=np.int64)
    m = 0
    for i in order:
        if not alive[i]:
            continue
        count = 0
        for j in range(n):
            if not alive[j]:
                continue
            ix = min(x2[i], x2[j]) - max(x1[i], x1[j])
            iy = min(y2[i], y2[j]) - max(y1[i], y1[j])
            inter = max(ix, 0.0) * max(iy, 0.0)
            union = area[i] + area[j] - inter
            v = inter / union if union > 0 else 0.0
            if v > overlap or j == i:
                alive[j] = False
                count += 1
        keep[m] = i
        support[m] = count
        m += 1
    return keep[:m], support[:m]
