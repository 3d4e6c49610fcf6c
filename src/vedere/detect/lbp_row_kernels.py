"""The scan of LBP cascades of stumps (every stock LBP cascade), a row of windows at a time,
compiled with Numba: :func:`scan_lbp_rows`.

For each row of window positions of a pyramid level, whole stages are computed for every
position of the row in vector loops (a node's 16 grid corners are 16 contiguous views of
the integral image) while at least 1/:data:`DENSE` of the row's windows are still alive;
the survivors then go through the remaining stages one at a time. The codes, the order of
the sums and the windows examined are those of the per-window scan
(:mod:`vedere.detect.scan_kernels`, OpenCV's), so the results are the same. Every index of
the inner loops is unsigned (Numba then adds no negative-index wrap-around to each load).
Threads as in :mod:`vedere.detect.scan_kernels`.
"""

from __future__ import annotations

import numba
import numpy as np

from vedere import parallel
from vedere.detect.scan_kernels import _apply_stage, _fill_lbp_table, _lbp_code

#: whole stages in vector loops while at least 1/DENSE of a row's windows are alive
#: (measured best of 1, 2, 4, 8, 16 on the stock LBP cascades)
DENSE = 4


def _scan_lbp_rows_impl(
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
    """:func:`vedere.detect.scan_kernels._scan_levels_impl` for LBP cascades whose weak
    classifiers are all stumps: the same arguments (``sq``, ``norm``, ``n_rects``,
    ``node_tofs``, ``links``, ``weak_ends`` and ``lbp`` unused) and results. A stump goes to
    its left leaf when its code's bit is set in its subset words, and a stage rejects the
    window when the sum of its stumps' leaves is below its threshold."""
    n_s = stage_ends.shape[0]
    n_w = rects.shape[1]
    n_tasks = task_level.shape[0]
    ends = stage_ends.astype(np.uint64)  # unsigned, as every index of the walk
    max_n = 1
    max_x = 1
    for lvl in range(lv_nx.shape[0]):
        max_n = max(max_n, (lv_nx[lvl] + lv_step[lvl] - 1) // lv_step[lvl])
        max_x = max(max_x, lv_nx[lvl])
    for part in numba.prange(n_parts):
        # per part, for the level at hand: per node its 16 grid corners' offsets from the
        # window's origin, then its 8 subset words; its two leaves
        table = np.zeros((n_w, 24), dtype=np.uint32)
        leaves = np.zeros((n_w, 2), dtype=np.float64)
        # per window of the row: alive (1) or not, its stage sum, one node's code
        state = np.zeros(max_n, dtype=np.uint8)
        sums = np.zeros(max_n, dtype=np.float64)
        codes = np.zeros(max_x, dtype=np.int64)
        table_level = -1
        for t in range(part, n_tasks, n_parts):
            lvl = task_level[t]
            stride = lv_w[lvl] + 1
            fs = lv_set[lvl]
            if lvl != table_level:
                _fill_lbp_table(table, rects[fs], subsets, stride)
                for k in range(n_w):
                    leaves[k, 0] = np.float64(stumps[fs, k, 1])
                    leaves[k, 1] = np.float64(stumps[fs, k, 2])
                table_level = lvl
            step = lv_step[lvl]
            n = (lv_nx[lvl] + step - 1) // step  # the row's windows, at x = j·step
            base = np.uint64(lv_off[lvl] + task_y[t] * stride)
            out = task_out[t]
            # the dense stages: every window of the row at once (vectorised), while at
            # least 1/DENSE of them are still alive
            alive = n
            for j in range(n):
                state[j] = 1
            st = 0
            start = np.uint64(0)
            while st < n_s and alive * DENSE >= n:
                end = ends[st]
                for j in range(n):
                    sums[j] = 0.0
                k = start
                while k < end:
                    _row_codes(ii, base, (n - 1) * step + 1, table[k], mask, codes)
                    l0, l1 = leaves[k, 0], leaves[k, 1]
                    for j in range(n):
                        c = np.uint64(codes[j * step])
                        word = table[k, np.uint64(16) + (c >> np.uint64(5))]
                        bit = (word >> np.uint32(c & np.uint64(31))) & np.uint32(1)
                        sums[j] += l0 if bit else l1
                    k += np.uint64(1)
                # OpenCV's scan: a window rejected by the first stage skips the next
                alive = _apply_stage(state, sums, n, stage_thr[st], st == 0 and skip_rejected)
                start = end
                st += 1
            # the windows still alive, one at a time through the remaining stages
            for j in range(n):
                if state[j] == 0:
                    continue
                total = sums[j]
                passed = True
                uo = base + np.uint64(j * step)
                s_start = start
                for s2 in range(st, n_s):
                    end = ends[s2]
                    total = 0.0
                    k = s_start
                    while k < end:
                        row = table[k]
                        code = np.uint64(_lbp_code(ii, uo, row, mask))
                        word = row[np.uint64(16) + (code >> np.uint64(5))]
                        bit = (word >> np.uint32(code & np.uint64(31))) & np.uint32(1)
                        total += leaves[k, np.uint64(1) - np.uint64(bit)]
                        k += np.uint64(1)
                    s_start = end
                    if total < stage_thr[s2]:
                        passed = False
                        break
                if passed:
                    hit[out + j] = 1
                    score[out + j] = total


@numba.njit(cache=True, inline="always")
def _row_codes(ii, base, m, row, mask, codes):  # pragma: no cover
    """The LBP codes (:func:`vedere.detect.scan_kernels._lbp_code`) of one node for the m
    window positions ``base`` + i of a row, every pixel, into ``codes[:m]``: the node's 16
    corners as 16 views of ``ii``, so that the loop is a vector loop of contiguous loads (a
    strided loop for a window step of 2 measured no faster than the scalar scan; every pixel
    and every other code read is still 3x faster)."""
    p0 = ii[base + np.uint64(row[0]) :]
    p1 = ii[base + np.uint64(row[1]) :]
    p2 = ii[base + np.uint64(row[2]) :]
    p3 = ii[base + np.uint64(row[3]) :]
    p4 = ii[base + np.uint64(row[4]) :]
    p5 = ii[base + np.uint64(row[5]) :]
    p6 = ii[base + np.uint64(row[6]) :]
    p7 = ii[base + np.uint64(row[7]) :]
    p8 = ii[base + np.uint64(row[8]) :]
    p9 = ii[base + np.uint64(row[9]) :]
    p10 = ii[base + np.uint64(row[10]) :]
    p11 = ii[base + np.uint64(row[11]) :]
    p12 = ii[base + np.uint64(row[12]) :]
    p13 = ii[base + np.uint64(row[13]) :]
    p14 = ii[base + np.uint64(row[14]) :]
    p15 = ii[base + np.uint64(row[15]) :]
    for i in range(m):
        c = (np.int64(p5[i]) - np.int64(p6[i]) - np.int64(p9[i]) + np.int64(p10[i])) & mask
        b7 = ((np.int64(p0[i]) - np.int64(p1[i]) - np.int64(p4[i]) + np.int64(p5[i])) & mask) >= c
        b6 = ((np.int64(p1[i]) - np.int64(p2[i]) - np.int64(p5[i]) + np.int64(p6[i])) & mask) >= c
        b5 = ((np.int64(p2[i]) - np.int64(p3[i]) - np.int64(p6[i]) + np.int64(p7[i])) & mask) >= c
        b4 = ((np.int64(p6[i]) - np.int64(p7[i]) - np.int64(p10[i]) + np.int64(p11[i])) & mask) >= c
        b3 = (
            (np.int64(p10[i]) - np.int64(p11[i]) - np.int64(p14[i]) + np.int64(p15[i])) & mask
        ) >= c
        b2 = (
            (np.int64(p9[i]) - np.int64(p10[i]) - np.int64(p13[i]) + np.int64(p14[i])) & mask
        ) >= c
        b1 = ((np.int64(p8[i]) - np.int64(p9[i]) - np.int64(p12[i]) + np.int64(p13[i])) & mask) >= c
        b0 = ((np.int64(p4[i]) - np.int64(p5[i]) - np.int64(p8[i]) + np.int64(p9[i])) & mask) >= c
        codes[i] = (
            (np.int64(b7) << 7) | (np.int64(b6) << 6) | (np.int64(b5) << 5) | (np.int64(b4) << 4)
            | (np.int64(b3) << 3) | (np.int64(b2) << 2) | (np.int64(b1) << 1) | np.int64(b0)
        )  # fmt: skip


#: two builds (vedere.parallel.Kernel), as the kernels of vedere.detect.scan_kernels
_scan_lbp_rows = parallel.Kernel(_scan_lbp_rows_impl)


def scan_lbp_rows(in_parallel: bool, *args: object) -> None:
    """:func:`_scan_lbp_rows_impl`: the scan of an LBP cascade of stumps (arguments after
    ``in_parallel`` as :func:`vedere.detect.scan_kernels._scan_levels_impl`)."""
    _scan_lbp_rows.run(in_parallel, *args)
