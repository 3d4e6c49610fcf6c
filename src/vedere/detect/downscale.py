"""Large photos are scanned smaller: the detector's cost grows with the pixels scanned (the
pyramid holds about 5.8× the image's pixels at scale factor 1.1), so a photo above a pixel or
side limit is resized for the scan and the boxes found are scaled back to its own pixels.

One rule for the command line (``vedere detect --max-pixels``) and the playground (longest
side 1280): the factor f = min(1, max_side / max(H, W), √(max_pixels / (H·W))); the scanned
image is the grey image resized (Pillow's bilinear filter, which averages when shrinking) to
round(W·f) × round(H·f) — fewer pixels if rounding up would pass ``max_pixels`` — and each
box coordinate found there becomes round(v / f).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from vedere.detect.limits import DEFAULT_MAX_PIXELS

__all__ = ["DEFAULT_MAX_PIXELS", "scale_boxes_back", "scan_size", "shrink_for_scan"]


def scan_size(
    height: int, width: int, max_pixels: int | None = None, max_side: int | None = None
) -> tuple[tuple[int, int], float]:
    """((H', W') to scan, factor f ≤ 1) for an H×W image under the limits (None: no limit)."""
    if height < 1 or width < 1:
        raise ValueError(f"image must have pixels, got {width}x{height}")
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, got {max_pixels}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    f = 1.0
    if max_side is not None:
        f = min(f, max_side / max(height, width))
    if max_pixels is not None:
        f = min(f, math.sqrt(max_pixels / (height * width)))
    if f >= 1.0:
        return (height, width), 1.0
    h, w = max(1, round(height * f)), max(1, round(width * f))
    if max_pixels is not None and h * w > max_pixels:
        h, w = max(1, math.floor(height * f)), max(1, math.floor(width * f))
        while h * w > max_pixels:  # float rounding in f; one step is always enough in practice
            h, w = max(1, h - (h >= w)), max(1, w - (w > h))
    return (h, w), f


def shrink_for_scan(
    gray: np.ndarray, max_pixels: int | None = None, max_side: int | None = None
) -> tuple[np.ndarray, float]:
    """The (H', W') uint8 grey image to scan and the factor f (1.0: ``gray`` itself)."""
    (h, w), f = scan_size(gray.shape[0], gray.shape[1], max_pixels, max_side)
    if f == 1.0:
        return gray, f
    small = Image.fromarray(np.ascontiguousarray(gray)).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(small), f


def scale_boxes_back(boxes: np.ndarray, f: float) -> np.ndarray:
    """Boxes (K, 4) found on the image scanned at factor f, in the original image's pixels:
    round(v / f) (half to even), int64."""
    b = np.asarray(boxes).reshape(-1, 4)
    if f == 1.0:
        return b.astype(np.int64)
    return np.rint(b / f).astype(np.int64)
