"""Haar features as OpenCV stores them: up to three weighted rectangles.

A feature's value on a window is Σ_k weight_k · sum(rect_k), each rect (x, y, w, h) in window
coordinates. The five Viola–Jones types of :mod:`vedere.detect.haar` become:

- two-rectangle [A | B], value B − A:        rect A with −1, rect B with +1;
- three-rectangle [A | B | C], B − A − C:    the whole A∪B∪C with −1, B with +2;
- four-rectangle [A B / D C], (B+D) − (A+C): the whole with −1, B with +2, D with +2

(OpenCV allows at most three rectangles per feature, hence the "whole minus twice" forms; the
values are identical). Loaded OpenCV cascades use whatever weights their files hold.

**Tilted features** (Lienhart & Maydt 2002, OpenCV's ``<tilted>1</tilted>``): the same
weighted sum over rectangles rotated by 45° — (x, y) the top corner, w pixels down-right and
h pixels down-left — each summed from the rotated integral image
(:func:`vedere.detect.integral.tilted_integral_image`) in four look-ups. A tilted rectangle
lies in a W×H window when x − h ≥ 0, x + w ≤ W and y + w + h ≤ H.

Evaluated on padded integral images (:func:`vedere.detect.integral.integral_image`), each
feature is 12 signed look-ups ("corners"): :meth:`RectFeatures.corners` gives their flat
offsets for a given row stride and their float32 weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vedere.detect.haar import LAYOUT, TYPES, HaarFeatures

MAX_RECTS = 3


@dataclass
class RectFeatures:
    """``rects`` (F, 3, 4) int32 rows (x, y, w, h); ``weights`` (F, 3) float32, 0 for unused;
    ``tilted`` (F,) bool: the feature's rectangles are rotated by 45° (None: none are)."""

    rects: np.ndarray
    weights: np.ndarray
    tilted: np.ndarray | None = None

    def __post_init__(self) -> None:
        raw = np.asarray(self.rects)
        if raw.size and raw.dtype.kind in "iuf":
            lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
            if not (np.isfinite(raw).all() and raw.min() >= lo and raw.max() <= hi):
                raise ValueError("rectangle coordinates must be int32 integers")
        self.rects = raw.astype(np.int32).reshape(-1, MAX_RECTS, 4)
        self.weights = np.asarray(self.weights, dtype=np.float32).reshape(-1, MAX_RECTS)
        if self.rects.shape[0] != self.weights.shape[0]:
            raise ValueError(
                f"rects {self.rects.shape} and weights {self.weights.shape} disagree in length"
            )
        if self.tilted is None:
            self.tilted = np.zeros(len(self.rects), dtype=bool)
        self.tilted = np.asarray(self.tilted, dtype=bool).reshape(-1)
        if len(self.tilted) != len(self.rects):
            raise ValueError("tilted must have one entry per feature")

    @property
    def any_tilted(self) -> bool:
        """True when any feature uses 45° tilted rectangles (so the rotated integral image is
        needed)."""
        return bool(self.tilted.any())

    def __len__(self) -> int:
        return int(self.rects.shape[0])

    def __getitem__(self, index: slice | np.ndarray | list[int]) -> RectFeatures:
        return RectFeatures(self.rects[index], self.weights[index], self.tilted[index])

    def check_window(self, height: int, width: int) -> None:
        """Raise ValueError if a used rectangle is empty or leaves the height×width window
        (for a tilted one: x − h < 0, x + w > W or y + w + h > H)."""
        used = self.weights != 0
        x, y, w, h = (self.rects[..., i].astype(np.int64) for i in range(4))  # no int32 wrap
        t = self.tilted[:, None]
        upright = (x < 0) | (y < 0) | (w <= 0) | (h <= 0) | (x + w > width) | (y + h > height)
        rotated = (x - h < 0) | (y < 0) | (w <= 0) | (h <= 0) | (x + w > width)
        rotated |= y + w + h > height
        bad = used & np.where(t, rotated, upright)
        if bad.any():
            f = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"feature {f} has a rectangle outside the {width}x{height} window: "
                f"{self.rects[f].tolist()}"
            )

    def corners(self, stride: int, tilted_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Flat offsets (F, 12) int64 into an integral image with row length ``stride`` (the
        image width + 1), relative to the window's top-left corner, and weights (F, 12)
        float32: value = Σ_j weight_j · ii.flat[origin + offset_j]. A tilted feature's offsets
        are into the rotated integral image, placed ``tilted_offset`` entries after the
        upright one. Corners in the order p₃, p₁, p₂, p₀ of sum = p₀ − p₁ − p₂ + p₃."""
        x, y, w, h = (self.rects[..., i].astype(np.int64) for i in range(4))
        wt = self.weights
        # rect sum = ii[y+h, x+w] - ii[y, x+w] - ii[y+h, x] + ii[y, x]
        upright = np.stack(
            [
                (y + h) * stride + x + w,
                y * stride + x + w,
                (y + h) * stride + x,
                y * stride + x,
            ],
            axis=-1,
        )  # (F, 3, 4)
        # tilted sum = T[y+w+h, x+w-h] - T[y+h, x-h] - T[y+w, x+w] + T[y, x]
        rotated = tilted_offset + np.stack(
            [
                (y + w + h) * stride + x + w - h,
                (y + h) * stride + x - h,
                (y + w) * stride + x + w,
                y * stride + x,
            ],
            axis=-1,
        )
        offs = np.where(self.tilted[:, None, None], rotated, upright)
        signs = np.array([1, -1, -1, 1], dtype=np.float32)
        weights = wt[..., None] * signs  # (F, 3, 4)
        k = offs.shape[1] * offs.shape[2]
        return offs.reshape(len(self), k), weights.reshape(len(self), k).astype(np.float32)

    def dense(self, height: int, width: int) -> np.ndarray:
        """The features as a (F, (H+1)(W+1)) float32 matrix over flattened integral images:
        values = dense @ ii_flat — (F, 2(H+1)(W+1)) over the upright then the rotated integral
        image when any feature is tilted. With integer images and small integer weights every
        product and partial sum is an integer below 2^24, so float32 gives the exact values."""
        n = (height + 1) * (width + 1)
        offs, wt = self.corners(width + 1, n)
        out = np.zeros((len(self), 2 * n if self.any_tilted else n), dtype=np.float32)
        rows = np.repeat(np.arange(len(self)), offs.shape[1])
        np.add.at(out, (rows, offs.ravel()), wt.ravel())
        return out

    def values(self, ii: np.ndarray, tilted_ii: np.ndarray | None = None) -> np.ndarray:
        """Raw (un-normalised) values on a stack of padded integral images (N, H+1, W+1)
        (and their rotated ones, needed when a feature is tilted): (F, N) float32, summed in
        OpenCV's order (rect by rect, in float32)."""
        n = ii.shape[1] * ii.shape[2]
        stack = ii.reshape(ii.shape[0], n)
        if self.any_tilted:
            if tilted_ii is None:
                raise ValueError("tilted features need the rotated integral images")
            stack = np.concatenate([stack, tilted_ii.reshape(ii.shape[0], n)], axis=1)
        offs, _ = self.corners(ii.shape[-1], n)
        out = np.zeros((len(self), stack.shape[0]), dtype=np.float32)
        for k in range(MAX_RECTS):
            sums = (
                stack[:, offs[:, 4 * k]]
                - stack[:, offs[:, 4 * k + 1]]
                - stack[:, offs[:, 4 * k + 2]]
                + stack[:, offs[:, 4 * k + 3]]
            )  # (N, F) exact integers
            out += self.weights[:, k : k + 1] * sums.T.astype(np.float32)
        return out


def from_haar(features: HaarFeatures) -> RectFeatures:
    """Viola–Jones features (:mod:`vedere.detect.haar`) in OpenCV's weighted-rectangle form,
    with values identical to :func:`vedere.detect.haar.feature_values`."""
    n = len(features)
    rects = np.zeros((n, MAX_RECTS, 4), dtype=np.int32)
    weights = np.zeros((n, MAX_RECTS), dtype=np.float32)
    r, c = features.r.astype(np.int32), features.c.astype(np.int32)
    h, w = features.h.astype(np.int32), features.w.astype(np.int32)
    for t_i, t in enumerate(TYPES):
        sel = features.kind == t_i
        if not sel.any():
            continue
        layout = LAYOUT[t]
        if len(layout) == 2:  # A with its sign, B with its sign
            for k, (dr, dc, s) in enumerate(layout):
                rects[sel, k] = np.stack(
                    [c[sel] + dc * w[sel], r[sel] + dr * h[sel], w[sel], h[sel]], axis=1
                )
                weights[sel, k] = s
            continue
        ey = max(dr for dr, _, _ in layout) + 1
        ex = max(dc for _, dc, _ in layout) + 1
        rects[sel, 0] = np.stack([c[sel], r[sel], ex * w[sel], ey * h[sel]], axis=1)
        weights[sel, 0] = -1
        plus = [(dr, dc) for dr, dc, s in layout if s > 0]
        for k, (dr, dc) in enumerate(plus, start=1):
            rects[sel, k] = np.stack(
                [c[sel] + dc * w[sel], r[sel] + dr * h[sel], w[sel], h[sel]], axis=1
            )
            weights[sel, k] = 2
    return RectFeatures(rects, weights)


def enumerate_tilted(height: int, width: int) -> RectFeatures:
    """Lienhart and Maydt's tilted (45°) features at every position and size in a
    height×width window, in the weighted-rectangle form (a tilted rectangle (x, y, w, h):
    top corner (x, y), w pixels down-right, h down-left): two along w (the whole 2w × h with
    −1, the first w × h with +2: first minus second), three along w (the whole with −1, the
    middle with +3), and the same two along h — the tilted part of
    ``opencv_traincascade -mode ALL``'s pool. Every rectangle lies in the window
    (x − h ≥ 0, x + w ≤ W, y + w + h ≤ H)."""
    rects: list[list[list[int]]] = []
    weights: list[list[float]] = []
    for x in range(width + 1):
        for y in range(height):
            for dx in range(1, width + 1):
                for dy in range(1, height + 1):
                    for nw, nh in ((2, 1), (1, 2), (3, 1), (1, 3)):
                        w, h = nw * dx, nh * dy
                        if x - h < 0 or x + w > width or y + w + h > height:
                            continue
                        if nw == 2:
                            inner, wt = [x, y, dx, dy], 2.0
                        elif nh == 2:
                            inner, wt = [x, y, dx, dy], 2.0
                        elif nw == 3:
                            inner, wt = [x + dx, y + dx, dx, dy], 3.0
                        else:
                            inner, wt = [x - dy, y + dy, dx, dy], 3.0
                        rects.append([[x, y, w, h], inner, [0, 0, 0, 0]])
                        weights.append([-1.0, wt, 0.0])
    n = len(rects)
    return RectFeatures(
        np.array(rects, dtype=np.int32).reshape(n, MAX_RECTS, 4),
        np.array(weights, dtype=np.float32).reshape(n, MAX_RECTS),
        np.ones(n, dtype=bool),
    )


def concatenate(parts: list[RectFeatures]) -> RectFeatures:
    """The features of ``parts`` one after the other."""
    return RectFeatures(
        np.concatenate([p.rects for p in parts]),
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.tilted for p in parts]),  # type: ignore[misc]
    )
