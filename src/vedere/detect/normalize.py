"""Variance normalisation of detection windows (Viola–Jones §5.1), as OpenCV computes it.

A feature's value is divided by n_f = sqrt(A·Σi² − (Σi)²) = A·σ, with the sums taken over
the window's inner rectangle (a one-pixel border left out: 22×22 = 484 pixels for a 24×24
window) and A its area — so lighting that scales or shifts the grey levels leaves the values
unchanged. Like OpenCV, a window is not examined at all when n_f ≤ 0 or when A/n_f ≥ 0.1
(σ ≤ 10 grey levels: flat sky, a wall), since no face is that flat.
"""

from __future__ import annotations

import numpy as np

from vedere.detect.integral import integral_image

#: a window is examined only when A/n_f = 1/σ is below this (σ > 10 grey levels), as in OpenCV
VARIANCE_FLOOR = 0.1


def inner_rect(height: int, width: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the normalisation rectangle of a height×width window."""
    return 1, 1, width - 2, height - 2


def norm_factors(sums: np.ndarray, sqsums: np.ndarray, area: int) -> tuple[np.ndarray, np.ndarray]:
    """From Σi and Σi² over the inner rectangle (any shape, int64 / float64): the float32
    factors 1/n_f and a mask of windows that are examined (n_f > 0 and A/n_f < 0.1)."""
    nf = area * np.asarray(sqsums, dtype=np.float64) - np.asarray(sums, np.float64) ** 2
    ok = nf > 0
    inv = np.ones(nf.shape, dtype=np.float32)
    inv[ok] = (1.0 / np.sqrt(nf[ok])).astype(np.float32)
    ok &= np.float32(area) * inv < np.float32(VARIANCE_FLOOR)
    return inv, ok


def window_integrals(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a stack of windows (N, H, W) uint8: their padded integral images (N, H+1, W+1)
    int64, 1/n_f (N,) float32 and the examined mask (N,) bool."""
    windows = np.asarray(windows)
    if windows.ndim != 3:
        raise ValueError(f"windows must be (N, H, W) grey images, got shape {windows.shape}")
    n, h, w = windows.shape
    ii = np.zeros((n, h + 1, w + 1), dtype=np.int64)
    np.cumsum(windows, axis=1, dtype=np.int64, out=ii[:, 1:, 1:])
    np.cumsum(ii[:, 1:, 1:], axis=2, out=ii[:, 1:, 1:])
    x, y, rw, rh = inner_rect(h, w)
    inner = windows[:, y : y + rh, x : x + rw].astype(np.int64)
    sums = inner.sum(axis=(1, 2))
    sqsums = (inner * inner).sum(axis=(1, 2))
    inv, ok = norm_factors(sums, sqsums, rw * rh)
    return ii, inv, ok


def image_integrals(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded integral images of a grey image and of its square, both int64."""
    g = np.asarray(gray, dtype=np.int64)
    return integral_image(g), integral_image(g * g)
