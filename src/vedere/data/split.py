"""Stratified, seeded train/validation split."""

from __future__ import annotations

import numpy as np


def n_from(spec: float | int, n_total: int, name: str = "val_split") -> int:
    """A count from an int (that many) or a fraction in (0, 1)."""
    if isinstance(spec, float) and 0 < spec < 1:
        return max(1, round(spec * n_total))
    if float(spec).is_integer() and 0 <= spec < n_total:
        return int(spec)
    raise ValueError(
        f"{name} must be a count in [0, {n_total}) or a fraction in (0, 1), got {spec}"
    )


def stratified_split(
    labels: np.ndarray, n_val: float | int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with ``n_val`` validation items whose class proportions match
    the whole set's (largest-remainder rounding per class); both sorted, disjoint, seeded."""
    labels = np.asarray(labels)
    n = len(labels)
    k = n_from(n_val, n)
    if k == 0:
        return np.arange(n), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * k / n
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: k - take.sum()]] += 1
    val = []
    for c, t in zip(classes, take, strict=True):
        idx = np.flatnonzero(labels == c)
        val.append(rng.choice(idx, size=t, replace=False))
    val_idx = np.sort(np.concatenate(val))
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx
