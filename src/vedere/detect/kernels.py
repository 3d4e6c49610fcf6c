"""The detector's hot loops, compiled with Numba (plain Python loops, JIT-compiled on first
use and cached on disk): the best-stump pass of AdaBoost, the detector's pyramid and window
scan (:func:`build_levels`, :func:`scan_levels`) and the clustering of raw detections
(:func:`cluster_labels_grid`, :func:`cluster_labels_sweep`, :func:`greedy_nms`).

These are loops with a data-dependent exit or a running state that NumPy cannot express
without materialising F × N temporaries; everything else stays in NumPy.

**Threads.** The stump pass and the detector's kernels are ``parallel=True``. The threading
layer vedere selects (``workqueue``, :mod:`vedere.parallel`) aborts the whole process when
two Python threads launch parallel kernels at once — and the playground runs detections in
Starlette's thread pool. So every parallel call goes through :data:`PARALLEL_LOCK`, the
process-wide lock of :mod:`vedere.parallel`: one parallel kernel runs at a time (it already
uses every core), whatever the threading layer. The detector's kernels also have serial
builds without the GIL, for jobs too small to be worth waking the worker threads; any number
of those run at once, beside a parallel one.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numba
import numpy as np

from vedere import parallel
from vedere.detect.normalize import VARIANCE_FLOOR

#: the scan kernel's LBP branches, a compile-time constant of each build (see _named)
_LBP_KERNEL = False

#: held while a parallel kernel runs (see the module's docstring): the process-wide lock
#: that the nn kernels hold too (a detection and a training step run in different threads)
PARALLEL_LOCK = parallel.PARALLEL_LOCK


def stump_errors(
    order: np.ndarray,
    signed: np.ndarray,
    t_pos: float,
    t_neg: float,
    flag: int,
    out: np.ndarray,
) -> None:
    """:func:`_stump_errors` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _stump_errors(order, signed, t_pos, t_neg, flag, out)


@numba.njit(parallel=True, cache=True)
def _stump_errors(
    order: np.ndarray,
    signed: np.ndarray,
    t_pos: float,
    t_neg: float,
    flag: int,
    out: np.ndarray,
) -> None:
    """out[f] = min over allowed splits k of min(T₊ − c_k, T₋ + c_k), c_k the running sum of
    ``signed`` in feature f's ``order``; a split after position k is allowed unless k's tie
    flag (``flag``, the top bit) says the next value is equal. The empty prefix (c = 0) is
    allowed."""
    n_f, n = order.shape
    mask = flag - 1
    for f in numba.prange(n_f):
        row = order[f]
        c = 0.0
        hi = 0.0
        lo = 0.0
        for k in range(n):
            e = row[k]
            c += signed[e & mask]
            if (e & flag) == 0:
                if c > hi:
                    hi = c
                elif c < lo:
                    lo = c
        out[f] = min(t_pos - hi, t_neg + lo)


def lbp_codes(ii: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """:func:`_lbp_codes` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _lbp_codes(ii, corners, out)


@numba.njit(parallel=True, cache=True)
def _lbp_codes(ii: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """LBP codes (:mod:`vedere.detect.lbp`) of F features on N windows: ``ii`` (N, S) int64
    flattened padded integral images, ``corners`` (F, 16) int64 offsets of each feature's
    4×4 grid corners (row i, column j at 4i + j), ``out`` (F, N) uint8."""
    n_f = corners.shape[0]
    n = ii.shape[0]
    for f in numba.prange(n_f):
        c = corners[f]
        for i in range(n):
            row = ii[i]
            centre = row[c[5]] - row[c[6]] - row[c[9]] + row[c[10]]
            code = 0
            for bit in range(8):
                a = _LBP_CORNER[bit]
                if row[c[a]] - row[c[a + 1]] - row[c[a + 4]] + row[c[a + 5]] >= centre:
                    code |= 128 >> bit
            out[f, i] = code


def lbp_errors(codes: np.ndarray, signed: np.ndarray, out: np.ndarray) -> None:
    """:func:`_lbp_errors` (documented there), one parallel kernel at a time."""
    with PARALLEL_LOCK:
        _lbp_errors(codes, signed, out)


@numba.njit(parallel=True, cache=True)
def _lbp_errors(codes: np.ndarray, signed: np.ndarray, out: np.ndarray) -> None:
    """The best categorical stump's error per LBP feature: with the signed weights s_i
    (+w face, −w non-face) summed per code c into W₊(c) and W₋(c), the set S = {c : W₊(c) >
    W₋(c)} errs by Σ_c min(W₊(c), W₋(c)). ``codes`` (F, N) uint8; ``out`` (F,) float64."""
    n_f, n = codes.shape
    for f in numba.prange(n_f):
        pos = np.zeros(256)
        neg = np.zeros(256)
        row = codes[f]
        for i in range(n):
            w = signed[i]
            if w > 0:
                pos[row[i]] += w
            else:
                neg[row[i]] -= w
        e = 0.0
        for c in range(256):
            e += min(pos[c], neg[c])
        out[f] = e


#: a rectangle sum's true value, from integral images stored as wrapping int32 (see
#: :func:`_build_levels`): the low 32 bits of the four-corner difference
LOW32 = 0xFFFFFFFF


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


@numba.njit(cache=True, inline="always")
def _window_inv_norm(ii, sq, o, n_a, n_c, nw, mask, area, area32, limit):  # pragma: no cover
    """1 / √(A·Σx² − (Σx)²) of the window at offset ``o`` (its normalisation rectangle's
    corners at o + n_a, o + n_c and nw further), as OpenCV's scan computes it, in 64-bit
    integer sums wrapped by ``mask``; 0 for a window the scan skips (a flat window, or one
    whose A·inv is not below ``limit``). Shared by the stump and the tree/LBP scans."""
    s = (
        np.int64(ii[o + n_c + nw])
        - np.int64(ii[o + n_a + nw])
        - np.int64(ii[o + n_c])
        + np.int64(ii[o + n_a])
    ) & mask
    s2 = (
        np.int64(sq[o + n_c + nw])
        - np.int64(sq[o + n_a + nw])
        - np.int64(sq[o + n_c])
        + np.int64(sq[o + n_a])
    ) & mask
    nf = area * np.float64(s2) - np.float64(s) * np.float64(s)
    if nf <= 0.0:
        return np.float32(0.0)
    inv = np.float32(1.0 / np.sqrt(nf))
    if not (area32 * inv < limit):
        return np.float32(0.0)
    return inv


def _scan_levels_impl(
    ii: np.ndarray,
    sq: np.ndarray,
    mask: int,
    lv_off: np.ndarray,
    lv_w: np.ndarray,
    lv_nx: np.ndarray,
    lv_step: np.ndarray,
    task_level: np.ndarray,
    task_y: np.ndarray,
    task_out: np.ndarray,
    n_parts: int,
    lv_set: np.ndarray,
    norm: np.ndarray,
    rects: np.ndarray,
    n_rects: np.ndarray,
    node_tofs: np.ndarray,
    stumps: np.ndarray,
    links: np.ndarray,
    subsets: np.ndarray,
    weak_ends: np.ndarray,
    stage_ends: np.ndarray,
    stage_thr: np.ndarray,
    lbp: bool,
    skip_rejected: bool,
    hit: np.ndarray,
    score: np.ndarray,
) -> None:
    """OpenCV's scan (``CascadeClassifierInvoker``) of many pyramid levels at once. Task t is
    row y = task_y[t] of level task_level[t]: windows at x = 0, step, 2·step, … < lv_nx; the
    tasks are dealt to ``n_parts`` parallel parts in turn (t, t + n_parts, …), so neighbouring
    rows — of about equal cost — land in different parts.

    Which of the two this is, is fixed when a build is compiled (the constant
    ``_LBP_KERNEL``: :func:`scan_trees`, :func:`scan_lbp`); ``lbp`` says the same. Haar: a
    window whose inner-rectangle variance is too small
    (:mod:`vedere.detect.normalize`) is skipped; otherwise a node's value is
    v = Σᵣ wᵣ·rectᵣ / n_f in float32, rect by rect, and the walk goes left when v < its
    threshold. LBP: every window is examined, a node's value is its 8-bit code
    (:mod:`vedere.detect.lbp`) from 16 corners, and the walk goes left when the code's bit is
    set in the node's ``subsets`` (8) uint32 words. Each tree is walked from its first node
    to a leaf; each stage sums its trees' leaves and rejects the window when the sum is below
    the stage threshold; a window rejected by the first stage makes the scan skip the next
    position (``skip_rejected``, as OpenCV does).

    ``ii``, ``sq``: the levels' integral images as :func:`_build_levels` writes them (row
    length lv_w + 1; a tilted rectangle reads the rotated one, ``node_tofs`` (N,) entries
    further on: 0 for upright nodes); ``mask``: LOW32 for int32 buffers (sums modulo 2³²),
    −1 (all bits) for int64 ones, which windows whose Σi² may reach 2³² need. Level l uses
    feature set lv_set[l] (the pyramid: one set for every level; scaled features: one set
    per scale, every level the same image): ``norm`` (S, 4) the normalisation rectangle
    (x, y, w, h); ``rects`` (S, N, 3, 4) int64 (x, y, w, h) of each node's feature with its
    ``n_rects`` (N,) used ones first (tilted: the four corners are p₀ (x, y),
    p₁ (x − h, y + h), p₂ (x + w, y + w), p₃ (x + w − h, y + w + h); LBP: the grid's
    x, y and block size in row 0); ``stumps`` (S, N, 8) float32: threshold, left leaf, right
    leaf and the rectangles' weights; ``links`` (N, 2) the node each side leads to (−1: its
    leaf), ``weak_ends`` (N,) one past the last node of each node's tree (where a walk goes
    on after a leaf), stage s owns nodes [stage_ends[s−1], stage_ends[s]). Window j of task t
    is ``hit[task_out[t] + j]`` (1: accepted) and its last stage sum
    ``score[task_out[t] + j]`` (written for accepted windows only)."""
    n_s = stage_ends.shape[0]
    n_w = rects.shape[1]
    n_tasks = task_level.shape[0]
    limit = np.float32(VARIANCE_FLOOR)
    for part in numba.prange(n_parts):
        # per part, for the level at hand: per node one 64-byte row, its number of rectangles
        # and their four corners' offsets from the window's origin (LBP: the 16 grid corners)
        table = np.zeros((n_w, 16), dtype=np.uint32)
        table_level = -1
        for t in range(part, n_tasks, n_parts):
            lvl = task_level[t]
            stride = lv_w[lvl] + 1
            fs = lv_set[lvl]
            if lvl != table_level:
                for k in range(n_w):
                    if _LBP_KERNEL:
                        gx, gy = rects[fs, k, 0, 0], rects[fs, k, 0, 1]
                        bw, bh = rects[fs, k, 0, 2], rects[fs, k, 0, 3]
                        for i in range(4):
                            for j in range(4):
                                table[k, 4 * i + j] = (gy + i * bh) * stride + gx + j * bw
                        continue
                    table[k, 0] = n_rects[k]
                    # the tree's links in the row's spare columns: child + 1 (0: a leaf) on
                    # each side, and one past the tree's last node
                    table[k, 13] = links[k, 0] + 1
                    table[k, 14] = links[k, 1] + 1
                    table[k, 15] = weak_ends[k]
                    for r in range(n_rects[k]):
                        rx, ry = rects[fs, k, r, 0], rects[fs, k, r, 1]
                        rw, rh = rects[fs, k, r, 2], rects[fs, k, r, 3]
                        if node_tofs[k] > 0:
                            tb = node_tofs[k]
                            table[k, 1 + 4 * r] = tb + ry * stride + rx
                            table[k, 2 + 4 * r] = tb + (ry + rh) * stride + rx - rh
                            table[k, 3 + 4 * r] = tb + (ry + rw) * stride + rx + rw
                            table[k, 4 + 4 * r] = tb + (ry + rw + rh) * stride + rx + rw - rh
                        else:
                            p = ry * stride + rx
                            q = p + rh * stride
                            table[k, 1 + 4 * r] = p
                            table[k, 2 + 4 * r] = p + rw
                            table[k, 3 + 4 * r] = q
                            table[k, 4 + 4 * r] = q + rw
                table_level = lvl
            nx, ny, nw, nh = norm[fs, 0], norm[fs, 1], norm[fs, 2], norm[fs, 3]
            area = np.float64(nw * nh)
            area32 = np.float32(area)
            n_a = ny * stride + nx
            n_c = n_a + nh * stride
            step = lv_step[lvl]
            n_x = lv_nx[lvl]
            base = lv_off[lvl] + task_y[t] * stride
            out = task_out[t]
            x = 0
            col = 0
            while x < n_x:
                o = base + x
                inv = np.float32(1.0)
                if not _LBP_KERNEL:
                    inv = _window_inv_norm(ii, sq, o, n_a, n_c, nw, mask, area, area32, limit)
                    if inv == 0.0:
                        x += step
                        col += 1
                        continue
                uo = np.uint64(o)
                start = 0
                passed = True
                total = 0.0
                for st in range(n_s):
                    end = stage_ends[st]
                    total = 0.0
                    nd = start
                    # one loop over the stage's nodes: a node's side leads to a later node
                    # of its tree, or to a leaf, and then on to the next tree's first node
                    while nd < end:
                        row = table[nd]
                        f = stumps[fs, nd]
                        if _LBP_KERNEL:
                            cv = (
                                np.int64(ii[uo + row[5]])
                                - np.int64(ii[uo + row[6]])
                                - np.int64(ii[uo + row[9]])
                                + np.int64(ii[uo + row[10]])
                            ) & mask
                            code = 0
                            for bit in range(8):
                                # the outer blocks clockwise from the top-left, whose
                                # top-left corners are these grid corners
                                a = _LBP_CORNER[bit]
                                bs = (
                                    np.int64(ii[uo + row[a]])
                                    - np.int64(ii[uo + row[a + 1]])
                                    - np.int64(ii[uo + row[a + 4]])
                                    + np.int64(ii[uo + row[a + 5]])
                                ) & mask
                                if bs >= cv:
                                    code |= 128 >> bit
                            left = ((subsets[nd, code >> 5] >> np.uint32(code & 31)) & 1) != 0
                        else:
                            v = np.float32(0.0)
                            for r in range(row[0]):
                                j = 4 * r
                                rs = (
                                    np.int64(ii[uo + row[j + 4]])
                                    - np.int64(ii[uo + row[j + 2]])
                                    - np.int64(ii[uo + row[j + 3]])
                                    + np.int64(ii[uo + row[j + 1]])
                                ) & mask
                                v += f[3 + r] * np.float32(rs)
                            left = v * inv < f[0]
                        side = 0 if left else 1
                        if _LBP_KERNEL:
                            nxt = links[nd, side]
                            after = weak_ends[nd]
                        else:
                            nxt = np.int64(row[13 + side]) - 1
                            after = np.int64(row[15])
                        if nxt < 0:
                            total += np.float64(f[1 + side])
                            nd = after
                        else:
                            nd = nxt
                    start = end
                    if total < stage_thr[st]:
                        passed = False
                        if st == 0 and skip_rejected:
                            x += step
                            col += 1
                        break
                if passed:
                    hit[out + col] = 1
                    score[out + col] = total
                x += step
                col += 1


def _scan_stumps_impl(
    ii: np.ndarray,
    sq: np.ndarray,
    mask: int,
    lv_off: np.ndarray,
    lv_w: np.ndarray,
    lv_nx: np.ndarray,
    lv_step: np.ndarray,
    task_level: np.ndarray,
    task_y: np.ndarray,
    task_out: np.ndarray,
    n_parts: int,
    lv_set: np.ndarray,
    norm: np.ndarray,
    rects: np.ndarray,
    n_rects: np.ndarray,
    node_tofs: np.ndarray,
    stumps: np.ndarray,
    links: np.ndarray,
    subsets: np.ndarray,
    weak_ends: np.ndarray,
    stage_ends: np.ndarray,
    stage_thr: np.ndarray,
    lbp: bool,
    skip_rejected: bool,
    hit: np.ndarray,
    score: np.ndarray,
) -> None:
    """:func:`_scan_levels_impl` for cascades of Haar stumps only (every stock Haar cascade
    but the trees): the same arguments (``links``, ``subsets``, ``weak_ends`` and ``lbp``
    unused) and results, without the tree walk — a stump's leaf straight from its row."""
    n_s = stage_ends.shape[0]
    n_w = rects.shape[1]
    n_tasks = task_level.shape[0]
    limit = np.float32(VARIANCE_FLOOR)
    for part in numba.prange(n_parts):
        # per part, for the level at hand: per stump one 64-byte row, its number of rectangles
        # and their four corners' offsets from the window's origin
        table = np.zeros((n_w, 16), dtype=np.uint32)
        table_level = -1
        for t in range(part, n_tasks, n_parts):
            lvl = task_level[t]
            stride = lv_w[lvl] + 1
            fs = lv_set[lvl]
            if lvl != table_level:
                for k in range(n_w):
                    table[k, 0] = n_rects[k]
                    for r in range(n_rects[k]):
                        rx, ry = rects[fs, k, r, 0], rects[fs, k, r, 1]
                        rw, rh = rects[fs, k, r, 2], rects[fs, k, r, 3]
                        if node_tofs[k] > 0:  # tilted: p0, p1, p2, p3 of the rotated image
                            tb = node_tofs[k]
                            table[k, 1 + 4 * r] = tb + ry * stride + rx
                            table[k, 2 + 4 * r] = tb + (ry + rh) * stride + rx - rh
                            table[k, 3 + 4 * r] = tb + (ry + rw) * stride + rx + rw
                            table[k, 4 + 4 * r] = tb + (ry + rw + rh) * stride + rx + rw - rh
                        else:
                            p = ry * stride + rx
                            q = p + rh * stride
                            table[k, 1 + 4 * r] = p
                            table[k, 2 + 4 * r] = p + rw
                            table[k, 3 + 4 * r] = q
                            table[k, 4 + 4 * r] = q + rw
                table_level = lvl
            nx, ny, nw, nh = norm[fs, 0], norm[fs, 1], norm[fs, 2], norm[fs, 3]
            area = np.float64(nw * nh)
            area32 = np.float32(area)
            n_a = ny * stride + nx
            n_c = n_a + nh * stride
            step = lv_step[lvl]
            n_x = lv_nx[lvl]
            base = lv_off[lvl] + task_y[t] * stride
            out = task_out[t]
            x = 0
            col = 0
            while x < n_x:
                o = base + x
                inv = _window_inv_norm(ii, sq, o, n_a, n_c, nw, mask, area, area32, limit)
                if inv == 0.0:
                    x += step
                    col += 1
                    continue
                uo = np.uint64(o)
                start = 0
                passed = True
                total = 0.0
                for st in range(n_s):
                    end = stage_ends[st]
                    total = 0.0
                    for k in range(start, end):
                        row = table[k]
                        f = stumps[fs, k]
                        v = np.float32(0.0)
                        for r in range(row[0]):
                            j = 4 * r
                            rs = (
                                np.int64(ii[uo + row[j + 4]])
                                - np.int64(ii[uo + row[j + 2]])
                                - np.int64(ii[uo + row[j + 3]])
                                + np.int64(ii[uo + row[j + 1]])
                            ) & mask
                            v += f[3 + r] * np.float32(rs)
                        v = v * inv
                        total += np.float64(f[1] if v < f[0] else f[2])
                    start = end
                    if total < stage_thr[st]:
                        passed = False
                        if st == 0 and skip_rejected:
                            x += step
                            col += 1
                        break
                if passed:
                    hit[out + col] = 1
                    score[out + col] = total
                x += step
                col += 1


#: per bit of an LBP code (most significant first), the grid corner at the top-left of its
#: block: blocks (0,0) (0,1) (0,2) (1,2) (2,2) (2,1) (2,0) (1,0) of the 4×4 corners
_LBP_CORNER = np.array([0, 1, 2, 6, 10, 9, 8, 4], dtype=np.int64)


#: the kernels in two builds: parallel (one at a time, under PARALLEL_LOCK) for big jobs, and
#: serial without the GIL (any number at once) for small ones, where waking the worker
#: threads costs more than the work
def _named(fn: Callable[..., None], suffix: str, **constants: object) -> Callable[..., None]:
    """A copy of ``fn`` under another name. Numba names its on-disk cache entries after the
    function, not after the compile options: two builds of one function would share entries,
    and the serial build would load the parallel one's machine code. ``constants`` replace
    globals of ``fn`` in the copy (Numba compiles a global as a constant, so a branch on one
    is compiled away)."""
    glob = {**fn.__globals__, **constants} if constants else fn.__globals__
    copy = types.FunctionType(fn.__code__, glob, fn.__name__ + suffix)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__doc__ = fn.__doc__
    return copy


_build_levels_parallel = numba.njit(parallel=True, cache=True)(
    _named(_build_levels_impl, "_parallel")
)
_build_levels_serial = numba.njit(cache=True, nogil=True)(_named(_build_levels_impl, "_serial"))
_scan_levels_parallel = numba.njit(parallel=True, cache=True)(
    _named(_scan_stumps_impl, "_parallel")
)
_scan_levels_serial = numba.njit(cache=True, nogil=True)(_named(_scan_stumps_impl, "_serial"))
_scan_trees_parallel = numba.njit(parallel=True, cache=True)(
    _named(_scan_levels_impl, "_trees_parallel", _LBP_KERNEL=False)
)
_scan_trees_serial = numba.njit(cache=True, nogil=True)(
    _named(_scan_levels_impl, "_trees_serial", _LBP_KERNEL=False)
)
_scan_lbp_parallel = numba.njit(parallel=True, cache=True)(
    _named(_scan_levels_impl, "_lbp_parallel", _LBP_KERNEL=True)
)
_scan_lbp_serial = numba.njit(cache=True, nogil=True)(
    _named(_scan_levels_impl, "_lbp_serial", _LBP_KERNEL=True)
)


def build_levels(parallel: bool, *args: object) -> None:
    """:func:`_build_levels_impl` (documented there, same arguments after ``parallel``)."""
    if parallel:
        with PARALLEL_LOCK:
            _build_levels_parallel(*args)
    else:
        _build_levels_serial(*args)


def scan_levels(parallel: bool, *args: object) -> None:
    """:func:`_scan_stumps_impl`: the scan of a cascade of Haar stumps (arguments after
    ``parallel`` as :func:`_scan_levels_impl`)."""
    if parallel:
        with PARALLEL_LOCK:
            _scan_levels_parallel(*args)
    else:
        _scan_levels_serial(*args)


def scan_trees(parallel: bool, *args: object) -> None:
    """:func:`_scan_levels_impl` (documented there) for Haar cascades with trees."""
    if parallel:
        with PARALLEL_LOCK:
            _scan_trees_parallel(*args)
    else:
        _scan_trees_serial(*args)


def scan_lbp(parallel: bool, *args: object) -> None:
    """:func:`_scan_levels_impl` (documented there) for LBP cascades."""
    if parallel:
        with PARALLEL_LOCK:
            _scan_lbp_parallel(*args)
    else:
        _scan_lbp_serial(*args)


@numba.njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True, inline="always")
def _similar(
    xi: float,
    yi: float,
    wi: float,
    hi: float,
    xj: float,
    yj: float,
    wj: float,
    hj: float,
    eps: float,
) -> bool:
    """OpenCV's ``SimilarRects`` (same float64 arithmetic)."""
    delta = eps * (min(wi, wj) + min(hi, hj)) * 0.5
    return (
        abs(xi - xj) <= delta
        and abs(yi - yj) <= delta
        and abs((xi + wi) - (xj + wj)) <= delta
        and abs((yi + hi) - (yj + hj)) <= delta
    )


@numba.njit(cache=True)
def _labels(parent: np.ndarray) -> np.ndarray:
    """Component labels numbered in order of each component's first member."""
    n = parent.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    first = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        r = _find(parent, i)
        if first[r] < 0:
            first[r] = k
            k += 1
        labels[i] = first[r]
    return labels


@numba.njit(cache=True)
def cluster_labels_sweep(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, eps: float
) -> np.ndarray:
    """Connected components of OpenCV's similarity of boxes (float64 arrays of their x, y,
    w, h): i ~ j when each of |Δx|, |Δy|, |Δ(x + w)|, |Δ(y + h)| is at most
    δ = eps·(min(wᵢ, wⱼ) + min(hᵢ, hⱼ))/2. Labels (n,) int64 numbered in order of each
    component's first member.

    Any boxes: sorted by x, each compared with those after it whose x is within
    bᵢ = eps·(wᵢ + hᵢ)/2 ≥ δ, joined with union-find; O(n) memory."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    parent = np.arange(n)
    for a in range(n):
        i = order[a]
        bound = eps * (w[i] + h[i]) * 0.5
        ri = _find(parent, i)
        for b in range(a + 1, n):
            j = order[b]
            if x[j] - x[i] > bound:
                break
            if _similar(x[i], y[i], w[i], h[i], x[j], y[j], w[j], h[j], eps):
                rj = _find(parent, j)
                if rj != ri:  # join the two roots under the smaller index
                    root = min(ri, rj)
                    parent[ri] = root
                    parent[rj] = root
                    ri = root
    return _labels(parent)


@numba.njit(cache=True)
def _first_at_least(
    ks: np.ndarray, gxs: np.ndarray, gys: np.ndarray, k: int, gx: int, gy: int
) -> int:
    """First position whose (k, gx, gy) is ≥ the given key in lexicographically sorted keys."""
    lo, hi = 0, ks.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if (ks[mid], gxs[mid], gys[mid]) < (k, gx, gy):
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def cluster_labels_grid(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    eps: float,
    size_class: np.ndarray,
    cell: np.ndarray,
) -> np.ndarray:
    """The components of :func:`cluster_labels_sweep`, found in near-linear time for boxes of
    positive size: similar boxes have sizes s = w + h within a ratio 1 + 2·eps, so box i
    only meets boxes of size classes ``size_class[i]`` ± 2 (class k: s ∈ [(1+2eps)^k,
    (1+2eps)^(k+1)), numbered from 0), and within a class only those in the grid cells (side
    ``cell[k]`` ≈ the class's largest bᵢ) around it."""
    n = x.shape[0]
    gx = np.empty(n, dtype=np.int64)
    gy = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = cell[size_class[i]]
        gx[i] = np.int64(np.floor(x[i] / c))
        gy[i] = np.int64(np.floor(y[i] / c))
    # lexicographic order of (class, gx, gy)
    order = np.argsort(gy, kind="mergesort")
    order = order[np.argsort(gx[order], kind="mergesort")]
    order = order[np.argsort(size_class[order], kind="mergesort")]
    ks, gxs, gys = size_class[order], gx[order], gy[order]
    parent = np.arange(n)
    n_cls = cell.shape[0]
    for i in range(n):
        bound = eps * (w[i] + h[i]) * 0.5
        ri = _find(parent, i)
        for k in range(max(0, size_class[i] - 2), min(n_cls, size_class[i] + 3)):
            c = cell[k]
            x_lo = np.int64(np.floor((x[i] - bound) / c)) - 1
            x_hi = np.int64(np.floor((x[i] + bound) / c)) + 1
            y_lo = np.int64(np.floor((y[i] - bound) / c)) - 1
            y_hi = np.int64(np.floor((y[i] + bound) / c)) + 1
            for cx in range(x_lo, x_hi + 1):
                a = _first_at_least(ks, gxs, gys, k, cx, y_lo)
                b = _first_at_least(ks, gxs, gys, k, cx, y_hi + 1)
                for p in range(a, b):
                    j = order[p]
                    if j > i and _similar(x[i], y[i], w[i], h[i], x[j], y[j], w[j], h[j], eps):
                        rj = _find(parent, j)
                        if rj != ri:
                            root = min(ri, rj)
                            parent[ri] = root
                            parent[rj] = root
                            ri = root
    return _labels(parent)


@numba.njit(cache=True)
def greedy_nms(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    order: np.ndarray,
    overlap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression over boxes [x1, x2) × [y1, y2) (float64) visited in
    ``order``: each box still alive suppresses the alive boxes whose intersection over union
    with it exceeds ``overlap`` (IoU = inter / (areaᵢ + areaⱼ − inter), 0 when that is not
    positive). Returns the kept indices and how many boxes each took out, itself included."""
    n = x1.shape[0]
    alive = np.ones(n, dtype=np.bool_)
    area = (x2 - x1) * (y2 - y1)
    keep = np.empty(n, dtype=np.int64)
    support = np.empty(n, dtype=np.int64)
    m = 0
    for i in order:
        if not alive[i]:
            continue
        count = 0
        for j in range(n):
            if not alive[j]:
                continue
            ix = min(x2[i], x2[j]) - max(x1[i], x1[j])
            iy = min(y2[i], y2[j]) - max(y1[i], y1[j])
            inter = max(ix, 0.0) * max(iy, 0.0)
            union = area[i] + area[j] - inter
            v = inter / union if union > 0 else 0.0
            if v > overlap or j == i:
                alive[j] = False
                count += 1
        keep[m] = i
        support[m] = count
        m += 1
    return keep[:m], support[:m]
