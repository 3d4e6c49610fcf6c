"""The integral image: any rectangle's sum in four look-ups.

Viola and Jones (2001), as the course writes it, with s the cumulative row sum:

    s(x, y)  = s(x, y - 1) + i(x, y)          s(x, -1) = 0
    ii(x, y) = ii(x - 1, y) + s(x, y)          ii(-1, y) = 0

so ii(x, y) = Σ_{x' ≤ x, y' ≤ y} i(x', y'). Here arrays are indexed [row, column] and the
result is padded with a leading row and column of zeros (as OpenCV's ``cv2.integral``), so
that ``ii[r, c]`` is the sum of ``img[:r, :c]`` and a rectangle needs no bounds checks:

    sum(img[r0:r1, c0:c1]) = ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]   (A - B - C + D)

The squared integral image (of i²) gives a window's variance in the same four look-ups.

**The rotated (45°) integral image** (Lienhart & Maydt 2002; OpenCV's ``tilted`` output of
``cv2.integral3``), padded the same way: T[Y, X] is the sum of the pixels in the triangle
whose apex is pixel (X − 1, Y − 1) and which widens upwards at 45°,

    T[Y, X] = Σ { i(x, y) : y < Y, |x − X + 1| ≤ Y − 1 − y },

computed row by row with the recurrence (T[−1, ·] = T[0, ·] = 0, i outside the image 0)

    T[Y, X] = T[Y−1, X−1] + T[Y−1, X+1] − T[Y−2, X] + i(X−1, Y−1) + i(X−1, Y−2)

for 0 < X < W, and at the two edges T[Y, 0] = T[Y−1, 1] and
T[Y, W] = T[Y−1, W−1] + i(W−1, Y−1) + i(W−1, Y−2) (the triangles there lose the part that
would lie outside the image). In the rotated coordinates a = x + y, b = y − x the triangle
is the quadrant a ≤ X + Y − 2, b ≤ Y − X, so a rotated rectangle (x, y, w, h) — top corner
at (x, y), w pixels down-right and h pixels down-left at 45° — is the pixels with
x + y − 2 < a ≤ x + y + 2w − 2 and y − x < b ≤ y − x + 2h, and its sum takes four look-ups:

    T[y, x] − T[y + h, x − h] − T[y + w, x + w] + T[y + w + h, x + w − h].
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


def tilted_integral_image_loops(img: np.ndarray) -> np.ndarray:
    """The rotated integral image by the recurrence of the module's docstring, one entry at a
    time (slow; for teaching and for testing). Returns (H + 1, W + 1) int64 / float64."""
    img = _check_image(img)
    h, w = img.shape
    acc = np.float64 if img.dtype.kind == "f" else np.int64
    t = np.zeros((h + 1, w + 1), dtype=acc)

    def i(x: int, y: int) -> object:
        return acc(img[y, x]) if 0 <= x < w and 0 <= y < h else acc(0)

    for yy in range(1, h + 1):
        two_up = t[yy - 2] if yy >= 2 else np.zeros(w + 1, dtype=acc)
        for xx in range(w + 1):
            if xx == 0:
                t[yy, 0] = t[yy - 1, 1] if w >= 1 else 0
            elif xx == w:
                t[yy, xx] = t[yy - 1, xx - 1] + i(xx - 1, yy - 1) + i(xx - 1, yy - 2)
            else:
                t[yy, xx] = (
                    t[yy - 1, xx - 1]
                    + t[yy - 1, xx + 1]
                    - two_up[xx]
                    + i(xx - 1, yy - 1)
                    + i(xx - 1, yy - 2)
                )
    return t


def tilted_integral_image(img: np.ndarray) -> np.ndarray:
    """The rotated integral image, vectorised: the pixels moved to the rotated coordinates
    (a = x + y, b = y − x + W − 1), two cumulative sums there, and T[Y, X] read off at
    (X + Y − 2, Y − X + W − 1) (clipped to the grid). (H + 1, W + 1) int64 / float64."""
    img = _check_image(img)
    return tilted_integral_images(img[None])[0]


def tilted_integral_images(stack: np.ndarray) -> np.ndarray:
    """:func:`tilted_integral_image` of each of a stack of images (N, H, W): (N, H+1, W+1)."""
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"images must be a (N, H, W) stack, got shape {stack.shape}")
    n_img, h, w = stack.shape
    acc = np.float64 if stack.dtype.kind == "f" else np.int64
    out = np.zeros((n_img, h + 1, w + 1), dtype=acc)
    if h == 0 or w == 0:
        return out
    n = h + w - 1
    grid = np.zeros((n_img, n, n), dtype=acc)
    yy, xx = np.mgrid[0:h, 0:w]
    grid[:, xx + yy, yy - xx + w - 1] = stack
    np.cumsum(grid, axis=1, out=grid)
    np.cumsum(grid, axis=2, out=grid)
    ys, xs = np.mgrid[0 : h + 1, 0 : w + 1]
    a = xs + ys - 2
    b = np.minimum(ys - xs + w - 1, n - 1)
    ok = (a >= 0) & (b >= 0)
    out[:, ok] = grid[:, np.minimum(a[ok], n - 1), b[ok]]
    return out


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
