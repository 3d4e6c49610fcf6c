"""Bilinear down-scaling of grey images, in OpenCV's bit-exact fixed-point arithmetic.

The detector scans an image pyramid; to find the same windows as ``cv2.CascadeClassifier``
its levels must hold the same pixels, and OpenCV builds them with
``cv2.resize(…, INTER_LINEAR_EXACT)``:

- destination pixel d samples the source at f = (d + ½)·(src/dst) − ½ (double), clamped to
  the image; i = ⌊f⌋ and the weights are a₁ = round((f − i)·256), a₀ = 256 − a₁ (8-bit
  fixed point, so they sum to exactly 1);
- horizontal pass: H = a₀·S[i] + a₁·S[i+1] (exact, 8 fractional bits);
- vertical pass with the row weights b₀, b₁: (b₀·H₀ + b₁·H₁ + 2¹⁵) ≫ 16 (round half up).

Tests check it against ``cv2.resize`` pixel for pixel.
"""

from __future__ import annotations

import numpy as np

FRACTION_BITS = 8
ONE = 1 << FRACTION_BITS


def taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per destination index: the two source indices and their 8-bit fixed-point weights."""
    scale = 1.0 / (dst / src)
    f = (np.arange(dst) + 0.5) * scale - 0.5
    i = np.floor(f).astype(np.int64)
    frac = f - i
    low = i < 0
    frac[low], i[low] = 0.0, 0
    high = i >= src - 1
    frac[high], i[high] = 0.0, src - 1
    a1 = np.rint(frac * ONE).astype(np.int64)
    return i, np.minimum(i + 1, src - 1), ONE - a1, a1


def resize_linear(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a (H, W) uint8 image to (height, width) as ``cv2.resize(INTER_LINEAR_EXACT)``."""
    g = np.asarray(gray)
    if g.ndim != 2 or g.dtype != np.uint8:
        raise ValueError(f"image must be a 2-D uint8 array, got {g.dtype} {g.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    if (height, width) == g.shape:
        return g.copy()
    x0, x1, a0, a1 = taps(g.shape[1], width)
    y0, y1, b0, b1 = taps(g.shape[0], height)
    rows = np.unique(np.concatenate([y0, y1]))
    src = g[rows].astype(np.int32)
    h = src[:, x0] * a0.astype(np.int32) + src[:, x1] * a1.astype(np.int32)  # 8 fraction bits
    h0 = h[np.searchsorted(rows, y0)]
    h1 = h[np.searchsorted(rows, y1)]
    out = (h0 * b0[:, None].astype(np.int32) + h1 * b1[:, None].astype(np.int32) + (1 << 15)) >> 16
    return np.clip(out, 0, 255).astype(np.uint8)


def resize_crops(
    gray: np.ndarray, width: int, height: int, xy: np.ndarray, window: tuple[int, int]
) -> np.ndarray:
    """The (h, w) = ``window`` crops at each (x, y) of ``xy`` (M, 2) of ``gray`` resized to
    (height, width) — ``resize_linear(gray, width, height)[y:y + h, x:x + w]`` for each —
    computed for the crops' pixels only: (M, h, w) uint8. The crops must lie inside."""
    g = np.asarray(gray)
    wh, ww = window
    pos = np.asarray(xy, dtype=np.int64).reshape(-1, 2)
    if len(pos) and (
        pos.min() < 0 or (pos[:, 0] + ww).max() > width or (pos[:, 1] + wh).max() > height
    ):
        raise ValueError(f"crops of {ww}x{wh} must lie inside the {width}x{height} level")
    x0, x1, a0, a1 = (t.astype(np.int32) for t in taps(g.shape[1], width))
    y0, y1, b0, b1 = (t.astype(np.int32) for t in taps(g.shape[0], height))
    cols = pos[:, 0, None] + np.arange(ww)  # (M, w)
    rows = pos[:, 1, None] + np.arange(wh)  # (M, h)

    def horizontal(r: np.ndarray) -> np.ndarray:  # (M, h, w), 8 fraction bits
        ri = r[:, :, None]
        p0 = g[ri, x0[cols][:, None, :]].astype(np.int32)  # only the crops' pixels widened
        p1 = g[ri, x1[cols][:, None, :]].astype(np.int32)
        return p0 * a0[cols][:, None, :] + p1 * a1[cols][:, None, :]

    h0, h1 = horizontal(y0[rows]), horizontal(y1[rows])
    out = (h0 * b0[rows][:, :, None] + h1 * b1[rows][:, :, None] + (1 << 15)) >> 16
    return np.clip(out, 0, 255).astype(np.uint8)
