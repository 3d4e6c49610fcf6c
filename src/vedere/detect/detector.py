"""Multi-scale sliding-window detection with a cascade, the way ``cv2.CascadeClassifier``
does it — so an OpenCV cascade finds the same boxes here as in OpenCV.

**Pyramid, not scaled features.** For scale factors 1, s, s², … (while the scaled window fits
in the image and within ``max_size``; scales whose window is under ``min_size`` skipped) the
image is resized to 1/factor of its size (:mod:`vedere.detect.resize`) and the fixed 24×24
window slides over it: every 2nd pixel while the factor is below 2, every pixel above. Each
level costs one resize plus two integral images (O(pixels)), and every feature is then four
look-ups per rectangle with no rounding of scaled rectangles — the choice OpenCV made, and
the one that lets us reproduce its results bit for bit. (Scaling the features instead saves
the resizes but changes the values, since rectangle corners must be rounded: opt-in, as
``scan="features"``.) The pyramid over all scales costs about 1/(1 − 1/s²) ≈ 5.8× the
pixels of the image for s = 1.1.

**Per window** (:mod:`vedere.detect.scan`: all levels resized and integrated in one compiled
pass, then scanned in another): variance normalisation over the inner 22×22
(:mod:`vedere.detect.normalize`), then the stages until one rejects.

**Grouping** (:mod:`vedere.detect.grouping`): OpenCV's ``minNeighbors`` clustering (the
default) or non-maximum suppression by the last stage's score.

**Limits** (:mod:`vedere.detect.limits`): scale factors below 1.01 and pyramids of more than
1000 levels are refused; :func:`detect_scaled` scans large photos shrunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vedere.detect.cascade import Cascade
from vedere.detect.downscale import scale_boxes_back, shrink_for_scan
from vedere.detect.grouping import NMS_OVERLAP, group_rectangles, non_max_suppression
from vedere.detect.limits import MAX_LEVELS, MIN_SCALE_FACTOR
from vedere.detect.resize import resize_linear
from vedere.detect.scan import CompiledCascade, scan_pyramid, scan_scaled_features

GROUPINGS = ("opencv", "nms", "none")
SCANS = ("pyramid", "features")


@dataclass
class Detections:
    """``boxes`` (K, 4) int64 rows (x, y, w, h) in image pixels; ``scores`` (K,): the number
    of raw windows merged into each box (OpenCV grouping, "none": 1) or the best last-stage
    sum (NMS); ``neighbors`` (K,): windows merged."""

    boxes: np.ndarray
    scores: np.ndarray
    neighbors: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to_list(self) -> list[dict[str, float | int]]:
        """One dict per box: x, y, w, h, score and neighbors (what ``--json`` prints)."""
        return [
            {
                "x": int(b[0]),
                "y": int(b[1]),
                "w": int(b[2]),
                "h": int(b[3]),
                "score": float(s),
                "neighbors": int(n),
            }
            for b, s, n in zip(self.boxes, self.scores, self.neighbors, strict=True)
        ]


def scales(
    image_size: tuple[int, int],
    window: tuple[int, int],
    scale_factor: float = 1.1,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
) -> list[float]:
    """The pyramid's scale factors (float32, as OpenCV stores them) for an (H, W) image.

    ``scale_factor`` must be at least MIN_SCALE_FACTOR (closer to 1 the pyramid never ends in
    practice) and give at most MAX_LEVELS levels; ValueError otherwise."""
    try:
        scale_factor = float(scale_factor)
    except (TypeError, ValueError):
        raise ValueError(f"scale_factor must be a number, got {scale_factor!r}") from None
    if not (math.isfinite(scale_factor) and scale_factor >= MIN_SCALE_FACTOR):
        raise ValueError(f"scale_factor must be at least {MIN_SCALE_FACTOR}, got {scale_factor}")
    h, w = image_size
    wh, ww = window
    min_h, min_w = min_size or (0, 0)
    max_h, max_w = max_size or (h, w)
    out = []
    factor = 1.0
    while True:
        win_w, win_h = round_half_even(ww * factor), round_half_even(wh * factor)
        if win_w > max_w or win_h > max_h:
            break
        if win_w >= min_w and win_h >= min_h:
            out.append(float(np.float32(factor)))
        if len(out) > MAX_LEVELS:
            raise ValueError(
                f"scale factor {scale_factor} gives more than {MAX_LEVELS} pyramid levels for a "
                f"{w}x{h} image; use a larger scale factor or a smaller image"
            )
        factor *= scale_factor
    return out


def round_half_even(v: float) -> int:
    """``v`` rounded to the nearest integer, halves to even (as OpenCV's ``cvRound``)."""
    return int(np.rint(v))


def scan_level(
    level: np.ndarray, compiled: CompiledCascade, step: int, skip_rejected: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Every window position of one pyramid level that the whole cascade accepts: (M, 2)
    (x, y) in level pixels and their last stage sums (M,)."""
    level = np.asarray(level)
    hits = scan_pyramid(level, compiled, [level.shape], [step], skip_rejected)[0]
    return hits.xy, hits.score


def pyramid(
    gray: np.ndarray,
    window: tuple[int, int],
    scale_factor: float = 1.1,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
) -> Iterator[tuple[np.float32, np.ndarray, int]]:
    """The levels OpenCV scans: (scale factor as float32, the image resized to 1/factor, the
    window step there — 2 pixels below factor 2, 1 above)."""
    h, w = gray.shape
    for f in scales((h, w), window, scale_factor, min_size, max_size):
        f32 = np.float32(f)
        level = resize_linear(gray, round_half_even(w / f32), round_half_even(h / f32))
        yield f32, level, 1 if f32 >= 2 else 2


def detect_raw(
    gray: np.ndarray,
    cascade: Cascade | CompiledCascade,
    scale_factor: float = 1.1,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
    scan: str = "pyramid",
) -> tuple[np.ndarray, np.ndarray]:
    """All accepted windows over the pyramid, before grouping: boxes (N, 4) and last stage
    sums (N,). ``scan``: "pyramid" (OpenCV's way, its boxes) or "features" (the features
    scaled instead of the image, :func:`vedere.detect.scan.scaled_features`: not OpenCV's
    boxes, and no resizing)."""
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
    gray = _check_gray(gray)
    compiled = cascade if isinstance(cascade, CompiledCascade) else CompiledCascade(cascade)
    window = compiled.cascade.window
    boxes, scores = [], []
    h, w = gray.shape
    if scan == "features":
        fs = scales((h, w), window, scale_factor, min_size, max_size)
        # windows as dense as the pyramid's: 2 level pixels apart below factor 2, 1 above
        steps = [max(1, round_half_even(f * (1 if f >= 2 else 2))) for f in fs]
        wins, hits = scan_scaled_features(gray, compiled, fs, steps)
        for (win_h, win_w), lv in zip(wins.tolist(), hits, strict=True):
            n = len(lv.xy)
            boxes.append(np.column_stack([lv.xy, np.full(n, win_w), np.full(n, win_h)]))
            scores.append(lv.score)
        if not boxes:
            return np.zeros((0, 4), np.int64), np.zeros(0)
        return np.concatenate(boxes).astype(np.int64), np.concatenate(scores)
    factors = [np.float32(f) for f in scales((h, w), window, scale_factor, min_size, max_size)]
    sizes = [(round_half_even(h / f32), round_half_even(w / f32)) for f32 in factors]
    steps = [1 if f32 >= 2 else 2 for f32 in factors]
    for f32, hits in zip(factors, scan_pyramid(gray, compiled, sizes, steps), strict=True):
        xy, sc = hits.xy, hits.score
        if not len(xy):
            continue
        bx = np.rint(xy.astype(np.float32) * f32).astype(np.int64)
        win_w = round_half_even(window[1] * f32)
        win_h = round_half_even(window[0] * f32)
        # OpenCV clips each box to the image (windows at the last position can overhang it)
        bw = np.minimum(win_w, w - bx[:, 0])
        bh = np.minimum(win_h, h - bx[:, 1])
        boxes.append(np.column_stack([bx, bw, bh]))
        scores.append(sc)
    if not boxes:
        return np.zeros((0, 4), np.int64), np.zeros(0)
    return np.concatenate(boxes), np.concatenate(scores)


def detect(
    gray: np.ndarray,
    cascade: Cascade,
    scale_factor: float = 1.1,
    min_neighbors: int = 3,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
    grouping: str = "opencv",
    mirror: bool = False,
    raw_window: bool = False,
    scan: str = "pyramid",
) -> Detections:
    """Find objects in a (H, W) uint8 grey image. ``min_size``/``max_size`` are (h, w) of the
    box; ``grouping``: "opencv" (minNeighbors clustering, as ``detectMultiScale``), "nms" or
    "none"; ``mirror`` also scans the left-right mirrored image (a profile cascade then finds
    faces turned either way); ``scan``: "pyramid" (OpenCV's windows) or "features" (opt-in:
    the features scaled, see :func:`detect_raw`). Images smaller than the window give no
    boxes.

    The boxes are the cascade's face boxes: each grouped window mapped by ``cascade.face_box``
    (:mod:`vedere.detect.facebox`; the identity for OpenCV's cascades, so their boxes are
    OpenCV's), clipped to the image; ``raw_window`` gives the grouped windows themselves."""
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, got {grouping!r}")
    if min_neighbors < 0:
        raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors}")
    gray = _check_gray(gray)
    compiled = CompiledCascade(cascade)
    boxes, scores = detect_raw(gray, compiled, scale_factor, min_size, max_size, scan)
    if mirror:
        mb, ms = detect_raw(gray[:, ::-1].copy(), compiled, scale_factor, min_size, max_size, scan)
        mb = mb.copy()
        mb[:, 0] = gray.shape[1] - mb[:, 0] - mb[:, 2]
        boxes, scores = np.concatenate([boxes, mb]), np.concatenate([scores, ms])
    if grouping == "none":
        found = Detections(boxes, np.ones(len(boxes)), np.ones(len(boxes), np.int64))
    elif grouping == "nms":
        kept, sc, support = non_max_suppression(boxes, scores, NMS_OVERLAP, min_neighbors)
        found = Detections(kept, sc, support)
    else:
        kept, counts = group_rectangles(boxes, min_neighbors)
        found = Detections(kept, counts.astype(np.float64), counts)
    if raw_window:
        return found
    return Detections(
        cascade.face_box.apply(found.boxes, gray.shape), found.scores, found.neighbors
    )


def detect_scaled(
    gray: np.ndarray,
    cascade: Cascade,
    max_pixels: int | None = None,
    max_side: int | None = None,
    **options: object,
) -> tuple[Detections, tuple[int, int]]:
    """:func:`detect` (``options`` are its keyword arguments) on the image shrunk to at most
    ``max_pixels`` pixels and ``max_side`` pixels a side (:mod:`vedere.detect.downscale`),
    boxes in the original image's pixels; also returns the (H, W) scanned. ``min_size`` and
    ``max_size`` apply to the boxes of the scanned image."""
    small, f = shrink_for_scan(_check_gray(gray), max_pixels, max_side)
    found = detect(small, cascade, **options)  # type: ignore[arg-type]
    boxes = scale_boxes_back(found.boxes, f)
    return Detections(boxes, found.scores, found.neighbors), (small.shape[0], small.shape[1])


def _check_gray(gray: np.ndarray) -> np.ndarray:
    g = np.asarray(gray)
    if g.ndim != 2 or g.dtype != np.uint8:
        raise ValueError(
            f"detection needs a 2-D uint8 grey image, got {g.dtype} {g.shape} "
            "(use vedere.detect.samples.to_gray)"
        )
    return np.ascontiguousarray(g)
