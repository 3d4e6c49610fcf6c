"""The detector's image pyramid, compiled with Numba (cached on disk): every level of the
image resized and its padded integral images — of the pixels, of their squares, and the
rotated one for tilted features — written in one pass per row (:func:`build_levels`), the
levels shared out among parallel parts. A parallel and a serial build
(:class:`vedere.parallel.Kernel`); :mod:`vedere.detect.scan` chooses by the pixel count.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere import parallel


def _build_levels_impl(
    gray: np.ndarray,
    lv_w: np.ndarray,
    lv_h: np.ndarray,
    lv_off: np.ndarray,
    tx_off: np.ndarray,
    ty_off: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    b0: np.ndarray,
    b1: np.ndarray,
    part_of: np.ndarray,
    n_parts: int,
    ii: np.ndarray,
    sq: np.ndarray,
    squares: bool,
    tofs: int,
) -> None:
    """Resize ``gray`` to every level and write the level's padded integral image and that of
    its square in one pass per row. Level l is (lv_h[l], lv_w[l]); its integral images take
    (lv_h[l] + 1) rows of lv_w[l] + 1 entries at ``ii[lv_off[l]:]`` / ``sq[lv_off[l]:]``.
    Without ``squares`` (LBP cascades: no variance) ``sq`` is not written. With ``tofs`` > 0
    (cascades with tilted features) the level's rotated integral image
    (:mod:`vedere.detect.integral`: T[Y, X] = T[Y−1, X−1] + T[Y−1, X+1] − T[Y−2, X] +
    i(X−1, Y−1) + i(X−1, Y−2), and its two edge cases) is written too, at
    ``ii[tofs + lv_off[l]:]``, laid out like the upright one.

    The resize is :func:`vedere.detect.resize.resize_linear` (OpenCV's INTER_LINEAR_EXACT):
    pixel (r, c) = (b0·H(y0) + b1·H(y1) + 2¹⁵) ≫ 16 with H(y) = a0·S[y, x0] + a1·S[y, x1],
    the taps of column c at tx_off[l] + c and of row r at ty_off[l] + r; a level the size of
    the image is the image (the same pixels, without the arithmetic).

    ``ii`` and ``sq`` are int32 and wrap (as OpenCV's CV_32S sums): any rectangle's true sum
    is the low 32 bits of its four-corner difference as long as that sum is below 2³², and a
    window's sums are (a 24×24 window's Σi² ≤ 576·255² < 2²⁶); or int64, for windows of more
    than 2³²/255² ≈ 66,000 pixels. Levels go to ``n_parts``
    parallel parts by ``part_of``."""
    tilted = tofs > 0
    max_w = 1
    for lvl in range(lv_w.shape[0]):
        max_w = max(max_w, lv_w[lvl])
    for part in numba.prange(n_parts):
        # this row's and the previous row's pixels (for the rotated integral image)
        cur_px = np.zeros(max_w if tilted else 1, dtype=np.int64)
        prev_px = np.zeros(max_w if tilted else 1, dtype=np.int64)
        for lvl in range(lv_w.shape[0]):
            if part_of[lvl] != part:
                continue
            w = lv_w[lvl]
            h = lv_h[lvl]
            stride = w + 1
            off = lv_off[lvl]
            tx = tx_off[lvl]
            ty = ty_off[lvl]
            for c in range(stride):
                ii[off + c] = 0
                if squares:
                    sq[off + c] = 0
                if tilted:
                    ii[tofs + off + c] = 0
            if tilted:
                for c in range(w):
                    prev_px[c] = 0
            same = h == gray.shape[0] and w == gray.shape[1]  # the image itself: no resize
            for r in range(h):
                row0 = gray[y0[ty + r]]
                row1 = gray[y1[ty + r]]
                bb0 = np.int64(b0[ty + r])
                bb1 = np.int64(b1[ty + r])
                prev = off + r * stride
                cur = prev + stride
                ii[cur] = 0
                if squares:
                    sq[cur] = 0
                s = np.int64(0)
                s2 = np.int64(0)
                for c in range(w):
                    if same:
                        p = np.int64(row0[c])
                    else:
                        i0 = x0[tx + c]
                        i1 = x1[tx + c]
                        w0 = np.int64(a0[tx + c])
                        w1 = np.int64(a1[tx + c])
                        h0 = np.int64(row0[i0]) * w0 + np.int64(row0[i1]) * w1
                        h1 = np.int64(row1[i0]) * w0 + np.int64(row1[i1]) * w1
                        p = (h0 * bb0 + h1 * bb1 + 32768) >> 16
                    s += p
                    ii[cur + c + 1] = np.int64(ii[prev + c + 1]) + s
                    if squares:
                        s2 += p * p
                        sq[cur + c + 1] = np.int64(sq[prev + c + 1]) + s2
                    if tilted:
                        cur_px[c] = p
                if tilted:
                    # row Y = r + 1 of T from rows Y − 1 (at prev) and Y − 2 (prev − stride)
                    tc = tofs + cur
                    tp = tofs + prev
                    tq = tp - stride
                    if w >= 1:
                        ii[tc] = ii[tp + 1]
                    for c in range(1, w):
                        t = np.int64(ii[tp + c - 1]) + np.int64(ii[tp + c + 1])
                        if r >= 1:
                            t -= np.int64(ii[tq + c])
                        ii[tc + c] = t + cur_px[c - 1] + prev_px[c - 1]
                    if w >= 1:
                        ii[tc + w] = np.int64(ii[tp + w - 1]) + cur_px[w - 1] + prev_px[w - 1]
                    for c in range(w):
                        prev_px[c] = cur_px[c]


_build_levels = parallel.Kernel(_build_levels_impl)


def build_levels(in_parallel: bool, *args: object) -> None:
    """:func:`_build_levels_impl` (documented there, same arguments after ``in_parallel``)."""
    _build_levels.run(in_parallel, *args)
