"""Merging the many overlapping windows a face produces into one box.

- :func:`group_rectangles`: OpenCV's ``groupRectangles`` (what ``minNeighbors`` means):
  windows are joined when their four edges all lie within δ = eps·(min widths + min
  heights)/2 of each other, and joined transitively into clusters; a cluster of n windows
  becomes its average box, kept when n > min_neighbors; a kept box that lies inside a bigger
  kept box with more support (> max(3, n)), or with n < 3, is dropped.
- :func:`non_max_suppression`: greedy NMS — the highest-scoring box suppresses every box that
  overlaps it by more than ``iou`` (intersection over union), and so on down the list.
"""

from __future__ import annotations

import numpy as np


def _components(adj: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency matrix: labels (n,) in order of
    each component's first member."""
    n = adj.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        if labels[i] >= 0:
            continue
        members = np.zeros(n, dtype=bool)
        members[i] = True
        frontier = members.copy()
        while frontier.any():
            reach = adj[frontier].any(axis=0) & ~members
            members |= reach
            frontier = reach
        labels[members] = k
        k += 1
    return labels


def _similar(boxes: np.ndarray, eps: float) -> np.ndarray:
    x, y, w, h = (boxes[:, i].astype(np.float64) for i in range(4))
    delta = eps * (np.minimum.outer(w, w) + np.minimum.outer(h, h)) * 0.5
    return (
        (np.abs(np.subtract.outer(x, x)) <= delta)
        & (np.abs(np.subtract.outer(y, y)) <= delta)
        & (np.abs(np.subtract.outer(x + w, x + w)) <= delta)
        & (np.abs(np.subtract.outer(y + h, y + h)) <= delta)
    )


def group_rectangles(
    boxes: np.ndarray, min_neighbors: int, eps: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's grouping of (N, 4) int boxes (x, y, w, h). Returns the kept boxes (K, 4) int64
    and their cluster sizes (K,). With ``min_neighbors`` ≤ 0 the boxes are returned as they
    are, each with size 1."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if min_neighbors <= 0 or len(boxes) == 0:
        return boxes.copy(), np.ones(len(boxes), dtype=np.int64)
    labels = _components(_similar(boxes, eps))
    n_cls = int(labels.max()) + 1
    sums = np.zeros((n_cls, 4), dtype=np.int64)
    np.add.at(sums, labels, boxes)
    counts = np.bincount(labels, minlength=n_cls)
    s = (np.float32(1) / counts.astype(np.float32))[:, None]
    avg = np.rint(sums.astype(np.float32) * s).astype(np.int64)
    kept, sizes = [], []
    for i in range(n_cls):
        n1 = counts[i]
        if n1 <= min_neighbors:
            continue
        r1 = avg[i]
        inside = False
        for j in range(n_cls):
            n2 = counts[j]
            if j == i or n2 <= min_neighbors:
                continue
            r2 = avg[j]
            dx, dy = int(np.rint(r2[2] * eps)), int(np.rint(r2[3] * eps))
            if (
                r1[0] >= r2[0] - dx
                and r1[1] >= r2[1] - dy
                and r1[0] + r1[2] <= r2[0] + r2[2] + dx
                and r1[1] + r1[3] <= r2[1] + r2[3] + dy
                and (n2 > max(3, n1) or n1 < 3)
            ):
                inside = True
                break
        if not inside:
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
    boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.3, min_neighbors: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS. Returns (kept boxes (K, 4), their scores (K,), and how many boxes each
    suppressed plus one (K,)); boxes with that count ≤ ``min_neighbors`` are dropped."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    ov = iou(boxes, boxes)
    alive = np.ones(len(boxes), dtype=bool)
    keep, support = [], []
    for i in order:
        if not alive[i]:
            continue
        group = alive & (ov[i] > overlap)
        group[i] = True
        alive &= ~group
        keep.append(i)
        support.append(int(group.sum()))
    keep_a = np.array(keep, dtype=np.int64)
    support_a = np.array(support, dtype=np.int64)
    ok = support_a > min_neighbors if min_neighbors > 0 else np.ones(len(keep_a), bool)
    return boxes[keep_a[ok]], scores[keep_a[ok]], support_a[ok]
