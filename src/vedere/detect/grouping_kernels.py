"""The grouping of raw detections, compiled with Numba (serial, cached on disk): OpenCV's
clustering of similar rectangles by union–find, by a sweep over sorted boxes
(:func:`cluster_labels_sweep`) or over a grid of cells (:func:`cluster_labels_grid`), and
greedy non-maximum suppression (:func:`greedy_nms`) — loops with a data-dependent exit.
"""

from __future__ import annotations

import numba
import numpy as np


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
