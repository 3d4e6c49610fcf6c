"""From detection window to face box: the box a cascade reports for a window it accepts.

A cascade trained on tight crops (vedere's ``frontalface``: 19×19 CBCL faces, brows to mouth)
accepts windows that cover only the middle of a face, about 0.7× the side of the box OpenCV's
stock cascades report for the same face. A cascade therefore carries a map, fitted once, from
its window (x, y, w, h) to the face box it reports:

    centre' = window centre + (dx · w, dy · h),      (w', h') = scale · (w, h)

so w' = round(scale·w) and x' = round(x + w/2 + dx·w − w'/2) (likewise h', y'; rounded half
to even), and the box is clipped to the image. The identity (dx = dy = 0, scale = 1) leaves
every box exactly as it was; it is the map of OpenCV's cascades and of cascade files that
carry none.

:func:`fit_face_box` fits the map from windows and the face boxes they should have given
(medians of the per-face offsets and of the log side ratios); :func:`match_boxes`
pairs boxes that show the same face and :func:`~vedere.detect.grouping.iou` measures the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vedere.detect.grouping import iou

from ..text import short_repr as _show

__all__ = ["IDENTITY", "FaceBox", "fit_face_box", "iou", "match_boxes"]

#: the largest |dx|, |dy| (in window sides) and the range of scale a file may declare
MAX_OFFSET = 2.0
SCALE_RANGE = (0.25, 4.0)


@dataclass(frozen=True)
class FaceBox:
    """The map window → face box: centre shifted by (dx·w, dy·h), sides times ``scale``."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("dx", "dy", "scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"face_box {name} must be a number, got {_show(v)}")
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f):
                raise ValueError(f"face_box {name} must be finite, got {_show(v)}")
            object.__setattr__(self, name, f)
        if abs(self.dx) > MAX_OFFSET or abs(self.dy) > MAX_OFFSET:
            raise ValueError(
                f"face_box dx and dy must be within ±{MAX_OFFSET} window sides, "
                f"got {self.dx}, {self.dy}"
            )
        lo, hi = SCALE_RANGE
        if not lo <= self.scale <= hi:
            raise ValueError(f"face_box scale must be in [{lo}, {hi}], got {self.scale}")

    @property
    def is_identity(self) -> bool:
        """True when the map reports the detection window itself."""
        return self.dx == 0 and self.dy == 0 and self.scale == 1

    def apply(self, boxes: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
        """(K, 4) windows (x, y, w, h) → (K, 4) int64 face boxes, clipped to an (H, W) image
        when ``image_size`` is given. The identity returns the boxes unchanged."""
        b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        if self.is_identity or not len(b):
            return b.copy()
        x, y, w, h = (b[:, i].astype(np.float64) for i in range(4))
        nw, nh = np.rint(self.scale * w), np.rint(self.scale * h)
        x0 = np.rint(x + w / 2 + self.dx * w - nw / 2)
        y0 = np.rint(y + h / 2 + self.dy * h - nh / 2)
        x1, y1 = x0 + nw, y0 + nh
        if image_size is not None:
            height, width = image_size
            x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
            x1, y1 = np.minimum(x1, width), np.minimum(y1, height)
        out = np.column_stack([x0, y0, np.maximum(x1 - x0, 1), np.maximum(y1 - y0, 1)])
        return out.astype(np.int64)

    def to_dict(self) -> dict[str, float]:
        """The map's dx, dy and scale as JSON-ready numbers."""
        return {"dx": float(self.dx), "dy": float(self.dy), "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, d: Any) -> FaceBox:
        """The map a cascade file's ``face_box`` object declares (None: the identity);
        ValueError naming the field otherwise. Each number is checked as a Python number."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError("face_box must be an object {dx, dy, scale}")
        unknown = set(d) - {"dx", "dy", "scale"}
        if unknown:
            raise ValueError(f"face_box has unknown fields {sorted(unknown)}")
        return cls(d.get("dx", 0.0), d.get("dy", 0.0), d.get("scale", 1.0))


IDENTITY = FaceBox()


def fit_face_box(windows: np.ndarray, faces: np.ndarray) -> FaceBox:
    """The map that takes each window (K, 4) closest to its face box (K, 4) (rows x, y, w, h
    paired):

        scale = exp(median(log(w_face / w_window)))   (sides compared as √(w·h))
        dx = median((cx_face − cx_window) / w_window),  dy likewise with y and h

    Medians, so that a few odd pairs (a box OpenCV drew around a neighbouring face) do not
    pull the map. Needs at least one pair."""
    a = np.asarray(windows, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
    if len(a) != len(b) or not len(a):
        raise ValueError(f"need the same number (≥ 1) of windows and faces, got {len(a)}, {len(b)}")
    if (a[:, 2:] <= 0).any() or (b[:, 2:] <= 0).any():
        raise ValueError("boxes must have positive sides")
    side_a, side_b = np.sqrt(a[:, 2] * a[:, 3]), np.sqrt(b[:, 2] * b[:, 3])
    scale = float(np.exp(np.median(np.log(side_b / side_a))))
    dx = float(np.median((b[:, 0] + b[:, 2] / 2 - a[:, 0] - a[:, 2] / 2) / a[:, 2]))
    dy = float(np.median((b[:, 1] + b[:, 3] / 2 - a[:, 1] - a[:, 3] / 2) / a[:, 3]))
    return FaceBox(round(dx, 4), round(dy, 4), round(scale, 4))


def match_boxes(found: np.ndarray, reference: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j): box ``found[i]`` and ``reference[j]`` show the same face — each one's
    centre lies inside the other — taken greedily by distance between centres, each box in at
    most one pair."""
    f = np.asarray(found, dtype=np.float64).reshape(-1, 4)
    r = np.asarray(reference, dtype=np.float64).reshape(-1, 4)
    fc, rc = f[:, :2] + f[:, 2:] / 2, r[:, :2] + r[:, 2:] / 2

    def inside(c: np.ndarray, boxes: np.ndarray) -> np.ndarray:  # (K,) centres in (M,) boxes
        c, bx = c[:, None, :], boxes[None, :, :]
        return ((c >= bx[..., :2]) & (c <= bx[..., :2] + bx[..., 2:])).all(axis=-1)

    ok = inside(fc, r) & inside(rc, f).T
    dist = np.linalg.norm(fc[:, None, :] - rc[None, :, :], axis=-1)
    pairs: list[tuple[int, int]] = []
    used_f: set[int] = set()
    used_r: set[int] = set()
    for i, j in sorted(zip(*np.nonzero(ok), strict=True), key=lambda p: dist[p]):
        if int(i) not in used_f and int(j) not in used_r:
            pairs.append((int(i), int(j)))
            used_f.add(int(i))
            used_r.add(int(j))
    return pairs
