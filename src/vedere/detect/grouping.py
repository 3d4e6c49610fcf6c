"""Merging the many overlapping windows a face produces into one box.

- :func:`group_rectangles`: OpenCV's ``groupRectangles`` (what ``minNeighbors`` means):
  windows are joined when their four edges all lie within δ = eps·(min widths + min
  heights)/2 of each other, and joined transitively into clusters; a cluster of n windows
  becomes its average box, kept when n > min_neighbors; a kept box that lies inside a bigger
  kept box with more support (> max(3, n)), or with n < 3, is dropped.
- :func:`non_max_suppression`: greedy NMS — the highest-scoring box suppresses every box that
  overlaps it by more than ``NMS_OVERLAP`` (intersection over union), and so on down the list.

Both run in memory linear in the number of boxes (no n × n matrices: a cascade that accepts
every window of a 512×512 photo gives 425,604 of them).
"""

from __future__ import annotations

import numpy as np

from vedere.detect import grouping_kernels

#: the intersection over union above which NMS suppresses a box (the detector's "nms")
NMS_OVERLAP = 0.3


def cluster_labels(boxes: np.ndarray, eps: float) -> np.ndarray:
    """OpenCV's clusters of (N, 4) int boxes: labels (N,) numbered in order of each cluster's
    first box. Near-linear time and linear memory for boxes of positive size and eps in
    [0.001, 10] (the grid of :func:`vedere.detect.grouping_kernels.cluster_labels_grid`), otherwise
    an x-sorted sweep."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    x, y, w, h = (np.ascontiguousarray(b[:, i], dtype=np.float64) for i in range(4))
    eps = float(eps)
    s = w + h
    if (
        len(b) == 0
        or not 1e-3 <= eps <= 10
        or s.min() <= 0
        or np.abs(b).max() > 2**40  # grid cells must be exact int64s
    ):
        return grouping_kernels.cluster_labels_sweep(x, y, w, h, eps)
    step = np.log1p(2 * eps)
    k = np.floor(np.log(s) / step).astype(np.int64)
    k -= k.min()
    # a class's cell side: eps/2 times the largest size s in the class, its largest b
    base = float(np.exp(np.floor(np.log(s.min()) / step) * step))
    cell = eps * 0.5 * base * np.exp((np.arange(int(k.max()) + 1) + 1) * step)
    return grouping_kernels.cluster_labels_grid(x, y, w, h, eps, k, cell)


def group_rectangles(
    boxes: np.ndarray, min_neighbors: int, eps: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's grouping of (N, 4) int boxes (x, y, w, h). Returns the kept boxes (K, 4) int64
    and their cluster sizes (K,). With ``min_neighbors`` ≤ 0 the boxes are returned as they
    are, each with size 1."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if min_neighbors <= 0 or len(boxes) == 0:
        return boxes.copy(), np.ones(len(boxes), dtype=np.int64)
    labels = cluster_labels(boxes, eps)
    n_cls = int(labels.max()) + 1
    sums = np.zeros((n_cls, 4), dtype=np.int64)
    np.add.at(sums, labels, boxes)
    counts = np.bincount(labels, minlength=n_cls)
    s = (np.float32(1) / counts.astype(np.float32))[:, None]
    avg = np.rint(sums.astype(np.float32) * s).astype(np.int64)
    # a kept cluster inside another kept cluster with more support is dropped (compared with
    # the kept clusters only, one row at a time: O(clusters) memory)
    big = np.flatnonzero(counts > min_neighbors)
    r2, n2 = avg[big], counts[big]
    dx, dy = np.rint(r2[:, 2] * eps).astype(np.int64), np.rint(r2[:, 3] * eps).astype(np.int64)
    kept, sizes = [], []
    for a, i in enumerate(big):
        r1, n1 = avg[i], counts[i]
        inside = (
            (r1[0] >= r2[:, 0] - dx)
            & (r1[1] >= r2[:, 1] - dy)
            & (r1[0] + r1[2] <= r2[:, 0] + r2[:, 2] + dx)
            & (r1[1] + r1[3] <= r2[:, 1] + r2[:, 3] + dy)
            & ((n2 > max(3, n1)) | (n1 < 3))
        )
        inside[a] = False
        if not inside.any():
            kept.append(r1)
            sizes.append(n1)
    return np.array(kept, dtype=np.int64).reshape(-1, 4), np.array(sizes, dtype=np.int64)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (N, 4) and b (M, 4), (x, y, w, h): (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.minimum.outer(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum.outer(a[:, 0], b[:, 0])
    iy = np.minimum.outer(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum.outer(a[:, 1], b[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(
    boxes: np.ndarray,
    scores: np.ndarray,
    overlap: float = NMS_OVERLAP,
    min_neighbors: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS. Returns (kept boxes (K, 4), their scores (K,), and how many boxes each
    suppressed plus one (K,)); boxes with that count ≤ ``min_neighbors`` are dropped."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    x1, y1 = boxes[:, 0].astype(np.float64), boxes[:, 1].astype(np.float64)
    x2 = x1 + boxes[:, 2].astype(np.float64)
    y2 = y1 + boxes[:, 3].astype(np.float64)
    keep_a, support_a = grouping_kernels.greedy_nms(x1, y1, x2, y2, order, float(overlap))
    ok = support_a > min_neighbors if min_neighbors > 0 else np.ones(len(keep_a), bool)
    return boxes[keep_a[ok]], scores[keep_a[ok]], support_a[ok]
