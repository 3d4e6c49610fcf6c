"""The detector's image pyramid, compiled with Numba (cached on disk): every level of the
image resized and its padded integral images — of the pixels, of their squares, and the
rotated one for tilted features — written in one pass per row (:func:`build_levels`), the
levels shared out among parts. A parallel and a serial build
(:class:`vedere.parallel.Kernel`); :mod:`vedere.detect.scan` runs the serial one, a level
at a time on each thread that :func:`vedere.parallel.share` gives one.
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
        # the horizontal pass of two source rows (kept while the next output row reads them
        # again: at the pyramid's small scale steps most rows share a source row with the
        # row before), this row's pixels and the previous row's (the rotated image)
        h_lo = np.zeros(max_w, dtype=np.int64)
        h_hi = np.zeros(max_w, dtype=np.int64)
        px = np.zeros(max_w, dtype=np.int64)
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
            # the level's column taps, as views (no index arithmetic in the inner loops)
            tx0 = x0[tx : tx + w]
            tx1 = x1[tx : tx + w]
            ta0 = a0[tx : tx + w]
            ta1 = a1[tx : tx + w]
            y_lo = -1  # the source rows that h_lo and h_hi hold
            y_hi = -1
            for r in range(h):
                if same:
                    row = gray[r]
                    for c in range(w):
                        px[c] = np.int64(row[c])
                else:
                    ys0 = y0[ty + r]
                    ys1 = y1[ty + r]
                    if ys0 != y_lo and ys0 == y_hi:
                        h_lo, h_hi = h_hi, h_lo
                        y_lo, y_hi = y_hi, y_lo
                    if ys0 != y_lo:
                        _horizontal(gray[ys0], tx0, tx1, ta0, ta1, h_lo[:w])
                        y_lo = ys0
                    if ys1 != y_hi:
                        _horizontal(gray[ys1], tx0, tx1, ta0, ta1, h_hi[:w])
                        y_hi = ys1
                    bb0 = np.int64(b0[ty + r])
                    bb1 = np.int64(b1[ty + r])
                    for c in range(w):
                        px[c] = (h_lo[c] * bb0 + h_hi[c] * bb1 + 32768) >> 16
                prev = off + r * stride
                cur = prev + stride
                ii[cur] = 0
                _accumulate(px, ii[prev + 1 : prev + 1 + w], ii[cur + 1 : cur + 1 + w], False)
                if squares:
                    sq[cur] = 0
                    _accumulate(px, sq[prev + 1 : prev + 1 + w], sq[cur + 1 : cur + 1 + w], True)
                if tilted:
                    # row Y = r + 1 of T from rows Y − 1 (at prev) and Y − 2 (prev − stride)
                    tp = tofs + prev
                    _rotated_row(
                        ii[tp + stride : tp + 2 * stride],
                        ii[tp : tp + stride],
                        ii[tp - stride : tp] if r >= 1 else ii[tp : tp + stride],
                        r >= 1,
                        px[:w],
                        prev_px[:w],
                    )
                    for c in range(w):
                        prev_px[c] = px[c]


@numba.njit(cache=True, inline="always")
def _rotated_row(out, above, above2, has_above2, px, prev_px):  # pragma: no cover
    """Row Y of the rotated integral image (w + 1 entries) from rows Y − 1 (``above``) and
    Y − 2 (``above2``, read only when ``has_above2``) and the pixels of image rows Y − 1
    (``px``) and Y − 2 (``prev_px``): T[Y, X] = T[Y−1, X−1] + T[Y−1, X+1] − T[Y−2, X] +
    i(X−1, Y−1) + i(X−1, Y−2), with T[Y, 0] = T[Y−1, 1] and no X + 1 term at X = w."""
    w = px.shape[0]
    if w < 1:
        return
    out[0] = above[1]
    if has_above2:
        for c in range(1, w):
            out[c] = (
                np.int64(above[c - 1]) + np.int64(above[c + 1]) - np.int64(above2[c])
                + px[c - 1] + prev_px[c - 1]
            )  # fmt: skip
    else:
        for c in range(1, w):
            out[c] = np.int64(above[c - 1]) + np.int64(above[c + 1]) + px[c - 1] + prev_px[c - 1]
    out[w] = np.int64(above[w - 1]) + px[w - 1] + prev_px[w - 1]


@numba.njit(cache=True, inline="always")
def _horizontal(row, x0, x1, a0, a1, out):  # pragma: no cover
    """The resize's horizontal pass of one source row: out[c] = a0[c]·row[x0[c]] +
    a1[c]·row[x1[c]] (8 fractional bits, exact)."""
    for c in range(out.shape[0]):
        out[c] = np.int64(row[x0[c]]) * np.int64(a0[c]) + np.int64(row[x1[c]]) * np.int64(a1[c])


@numba.njit(cache=True, inline="always")
def _accumulate(px, above, out, squared):  # pragma: no cover
    """One row of an integral image: out[c] = above[c] + Σ_{c' ≤ c} px[c'] (of px² when
    ``squared``), wrapping to ``out``'s dtype."""
    s = np.int64(0)
    for c in range(out.shape[0]):
        p = px[c]
        s += p * p if squared else p
        out[c] = np.int64(above[c]) + s


_build_levels = parallel.Kernel(_build_levels_impl)


def build_levels(in_parallel: bool, *args: object) -> None:
    """:func:`_build_levels_impl` (documented there, same arguments after ``in_parallel``)."""
    _build_levels.run(in_parallel, *args)
