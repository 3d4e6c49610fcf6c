"""The scan of every Haar cascade (stumps or trees, upright or tilted features), a row of
windows at a time, compiled with Numba: :func:`scan_haar_rows`, and :func:`scan_haar_stumps`
(the same loop built without its tree paths, for cascades of stumps).

For each row of window positions of a pyramid level, the windows' norms and the first
stage are computed for every position of the row in vector loops (a node's rectangle
corners are 12 contiguous views of the integral image). Then:

- cascades of stumps take the survivors one at a time through the remaining stages.
  (Later stages in vector loops too, while a quarter or more of the row survived, measured
  slower: 0.96× OpenCV's time against 0.92× on ``lefteye_2splits``; a stage at a time over
  a list of the survivors, as trees do below, 1.1× slower than the walk.)
- cascades of trees take the survivors a stage at a time over the list of those still
  alive, while at least LIST_MIN are (alt2 and ``eye_tree_eyeglasses`` 1.05× faster than
  the walk), then the rest one at a time.

The arithmetic, its order and the windows examined are those of the per-window scan
(OpenCV's), so the results are the same. Threads as in
:mod:`vedere.detect.scan_kernels`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vedere import parallel
from vedere.detect.normalize import VARIANCE_FLOOR
from vedere.detect.scan_kernels import _apply_stage, _fill_haar_table, _haar_value

#: in cascades of trees the stages after the first go a stage at a time over the list of a
#: row's windows still alive while at least this many are, then one window at a time
LIST_MIN = 8

#: the row kernel's tree paths (trees of 2 or more nodes), a compile-time constant of each
#: build: the stump build has none of them
_TREES = True


@numba.njit(cache=True, inline="always")
def _row_norms(ii, sq, base, m, n_a, n_c, nw, mask, area, area32, limit, inv):  # pragma: no cover
    """1/√(A·Σx² − (Σx)²) of the windows at positions base + i, i < m (as
    OpenCV's scan computes it, in 64-bit integer sums wrapped by ``mask``; 0 for a window
    the scan skips: a flat one, or one whose A·inv is not below ``limit``),
    into ``inv[:m]``."""
    s0 = ii[base + np.uint64(n_a) :]
    s1 = ii[base + np.uint64(n_a + nw) :]
    s2 = ii[base + np.uint64(n_c) :]
    s3 = ii[base + np.uint64(n_c + nw) :]
    q0 = sq[base + np.uint64(n_a) :]
    q1 = sq[base + np.uint64(n_a + nw) :]
    q2 = sq[base + np.uint64(n_c) :]
    q3 = sq[base + np.uint64(n_c + nw) :]
    for i in range(m):
        s = (np.int64(s3[i]) - np.int64(s1[i]) - np.int64(s2[i]) + np.int64(s0[i])) & mask
        s2_ = (np.int64(q3[i]) - np.int64(q1[i]) - np.int64(q2[i]) + np.int64(q0[i])) & mask
        nf = area * np.float64(s2_) - np.float64(s) * np.float64(s)
        v = np.float32(1.0 / math.sqrt(nf if nf > 0.0 else 1.0))
        inv[i] = v if (nf > 0.0 and area32 * v < limit) else np.float32(0.0)


@numba.njit(cache=True, inline="always")
def _row_values(ii, base, m, row, f, mask, out):  # pragma: no cover
    """Σᵣ wᵣ·rectᵣ (float32, rectangle by rectangle, as
    :func:`vedere.detect.scan_kernels._haar_value`) of one node at positions base + i,
    i < m, into ``out[:m]``: its three rectangles' corners as 12 views of ``ii``."""
    a1 = ii[base + np.uint64(row[1]) :]
    a2 = ii[base + np.uint64(row[2]) :]
    a3 = ii[base + np.uint64(row[3]) :]
    a4 = ii[base + np.uint64(row[4]) :]
    b1 = ii[base + np.uint64(row[5]) :]
    b2 = ii[base + np.uint64(row[6]) :]
    b3 = ii[base + np.uint64(row[7]) :]
    b4 = ii[base + np.uint64(row[8]) :]
    c1 = ii[base + np.uint64(row[9]) :]
    c2 = ii[base + np.uint64(row[10]) :]
    c3 = ii[base + np.uint64(row[11]) :]
    c4 = ii[base + np.uint64(row[12]) :]
    w0, w1, w2 = f[3], f[4], f[5]
    for i in range(m):
        ra = (np.int64(a4[i]) - np.int64(a2[i]) - np.int64(a3[i]) + np.int64(a1[i])) & mask
        rb = (np.int64(b4[i]) - np.int64(b2[i]) - np.int64(b3[i]) + np.int64(b1[i])) & mask
        rc = (np.int64(c4[i]) - np.int64(c2[i]) - np.int64(c3[i]) + np.int64(c1[i])) & mask
        v = np.float32(0.0) + w0 * np.float32(ra)
        v = v + w1 * np.float32(rb)
        out[i] = v + w2 * np.float32(rc)


def _scan_haar_rows_impl(
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
    """:func:`vedere.detect.scan_kernels._scan_levels_impl` for Haar cascades: the same
    arguments (``subsets`` and ``lbp`` unused) and results. A node's value
    v = Σᵣ wᵣ·rectᵣ / n_f picks its left side when v < its threshold; a side leads to a leaf
    or to a later node of its tree (``links``); a window whose inner-rectangle variance is
    too small (:mod:`vedere.detect.normalize`) is skipped. A 2-node tree is resolved by
    selects (both nodes' comparisons, then the leaf)."""
    n_s = stage_ends.shape[0]
    n_w = rects.shape[1]
    n_tasks = task_level.shape[0]
    limit = np.float32(VARIANCE_FLOOR)
    one = np.uint64(1)
    ends = stage_ends.astype(np.uint64)  # unsigned, as every index of the walk
    max_x = 1
    for lvl in range(lv_nx.shape[0]):
        max_x = max(max_x, lv_nx[lvl])
    max_nodes = 1  # the biggest tree's node count (weak_ends[k] − k at its first node k)
    for k in range(weak_ends.shape[0]):
        max_nodes = max(max_nodes, weak_ends[k] - k)
    for part in numba.prange(n_parts):
        # per node: its rectangles' corners (1 + 12 entries), its sides' links (child + 1,
        # 0: a leaf) and one past its tree's last node
        table = np.zeros((n_w, 16), dtype=np.uint32)
        # per position of the row: its norm, a node's values, its stage sum, alive or not
        inv = np.zeros(max_x, dtype=np.float32)
        vals = np.zeros(max_x, dtype=np.float32)
        vals2 = np.zeros(max_x, dtype=np.float32)
        sums = np.zeros(max_x, dtype=np.float64)
        state = np.zeros(max_x, dtype=np.uint8)
        # a bigger tree's node values (one row per node) and its nodes' sides (the walk)
        tvals = np.zeros((max_nodes, max_x), dtype=np.float32)
        lefts = np.zeros(max_nodes, dtype=np.bool_)
        # the windows alive (positions in the row, their columns, their stage sums)
        pos = np.zeros(max_x, dtype=np.uint64)
        cols = np.zeros(max_x, dtype=np.int64)
        acc = np.zeros(max_x, dtype=np.float64)
        table_level = -1
        for t in range(part, n_tasks, n_parts):
            lvl = task_level[t]
            stride = lv_w[lvl] + 1
            fs = lv_set[lvl]
            if lvl != table_level:
                _fill_haar_table(table, rects[fs], n_rects, node_tofs, links, weak_ends, stride)
                table_level = lvl
            fsu = np.uint64(fs)
            nx, ny, nw, nh = norm[fs, 0], norm[fs, 1], norm[fs, 2], norm[fs, 3]
            area = np.float64(nw * nh)
            n_a = ny * stride + nx
            n_c = n_a + nh * stride
            step = lv_step[lvl]
            n = (lv_nx[lvl] + step - 1) // step  # the row's windows, at x = j·step
            m = (n - 1) * step + 1  # the positions the vector loops cover
            base = np.uint64(lv_off[lvl] + task_y[t] * stride)
            out = task_out[t]
            _row_norms(ii, sq, base, m, n_a, n_c, nw, mask, area, np.float32(area), limit, inv)
            alive = 0
            for j in range(n):
                ok = inv[j * step] != 0.0
                state[j] = 1 if ok else 0
                alive += 1 if ok else 0
            st = 0
            start = np.uint64(0)
            for j in range(n):
                sums[j] = 0.0  # a cascade without stages accepts with sum 0
            # the first stage in vector loops (and OpenCV's skip after a rejection there)
            if n_s > 0 and alive > 0:
                end = ends[0]
                k = start
                while k < end:
                    f0 = stumps[fsu, k]
                    _row_values(ii, base, m, table[k], f0, mask, vals)
                    after = np.uint64(table[k, 15])
                    if _TREES and after - k == np.uint64(2):
                        n1 = k + one
                        f1 = stumps[fsu, n1]
                        _row_values(ii, base, m, table[n1], f1, mask, vals2)
                        has_l, has_r = table[k, 13] != 0, table[k, 14] != 0  # root's links
                        for j in range(n):
                            i = j * step
                            go_left = vals[i] * inv[i] < f0[0]
                            left1 = vals2[i] * inv[i] < f1[0]
                            sums[j] += _pair_leaf(go_left, left1, f0, f1, has_l, has_r)
                    elif not _TREES or after - k == one:
                        for j in range(n):
                            i = j * step
                            sums[j] += np.float64(f0[1] if vals[i] * inv[i] < f0[0] else f0[2])
                    else:
                        # a bigger tree: every node's values in vector loops, then each
                        # window's walk reads them
                        for d in range(after - k):
                            nd = k + np.uint64(d)
                            _row_values(ii, base, m, table[nd], stumps[fsu, nd], mask, tvals[d])
                        for j in range(n):
                            i = j * step
                            nd = k
                            while True:
                                f = stumps[fsu, nd]
                                side = np.uint64(0) if tvals[nd - k, i] * inv[i] < f[0] else one
                                nxt = np.uint64(table[nd, np.uint64(13) + side])
                                if nxt == 0:
                                    sums[j] += np.float64(f[one + side])
                                    break
                                nd = nxt - one
                    k = after
                _apply_stage(state, sums, n, stage_thr[0], skip_rejected)
                start = end
                st = 1
            # trees: the stages after it a stage at a time over the list of windows alive,
            # while at least LIST_MIN are
            cnt = 0
            if _TREES and st < n_s:
                for j in range(n):
                    if state[j] != 0:
                        pos[cnt] = np.uint64(j * step)
                        cols[cnt] = j
                        cnt += 1
            while _TREES and st < n_s and cnt >= LIST_MIN:
                end = ends[st]
                for q in range(cnt):
                    acc[q] = 0.0
                _list_stage(
                    ii, base, pos, cnt, inv, table, stumps, fsu, mask, start, end, acc, lefts
                )
                thr = stage_thr[st]
                kept = 0
                for q in range(cnt):
                    if acc[q] < thr:
                        state[cols[q]] = 0
                    else:
                        pos[kept] = pos[q]
                        cols[kept] = cols[q]
                        acc[kept] = acc[q]
                        kept += 1
                cnt = kept
                start = end
                st += 1
            if _TREES and st > 1:
                for q in range(cnt):
                    sums[cols[q]] = acc[q]
            # the windows still alive, one at a time through the remaining stages
            for j in range(n):
                if state[j] == 0:
                    continue
                total = sums[j]
                if st < n_s:
                    i = j * step
                    total = _walk_stages(
                        ii, base + np.uint64(i), table, stumps, fsu, inv[i], mask, ends,
                        stage_thr, st, start, lefts, _TREES,
                    )  # fmt: skip
                    if total != total:  # NaN: rejected
                        continue
                hit[out + j] = 1
                score[out + j] = total


@numba.njit(cache=True, inline="always")
def _list_stage(
    ii, base, pos, cnt, inv, table, stumps, fsu, mask, start, end, acc, lefts
):  # pragma: no cover
    """One stage's weak classifiers (nodes start … end) added to ``acc[:cnt]`` for the
    windows at base + pos[q]: tree by tree, each over all the listed windows (a loop without
    a branch on the data for stumps and 2-node trees)."""
    one = np.uint64(1)
    k = start
    while k < end:
        f0 = stumps[fsu, k]
        r0 = table[k]
        after = np.uint64(table[k, 15])
        if after - k == one:
            for q in range(cnt):
                i = pos[q]
                v0 = _haar_value(ii, base + i, r0, f0, mask) * inv[i]
                acc[q] += np.float64(f0[1] if v0 < f0[0] else f0[2])
        elif after - k == np.uint64(2):
            f1 = stumps[fsu, k + one]
            r1 = table[k + one]
            has_l, has_r = table[k, 13] != 0, table[k, 14] != 0  # the root's links
            for q in range(cnt):
                i = pos[q]
                go_left = _haar_value(ii, base + i, r0, f0, mask) * inv[i] < f0[0]
                left1 = _haar_value(ii, base + i, r1, f1, mask) * inv[i] < f1[0]
                acc[q] += _pair_leaf(go_left, left1, f0, f1, has_l, has_r)
        else:
            for q in range(cnt):
                i = pos[q]
                acc[q] += _tree(ii, base + i, table, stumps, fsu, inv[i], mask, k, after, lefts)
        k = after


@numba.njit(cache=True, inline="always")
def _tree(ii, uo, table, stumps, fsu, inv, mask, k, after, lefts):  # pragma: no cover
    """The leaf value of the tree of nodes k … after − 1 for the window at ``uo``: every
    node's comparison first (independent loads the CPU overlaps, into ``lefts``), then the
    walk reads them. (A plain walk for trees of more than four nodes, a branch in here,
    made ``eye_tree_eyeglasses``' scan 1.7× slower: the kernel's loops around it then
    compiled worse.)"""
    one = np.uint64(1)
    for d in range(after - k):
        nd = k + np.uint64(d)
        f = stumps[fsu, nd]
        lefts[d] = _haar_value(ii, uo, table[nd], f, mask) * inv < f[0]
    nd = k
    while True:
        side = np.uint64(0) if lefts[nd - k] else one
        nxt = np.uint64(table[nd, np.uint64(13) + side])
        if nxt == 0:
            return np.float64(stumps[fsu, nd, one + side])
        nd = nxt - one


@numba.njit(cache=True, inline="always")
def _pair_leaf(go_left, left1, f0, f1, has_left, has_right):  # pragma: no cover
    """The leaf of a 2-node tree by selects: root ``f0`` goes left where ``go_left``, on to
    its second node ``f1`` (left where ``left1``) when the side it takes links to it
    (``has_left``, ``has_right``), else to that side's leaf."""
    leaf1 = f1[1] if left1 else f1[2]
    down = has_left if go_left else has_right
    return np.float64(leaf1 if down else (f0[1] if go_left else f0[2]))


@numba.njit(cache=True, inline="always")
def _walk_stages(
    ii, uo, table, stumps, fsu, inv, mask, ends, stage_thr, st0, start, lefts, trees
):  # pragma: no cover
    """The window at ``uo`` through stages st0, … (from node ``start``), one weak classifier
    at a time: its last stage sum, or NaN when a stage rejects it. A tree of more than two
    nodes goes through :func:`_tree`. Without ``trees`` (a constant of the build) every
    weak classifier is taken for a stump."""
    one = np.uint64(1)
    total = 0.0
    for st in range(st0, ends.shape[0]):
        end = ends[st]
        total = 0.0
        k = start
        while k < end:
            f0 = stumps[fsu, k]
            v0 = _haar_value(ii, uo, table[k], f0, mask) * inv
            after = np.uint64(table[k, 15])
            s0 = np.uint64(0) if v0 < f0[0] else one
            if trees and after - k == np.uint64(2):
                f1 = stumps[fsu, k + one]
                left1 = _haar_value(ii, uo, table[k + one], f1, mask) * inv < f1[0]
                total += _pair_leaf(s0 == 0, left1, f0, f1, table[k, 13] != 0, table[k, 14] != 0)
            elif not trees or after - k == one:
                total += np.float64(f0[one + s0])
            else:
                total += _tree(ii, uo, table, stumps, fsu, inv, mask, k, after, lefts)
            k = after
        start = end
        if total < stage_thr[st]:
            return np.nan
    return total


#: two builds (vedere.parallel.Kernel), as the kernels of vedere.detect.scan_kernels; NumPy's
#: error model: the norms' division is then a vector loop (no branch for a zero divisor,
#: which the norm's select never keeps)
_scan_haar_trees = parallel.Kernel(_scan_haar_rows_impl, error_model="numpy")
_scan_haar_stumps = parallel.Kernel(
    _scan_haar_rows_impl, error_model="numpy", variant="_stumps", constants={"_TREES": False}
)


def scan_haar_rows(in_parallel: bool, *args: object) -> None:
    """:func:`_scan_haar_rows_impl`: the scan of any Haar cascade (arguments after
    ``in_parallel`` as :func:`vedere.detect.scan_kernels._scan_levels_impl`)."""
    _scan_haar_trees.run(in_parallel, *args)


def scan_haar_stumps(in_parallel: bool, *args: object) -> None:
    """:func:`scan_haar_rows` for cascades of stumps, in a build without the tree paths."""
    _scan_haar_stumps.run(in_parallel, *args)
