"""The detector's hot loops, compiled with Numba (plain Python loops, JIT-compiled on first
use and cached on disk): the general window scan over the pyramid's integral images
(:func:`scan_lbp`: LBP cascades whose weak classifiers are trees), and the node helpers the
row scans share (:mod:`vedere.detect.haar_row_kernels`: every Haar cascade;
:mod:`vedere.detect.lbp_row_kernels`: LBP cascades of stumps, every stock one). The pyramid
itself is built by :mod:`vedere.detect.pyramid_kernels`, AdaBoost's loops are in
:mod:`vedere.detect.boosting_kernels`, the grouping of raw detections in
:mod:`vedere.detect.grouping_kernels`.

These are loops with a data-dependent exit or a running state that NumPy cannot express
without materialising F × N temporaries; everything else stays in NumPy.

**Threads.** Each kernel has a parallel build and a serial one without the GIL
(:class:`vedere.parallel.Kernel`). The detector runs the serial builds only: a big job is
cut into runs of rows (:mod:`vedere.detect.scan`) that :func:`vedere.parallel.share` hands
to the calling thread and helper threads as each comes free, with no lock, so the
playground's detections in Starlette's thread pool run side by side.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere import parallel

#: a rectangle sum's true value, from integral images stored as wrapping int32 (see
#: :func:`vedere.detect.pyramid_kernels.build_levels`): the low 32 bits of the four-corner
#: difference
LOW32 = 0xFFFFFFFF


@numba.njit(cache=True, inline="always")
def _haar_value(ii, uo, row, f, mask):  # pragma: no cover
    """Σᵣ wᵣ·rectᵣ in float32, rectangle by rectangle, of the node whose table ``row`` holds
    its rectangles' corner offsets in ``row[1:13]`` (weights ``f[3:6]``), for the window at
    ``uo``; before the division by the window's norm (:mod:`vedere.detect.haar_row_kernels`).
    Unused rectangles must have weight 0 (their offsets stay 0)."""
    # all three rectangles, without a branch on the count: an unused one has its corners
    # at offset 0 (four equal loads, sum 0) and weight 0
    v = np.float32(0.0)
    for r in range(3):
        j = np.uint64(4 * r)
        rs = (
            np.int64(ii[uo + row[j + np.uint64(4)]])
            - np.int64(ii[uo + row[j + np.uint64(2)]])
            - np.int64(ii[uo + row[j + np.uint64(3)]])
            + np.int64(ii[uo + row[j + np.uint64(1)]])
        ) & mask
        v += f[np.uint64(3 + r)] * np.float32(rs)
    return v


@numba.njit(cache=True, inline="always")
def _lbp_code(ii, uo, row, mask):  # pragma: no cover
    """The 8-bit code (:mod:`vedere.detect.lbp`) of the LBP node whose table ``row`` holds
    its 4×4 grid corners' offsets (corner (i, j) at 4i + j), for the window at ``uo``: bit
    7 − b set when outer block b (clockwise from the top-left, ``BIT_BLOCKS``) sums to at
    least the centre block. The 16 corners are loaded once each; block (i, j) sums
    p[a] − p[a+1] − p[a+4] + p[a+5] with a = 4i + j, modulo ``mask``."""
    p0 = np.int64(ii[uo + row[0]])
    p1 = np.int64(ii[uo + row[1]])
    p2 = np.int64(ii[uo + row[2]])
    p3 = np.int64(ii[uo + row[3]])
    p4 = np.int64(ii[uo + row[4]])
    p5 = np.int64(ii[uo + row[5]])
    p6 = np.int64(ii[uo + row[6]])
    p7 = np.int64(ii[uo + row[7]])
    p8 = np.int64(ii[uo + row[8]])
    p9 = np.int64(ii[uo + row[9]])
    p10 = np.int64(ii[uo + row[10]])
    p11 = np.int64(ii[uo + row[11]])
    p12 = np.int64(ii[uo + row[12]])
    p13 = np.int64(ii[uo + row[13]])
    p14 = np.int64(ii[uo + row[14]])
    p15 = np.int64(ii[uo + row[15]])
    c = (p5 - p6 - p9 + p10) & mask
    code = np.int64(((p0 - p1 - p4 + p5) & mask) >= c) << 7
    code |= np.int64(((p1 - p2 - p5 + p6) & mask) >= c) << 6
    code |= np.int64(((p2 - p3 - p6 + p7) & mask) >= c) << 5
    code |= np.int64(((p6 - p7 - p10 + p11) & mask) >= c) << 4
    code |= np.int64(((p10 - p11 - p14 + p15) & mask) >= c) << 3
    code |= np.int64(((p9 - p10 - p13 + p14) & mask) >= c) << 2
    code |= np.int64(((p8 - p9 - p12 + p13) & mask) >= c) << 1
    code |= np.int64(((p4 - p5 - p8 + p9) & mask) >= c)
    return code


@numba.njit(cache=True)
def _fill_haar_table(table, rects, n_rects, tofs, links, weak_ends, stride):  # pragma: no cover
    """One level's Haar node table (row stride ``stride``), per node k: its rectangles'
    count at 0 and rectangle r's corners at 1 + 4r … 4 + 4r (upright: p, p + w, p + h·stride,
    p + h·stride + w; tilted: the rotated image's p₀, p₁, p₂, p₃, ``tofs[k]`` further
    on), its sides' links (child + 1, 0: a leaf) at 13 and 14, its tree's end at 15 (for
    :mod:`vedere.detect.haar_row_kernels`)."""
    for k in range(table.shape[0]):
        table[k, 0] = n_rects[k]
        table[k, 13] = links[k, 0] + 1
        table[k, 14] = links[k, 1] + 1
        table[k, 15] = weak_ends[k]
        for r in range(n_rects[k]):
            rx, ry, rw, rh = rects[k, r, 0], rects[k, r, 1], rects[k, r, 2], rects[k, r, 3]
            if tofs[k] > 0:
                tb = tofs[k]
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


@numba.njit(cache=True)
def _fill_lbp_table(table, rects, subsets, stride):  # pragma: no cover
    """One level's LBP node table, per node k: its 4×4 grid corners' offsets (corner (i, j)
    at 4i + j, the grid's x, y and block size in ``rects[k, 0]``), then its 8 subset words
    at 16 … 23. Shared by the general scan and :mod:`vedere.detect.lbp_row_kernels`."""
    for k in range(table.shape[0]):
        gx, gy, bw, bh = rects[k, 0, 0], rects[k, 0, 1], rects[k, 0, 2], rects[k, 0, 3]
        for i in range(4):
            for j in range(4):
                table[k, 4 * i + j] = (gy + i * bh) * stride + gx + j * bw
        for j in range(8):
            table[k, 16 + j] = subsets[k, j]


@numba.njit(cache=True, inline="always")
def _apply_stage(state, sums, n, thr, skip):  # pragma: no cover
    """One stage over a row's n windows (``state`` 1: alive, ``sums`` their stage sums):
    windows whose sum is below ``thr`` die; with ``skip`` (the first stage, as OpenCV's scan)
    a window that dies there also takes the next one with it (unexamined), and a window
    already dead (Haar: skipped for its variance) does not. Returns the number alive. Shared
    by :mod:`vedere.detect.haar_row_kernels` and :mod:`vedere.detect.lbp_row_kernels`."""
    alive = 0
    if skip:
        j = 0
        while j < n:
            if state[j] == 0:  # skipped by its variance: no effect on the next
                j += 1
            elif sums[j] < thr:
                state[j] = 0
                if j + 1 < n:
                    state[j + 1] = 0
                j += 2
            else:
                alive += 1
                j += 1
        return alive
    for j in range(n):
        keep = state[j] != 0 and sums[j] >= thr
        state[j] = 1 if keep else 0
        alive += 1 if keep else 0
    return alive


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

    This build is for LBP cascades (``lbp`` true; Haar: :mod:`vedere.detect.haar_row_kernels`
    with the same arguments, where a window whose inner-rectangle variance is too small is
    skipped and a node's value is v = Σᵣ wᵣ·rectᵣ / n_f). Every window is examined, a node's
    value is its 8-bit code (:mod:`vedere.detect.lbp`) from 16 corners, and the walk goes left
    when the code's bit is set in the node's ``subsets`` (8) uint32 words. Each tree is
    walked from its first node to a leaf; each stage sums its trees' leaves and rejects the
    window when the sum is below the stage threshold; a window rejected by the first stage
    makes the scan skip the next position (``skip_rejected``, as OpenCV does).

    ``ii``, ``sq``: the levels' integral images as :func:`_build_levels` writes them (row
    length lv_w + 1; a tilted rectangle reads the rotated one, ``node_tofs`` (N,) entries
    further on: 0 for upright nodes; ``sq``, ``norm``, ``n_rects`` and ``node_tofs``: Haar
    only); ``mask``: LOW32 for int32 buffers (sums modulo 2³²), −1 (all bits) for int64 ones,
    which windows whose Σi² may reach 2³² need. Level l uses feature set lv_set[l] (the
    pyramid: one set for every level; scaled features: one set per scale, every level the
    same image): ``norm`` (S, 4) the normalisation rectangle (x, y, w, h); ``rects``
    (S, N, 3, 4) int64 (x, y, w, h) of each node's feature with its ``n_rects`` (N,) used ones
    first (tilted: the four corners are p₀ (x, y), p₁ (x − h, y + h), p₂ (x + w, y + w),
    p₃ (x + w − h, y + w + h); LBP: the grid's x, y and block size in row 0); ``stumps``
    (S, N, 8) float32: threshold, left leaf, right leaf and the rectangles' weights; ``links``
    (N, 2) the node each side leads to (−1: its leaf), ``weak_ends`` (N,) one past the last
    node of each node's tree (where a walk goes on after a leaf), stage s owns nodes
    [stage_ends[s−1], stage_ends[s]). Window j of task t is ``hit[task_out[t] + j]`` (1:
    accepted) and its last stage sum ``score[task_out[t] + j]`` (written for accepted windows
    only)."""
    n_s = stage_ends.shape[0]
    n_w = rects.shape[1]
    n_tasks = task_level.shape[0]
    # a node's row: its 16 grid corners and 8 subset words, then its two sides' links
    # (child + 1, 0: a leaf) and one past its tree's last node. Every index below is
    # unsigned: Numba then adds no negative-index wrap-around to each load (measured 1.1x
    # faster)
    links_at = np.uint64(24)
    ends = stage_ends.astype(np.uint64)  # unsigned, as every index of the walk
    one = np.uint64(1)
    for part in numba.prange(n_parts):
        table = np.zeros((n_w, 32), dtype=np.uint32)
        table_level = -1
        for t in range(part, n_tasks, n_parts):
            lvl = task_level[t]
            stride = lv_w[lvl] + 1
            fs = lv_set[lvl]
            if lvl != table_level:
                _fill_lbp_table(table, rects[fs], subsets, stride)
                for k in range(n_w):
                    table[k, 24] = links[k, 0] + 1
                    table[k, 25] = links[k, 1] + 1
                    table[k, 26] = weak_ends[k]
                table_level = lvl
            fsu = np.uint64(fs)
            step = lv_step[lvl]
            n_x = lv_nx[lvl]
            base = lv_off[lvl] + task_y[t] * stride
            out = task_out[t]
            x = 0
            col = 0
            while x < n_x:
                uo = np.uint64(base + x)
                start = np.uint64(0)
                passed = True
                total = 0.0
                for st in range(n_s):
                    end = ends[st]
                    total = 0.0
                    nd = start
                    # one loop over the stage's nodes: a node's side leads to a later node
                    # of its tree, or to a leaf, and then on to the next tree's first node
                    while nd < end:
                        row = table[nd]
                        code = np.uint64(_lbp_code(ii, uo, row, mask))
                        word = row[np.uint64(16) + (code >> np.uint64(5))]
                        left = (word >> np.uint32(code & np.uint64(31))) & 1
                        side = np.uint64(0) if left else one
                        nxt = np.uint64(row[links_at + side])
                        if nxt == 0:
                            total += np.float64(stumps[fsu, nd, one + side])
                            nd = np.uint64(row[links_at + np.uint64(2)])
                        else:
                            nd = nxt - one
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


#: the kernel in two builds (vedere.parallel.Kernel); the detector runs the serial one
#: (without the GIL) on each thread that parallel.share gives a run of rows
_scan_lbp = parallel.Kernel(_scan_levels_impl, variant="_lbp")


def scan_lbp(in_parallel: bool, *args: object) -> None:
    """:func:`_scan_levels_impl` (documented there) for LBP cascades with trees."""
    _scan_lbp.run(in_parallel, *args)
