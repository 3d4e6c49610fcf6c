"""The integral image: any rectangle's sum in four look-ups.

Viola and Jones (2001), as the course writes it, with s the cumulative row sum:

    s(x, y)  = s(x, y - 1) + i(x, y)          s(x, -1) = 0
    ii(x, y) = ii(x - 1, y) + s(x, y)          ii(-1, y) = 0

so ii(x, y) = Σ_{x' ≤ x, y' ≤ y} i(x', y'). Here arrays are indexed [row, column] and the
result is padded with a leading row and column of zeros (as OpenCV's ``cv2.integral``), so
that ``ii[r, c]`` is the sum of ``img[:r, :c]`` and a rectangle needs no bounds checks:

    sum(img[r0:r1, c0:c1]) = ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]   (A - B - C + D)

The squared integral image (of i²) gives a window's variance in the same four look-ups.
"""

from __future__ import annotations

import numpy as np


def _check_image(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D (grey levels), got shape {img.shape}")
    if img.dtype.kind not in "biuf":
        raise ValueError(f"image must hold numbers, got dtype {img.dtype}")
    return img


def integral_image_loops(img: np.ndarray) -> np.ndarray:
    """The course's two recurrences, literally, one pixel at a time (slow; for teaching and
    for testing the vectorised version). Returns (H + 1, W + 1) int64 / float64."""
    img = _check_image(img)
    h, w = img.shape
    acc = np.float64 if img.dtype.kind == "f" else np.int64
    ii = np.zeros((h + 1, w + 1), dtype=acc)
    for c in range(w):  # x: the column
        s = 0  # s(x, -1) = 0
        for r in range(h):  # y: the row
            s = s + acc(img[r, c])  # s(x, y) = s(x, y-1) + i(x, y)
            ii[r + 1, c + 1] = ii[r + 1, c] + s  # ii(x, y) = ii(x-1, y) + s(x, y)
    return ii


def integral_image(img: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Vectorised integral image, (H + 1, W + 1): two cumulative sums. Integer images give
    int64 (exact for any 8- or 16-bit image of up to 2^47 pixels), float images float64."""
    img = _check_image(img)
    acc = dtype or (np.float64 if img.dtype.kind == "f" else np.int64)
    ii = np.zeros((img.shape[0] + 1, img.shape[1] + 1), dtype=acc)
    np.cumsum(img, axis=0, dtype=acc, out=ii[1:, 1:])
    np.cumsum(ii[1:, 1:], axis=1, out=ii[1:, 1:])
    return ii


def squared_integral_image(img: np.ndarray) -> np.ndarray:
    """The integral image of i², for Σi² over any window (float64: no overflow)."""
    img = _check_image(img).astype(np.float64)
    return integral_image(img * img)


def rect_sum(
    ii: np.ndarray,
    r0: int | np.ndarray,
    c0: int | np.ndarray,
    r1: int | np.ndarray,
    c1: int | np.ndarray,
) -> np.ndarray:
    """Σ img[r0:r1, c0:c1] from the padded integral image: four look-ups, A - B - C + D.
    Works element-wise on arrays of corners too."""
    return ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]


def window_mean_std(
    ii: np.ndarray, ii2: np.ndarray, r: int, c: int, h: int, w: int
) -> tuple[float, float]:
    """Mean and standard deviation of the h×w window at (r, c): σ² = E[i²] - E[i]²."""
    n = h * w
    s = float(rect_sum(ii, r, c, r + h, c + w))
    s2 = float(rect_sum(ii2, r, c, r + h, c + w))
    mean = s / n
    return mean, float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
