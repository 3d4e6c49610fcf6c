"""Haar-like features: differences of sums over adjacent rectangles, as in Viola–Jones.

Five types, each made of equal unit rectangles of height ``h`` and width ``w`` whose
top-left corner is at (``r``, ``c``) in the window:

==========  ==============  ========================================  ==================
type        layout          value                                      size
==========  ==============  ========================================  ==================
type-2-x    [A | B]         B - A                                      h × 2w
type-2-y    [A / B]         B - A                                      2h × w
type-3-x    [A | B | C]     B - A - C (the middle minus the sides)     h × 3w
type-3-y    [A / B / C]     B - A - C                                  3h × w
type-4      [A B / D C]     (B + D) - (A + C) (one diagonal minus the  2h × 2w
                            other)
==========  ==============  ========================================  ==================

These are scikit-image's conventions (``haar_like_feature``), against which the tests check
coordinates and values. Every position and scale inside a 24×24 window gives 162,336
features (43,200 + 43,200 + 27,600 + 27,600 + 20,736); the paper's "180,000+" counts
differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TYPES = ("type-2-x", "type-2-y", "type-3-x", "type-3-y", "type-4")
# unit rectangles per type as (row, column) offsets in units of (h, w), with their signs
LAYOUT: dict[str, tuple[tuple[int, int, int], ...]] = {
    "type-2-x": ((0, 0, -1), (0, 1, +1)),
    "type-2-y": ((0, 0, -1), (1, 0, +1)),
    "type-3-x": ((0, 0, -1), (0, 1, +1), (0, 2, -1)),
    "type-3-y": ((0, 0, -1), (1, 0, +1), (2, 0, -1)),
    "type-4": ((0, 0, -1), (0, 1, +1), (1, 1, -1), (1, 0, +1)),
}
EXTENT = {
    "type-2-x": (1, 2),
    "type-2-y": (2, 1),
    "type-3-x": (1, 3),
    "type-3-y": (3, 1),
    "type-4": (2, 2),
}


@dataclass
class HaarFeatures:
    """A set of features as parallel arrays: type index into ``TYPES``, and the unit
    rectangle's top-left (r, c) and size (h, w) in window coordinates."""

    kind: np.ndarray
    r: np.ndarray
    c: np.ndarray
    h: np.ndarray
    w: np.ndarray
    window: tuple[int, int]

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def __getitem__(self, index: slice | np.ndarray) -> HaarFeatures:
        return HaarFeatures(
            self.kind[index],
            self.r[index],
            self.c[index],
            self.h[index],
            self.w[index],
            self.window,
        )

    def rects(self, i: int) -> list[tuple[int, int, int, int, int]]:
        """Feature ``i``'s rectangles as (r0, c0, r1, c1, sign), half-open [r0, r1) × [c0, c1)."""
        t = TYPES[self.kind[i]]
        r, c, h, w = int(self.r[i]), int(self.c[i]), int(self.h[i]), int(self.w[i])
        return [
            (r + dr * h, c + dc * w, r + (dr + 1) * h, c + (dc + 1) * w, s)
            for dr, dc, s in LAYOUT[t]
        ]


def enumerate_features(
    height: int = 24, width: int = 24, types: tuple[str, ...] = TYPES
) -> HaarFeatures:
    """Every feature of the given types at every position and scale in a height×width window."""
    if height < 1 or width < 1:
        raise ValueError(f"window must be at least 1×1, got {height}×{width}")
    parts = []
    for t in types:
        if t not in EXTENT:
            raise ValueError(f"unknown Haar feature type {t!r}; choose from {', '.join(TYPES)}")
        ey, ex = EXTENT[t]
        hs = np.arange(1, height // ey + 1)
        ws = np.arange(1, width // ex + 1)
        for h in hs:
            for w in ws:
                rows = np.arange(0, height - ey * h + 1)
                cols = np.arange(0, width - ex * w + 1)
                rr, cc = np.meshgrid(rows, cols, indexing="ij")
                n = rr.size
                parts.append(
                    (
                        np.full(n, TYPES.index(t)),
                        rr.ravel(),
                        cc.ravel(),
                        np.full(n, h),
                        np.full(n, w),
                    )
                )
    kind, r, c, h, w = (np.concatenate([p[i] for p in parts]).astype(np.int16) for i in range(5))
    return HaarFeatures(kind, r, c, h, w, (height, width))


def corner_weights(features: HaarFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Each feature as a signed sum of integral-image entries: ``index`` (F, 16) flat indices
    into the padded (H+1)×(W+1) integral image and ``weight`` (F, 16) in {-1, 0, +1}, so that
    value = Σ_k weight[:, k] · ii.flat[index[:, k]]. (Four corners per rectangle; shared
    corners are kept separate — the sum is the same.)"""
    n = len(features)
    stride = features.window[1] + 1
    index = np.zeros((n, 16), dtype=np.int32)
    weight = np.zeros((n, 16), dtype=np.int8)
    for t_i, t in enumerate(TYPES):
        sel = np.flatnonzero(features.kind == t_i)
        if not len(sel):
            continue
        r, c = features.r[sel].astype(np.int32), features.c[sel].astype(np.int32)
        h, w = features.h[sel].astype(np.int32), features.w[sel].astype(np.int32)
        for k, (dr, dc, s) in enumerate(LAYOUT[t]):
            r0, c0 = r + dr * h, c + dc * w
            r1, c1 = r0 + h, c0 + w
            for j, (rr, cc, sign) in enumerate(
                ((r1, c1, 1), (r0, c1, -1), (r1, c0, -1), (r0, c0, 1))
            ):
                index[sel, 4 * k + j] = rr * stride + cc
                weight[sel, 4 * k + j] = s * sign
    return index, weight


def feature_values(ii: np.ndarray, features: HaarFeatures, chunk: int = 8192) -> np.ndarray:
    """Values of every feature on every window.

    ``ii``: padded integral images of the windows, (N, H+1, W+1) (or one, (H+1, W+1)).
    Returns (F, N) — one row per feature — in int64 for integer images, float64 otherwise.
    Features are taken ``chunk`` at a time, so the temporary arrays stay at chunk × N × 16.
    """
    single = ii.ndim == 2
    stack = ii[None] if single else ii
    h, w = features.window
    if stack.shape[1:] != (h + 1, w + 1):
        raise ValueError(
            f"integral images must be {(h + 1, w + 1)} for a {h}×{w} window, got {stack.shape[1:]}"
        )
    flat = stack.reshape(stack.shape[0], stack.shape[1] * stack.shape[2])
    out = np.empty((len(features), stack.shape[0]), dtype=flat.dtype)
    for s in range(0, len(features), chunk):
        idx, wt = corner_weights(features[s : s + chunk])
        vals = flat[:, idx]  # (N, f, 16)
        out[s : s + len(idx)] = np.einsum("nfk,fk->fn", vals, wt.astype(flat.dtype))
    return out[:, 0] if single else out
