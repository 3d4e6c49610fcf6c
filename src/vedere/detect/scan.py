"""The detector's scan of a whole image pyramid in two compiled passes.

For a batch of pyramid levels (:func:`scan_pyramid`):

1. **build** (:func:`vedere.detect.pyramid_kernels.build_levels`): each level is resized from the
   image (OpenCV's INTER_LINEAR_EXACT, as :func:`vedere.detect.resize.resize_linear`) and
   its integral image and squared integral image written in the same pass over its rows, all
   levels into one int32 buffer each (a level a piece, biggest first);
2. **scan** (:mod:`vedere.detect.haar_row_kernels`, :mod:`vedere.detect.lbp_row_kernels`,
   :mod:`vedere.detect.scan_kernels` for LBP trees):
   every (level, row) of window positions is one task, the tasks in runs of rows
   (:data:`PIECES_PER_THREAD` runs a thread).

Two kernel launches per batch instead of a resize, two integral images and a launch per
level: the launches were what made small images slow (a 96×96 image has 15 levels, and
waking the worker threads for each cost more than scanning it). The pieces of each pass go
to the calling thread and helper threads as each comes free (:func:`vedere.parallel.share`,
the kernels' serial builds, no lock), so a core that the host slows for a while does less
of the job (dealt out in advance, the same scan's two-thread time varied by up to 1.8× from
call to call), as OpenCV's pool hands out stripes. Jobs under :data:`SERIAL_WINDOWS` windows
run on the calling thread alone.

Levels are batched so that a batch's two buffers stay under :data:`BATCH_BYTES`: memory is
bounded whatever the image size, and one batch holds every level of a 1280×960 image at
scale factor 1.1.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from vedere import parallel
from vedere.detect import haar_row_kernels, lbp_row_kernels, pyramid_kernels, scan_kernels
from vedere.detect.cascade import Cascade
from vedere.detect.lbp import LBPFeatures
from vedere.detect.normalize import inner_rect
from vedere.detect.resize import taps

#: bytes of integral images per batch of levels (two int32 buffers: 8 bytes a pixel)
BATCH_BYTES = 64 * 2**20
#: jobs with fewer windows than this run serially on the calling thread
SERIAL_WINDOWS = 20_000
#: a parallel scan's rows go out in this many runs per thread (:func:`vedere.parallel.share`)
PIECES_PER_THREAD = 16


class CompiledCascade:
    """A cascade's arrays laid out for the scan kernel, per node: its feature's used
    rectangles first (``rects`` (N, 3, 4) int64 (x, y, w, h), ``n_rects`` (N,)), in the order
    OpenCV sums them — for LBP the grid (x, y, block w, block h) in rectangle 0 — whether
    they are tilted (``tilted`` (N,) bool), ``stumps`` (N, 8) float32 rows (threshold, left
    leaf, right leaf, the three rectangle weights, 0, 0), ``links`` (N, 2) int64 (the node
    each side leads to, −1: the leaf) and ``subsets`` (N, 8) uint32 (LBP; (1, 8) zeros for
    Haar); per node ``weak_ends`` (one past its tree's last node), per stage ``stage_ends``
    (one past its last node) and ``stage_thr``."""

    def __init__(self, cascade: Cascade) -> None:
        self.cascade = c = cascade
        n = len(c.feature)
        self.lbp = c.is_lbp
        self.stumps = np.zeros((n, 8), dtype=np.float32)
        self.stumps[:, 0] = c.threshold
        self.stumps[:, 1] = c.left
        self.stumps[:, 2] = c.right
        if isinstance(c.features, LBPFeatures):
            self.rects = np.zeros((n, 3, 4), dtype=np.int64)
            self.rects[:, 0] = c.features.rects[c.feature]
            self.n_rects = np.ones(n, dtype=np.int64)
            self.tilted = np.zeros(n, dtype=bool)
            self.subsets = np.ascontiguousarray(c.subsets).view(np.uint32)  # type: ignore[arg-type]
        else:
            rects = c.features.rects[c.feature].astype(np.int64)  # (N, 3, 4)
            weights = c.features.weights[c.feature]  # (N, 3)
            used = weights != 0
            # stable: used rectangles first, in their order
            order = np.argsort(~used, axis=1, kind="stable")
            self.rects = np.ascontiguousarray(np.take_along_axis(rects, order[:, :, None], axis=1))
            self.n_rects = used.sum(axis=1).astype(np.int64)
            self.stumps[:, 3:6] = np.take_along_axis(weights, order, axis=1)
            self.tilted = c.features.tilted[c.feature]
            self.subsets = np.zeros((1, 8), dtype=np.uint32)
        self.links = np.ascontiguousarray(c.children, dtype=np.int64)
        # per node, one past its tree's last node; per stage, one past its last node
        tree_sizes = np.diff(np.r_[0, c.weak_ends])
        self.weak_ends = np.repeat(c.weak_ends, tree_sizes).astype(np.int64)
        self.stage_ends = c.weak_ends[c.stage_ends - 1].astype(np.int64)
        self.stage_thr = c.effective_stage_thresholds().astype(np.float64)
        self.norm = np.array(inner_rect(*c.window), dtype=np.int64)
        self.any_tilted = bool(self.tilted.any())

    def node_tofs(self, tofs: int) -> np.ndarray:
        """(N,) int64: how far each node's rectangles are from the upright integral image
        (``tofs`` for tilted nodes, where the rotated image starts, 0 for upright ones)."""
        return np.where(self.tilted, np.int64(tofs), np.int64(0))


def sum_dtype(window_area: int) -> tuple[type, int]:
    """The integral images' dtype for windows of ``window_area`` pixels and the scan's mask:
    int32 with sums taken modulo 2³² while a window's Σi² (≤ area·255²) stays below 2³²
    (windows up to about 257×257: every stock cascade), int64 beyond."""
    if window_area * 255 * 255 < 2**32:
        return np.int32, scan_kernels.LOW32
    return np.int64, -1


@lru_cache(maxsize=256)
def _taps(src: int, dst: int) -> tuple[np.ndarray, ...]:
    out = tuple(np.asarray(t, dtype=np.int64) for t in taps(src, dst))
    for t in out:
        t.flags.writeable = False
    return out


@dataclass
class LevelHits:
    """Accepted windows of one level: ``xy`` (M, 2) int64 (x, y) in level pixels and their
    last stage sums ``score`` (M,)."""

    xy: np.ndarray
    score: np.ndarray


def scan_pyramid(
    gray: np.ndarray,
    compiled: CompiledCascade,
    sizes: Sequence[tuple[int, int]],
    steps: Sequence[int],
    skip_rejected: bool = True,
) -> list[LevelHits]:
    """Scan the (H, W) uint8 ``gray`` resized to each (height, width) of ``sizes`` with the
    window step of ``steps``; one :class:`LevelHits` per level, in order."""
    gray = np.ascontiguousarray(gray)
    out: list[LevelHits] = []
    batch: list[int] = []
    used = 0
    for i, (h, w) in enumerate(sizes):
        need = 8 * (h + 1) * (w + 1)
        if batch and used + need > BATCH_BYTES:
            out.extend(_scan_batch(gray, compiled, sizes, steps, batch, skip_rejected))
            batch, used = [], 0
        batch.append(i)
        used += need
    if batch:
        out.extend(_scan_batch(gray, compiled, sizes, steps, batch, skip_rejected))
    return out


@dataclass
class Levels:
    """Integral images of pyramid levels in two flat int32 buffers (:func:`build_levels`):
    level l is (h[l], w[l]); its padded integral image is ``ii[off[l]:off[l] + (h[l] + 1) *
    (w[l] + 1)]`` as (h[l] + 1, w[l] + 1) rows, and ``sq`` likewise for the squares. The
    values wrap modulo 2³² (as OpenCV's CV_32S sums): a rectangle's sum is the low 32 bits of
    its four-corner difference. With ``tofs`` > 0 the rotated integral images follow in
    ``ii`` from ``tofs`` on, laid out the same; without ``squares`` ``sq`` is a dummy."""

    h: np.ndarray
    w: np.ndarray
    off: np.ndarray
    ii: np.ndarray
    sq: np.ndarray
    tofs: int = 0

    def level(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Level i's (ii, sq) as (h + 1, w + 1) int32 views."""
        shape = (int(self.h[i]) + 1, int(self.w[i]) + 1)
        a, b = int(self.off[i]), int(self.off[i]) + shape[0] * shape[1]
        return self.ii[a:b].reshape(shape), self.sq[a:b].reshape(shape)

    def tilted_level(self, i: int) -> np.ndarray:
        """Level i's rotated integral image as an (h + 1, w + 1) view (tilted builds)."""
        shape = (int(self.h[i]) + 1, int(self.w[i]) + 1)
        a = self.tofs + int(self.off[i])
        return self.ii[a : a + shape[0] * shape[1]].reshape(shape)


def build_levels(
    gray: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    n_parts: int = 1,
    dtype: type = np.int32,
    squares: bool = True,
    tilted: bool = False,
) -> Levels:
    """The (H, W) uint8 ``gray`` resized to each (height, width) of ``sizes`` (exactly as
    :func:`vedere.detect.resize.resize_linear`) and integrated, in one compiled pass; on
    ``n_parts`` threads when more than one (a level a piece, biggest first, by
    :func:`vedere.parallel.share`). ``dtype``
    np.int32 (wrapping) or np.int64 (:func:`sum_dtype`); ``squares``: the squared integral
    images too (Haar's variance); ``tilted``: the rotated ones too."""
    gray = np.ascontiguousarray(gray)
    src_h, src_w = gray.shape
    lv_h = np.array([h for h, _ in sizes], dtype=np.int64).reshape(-1)
    lv_w = np.array([w for _, w in sizes], dtype=np.int64).reshape(-1)
    area = (lv_h + 1) * (lv_w + 1)
    lv_off = (np.cumsum(area) - area).astype(np.int64)
    xt = [_taps(src_w, int(w)) for w in lv_w]
    yt = [_taps(src_h, int(h)) for h in lv_h]
    x0, x1, a0, a1 = (np.concatenate([t[j] for t in xt]) for j in range(4))
    y0, y1, b0, b1 = (np.concatenate([t[j] for t in yt]) for j in range(4))
    tx_off = (np.cumsum(lv_w) - lv_w).astype(np.int64)
    ty_off = (np.cumsum(lv_h) - lv_h).astype(np.int64)
    total = int(area.sum())
    ii = np.empty(2 * total if tilted else total, dtype=dtype)
    sq = np.empty(total if squares else 1, dtype=dtype)
    tofs = total if tilted else 0
    # one piece a level, biggest first, to the threads as they come free (parallel.share):
    # the serial build with part 0 = that level
    order = np.argsort(-area, kind="stable")
    n_pieces = len(sizes) if n_parts > 1 else 1

    def build(piece: int) -> None:
        part_of = np.zeros(len(sizes), dtype=np.int64)
        if n_pieces > 1:
            part_of[:] = 1
            part_of[order[piece]] = 0
        pyramid_kernels.build_levels(
            False, gray, lv_w, lv_h, lv_off, tx_off, ty_off,
            x0, x1, a0, a1, y0, y1, b0, b1, part_of, 1, ii, sq, bool(squares), tofs,
        )  # fmt: skip

    parallel.share(build, n_pieces, n_parts)
    return Levels(lv_h, lv_w, lv_off, ii, sq, tofs)


def _scan_batch(
    gray: np.ndarray,
    compiled: CompiledCascade,
    sizes: Sequence[tuple[int, int]],
    steps: Sequence[int],
    batch: list[int],
    skip_rejected: bool,
) -> list[LevelHits]:
    wh, ww = compiled.cascade.window
    lv_h = np.array([sizes[i][0] for i in batch], dtype=np.int64)
    lv_w = np.array([sizes[i][1] for i in batch], dtype=np.int64)
    lv_step = np.array([steps[i] for i in batch], dtype=np.int64)
    # windows per level: rows 0, step, … < n_y, columns 0, step, … < n_x
    lv_nx = np.maximum(lv_w - ww + 1, 0)
    lv_ny = np.maximum(lv_h - wh + 1, 0)
    in_parallel, n_threads = _threads(lv_nx, lv_ny, lv_step)
    dtype, mask = sum_dtype(wh * ww)
    c = compiled
    levels = build_levels(
        gray, [sizes[i] for i in batch], n_threads, dtype, not c.lbp, c.any_tilted
    )
    return _scan(
        levels.ii, levels.sq, mask, levels.off, lv_w, lv_nx, lv_ny, lv_step,
        np.zeros(len(batch), np.int64), c.norm[None], c.rects[None], c, c.stumps[None],
        skip_rejected, in_parallel, n_threads, levels.tofs,
    )  # fmt: skip


def _threads(lv_nx: np.ndarray, lv_ny: np.ndarray, lv_step: np.ndarray) -> tuple[bool, int]:
    """Whether a job of these levels is shared among threads, and among how many (Numba's
    thread count: ``numba.set_num_threads``, NUMBA_NUM_THREADS)."""
    n_windows = int(((-(-lv_ny // lv_step)) * (-(-lv_nx // lv_step))).sum())
    shared = n_windows >= SERIAL_WINDOWS and numba.get_num_threads() > 1
    return shared, numba.get_num_threads() if shared else 1


def _scan(
    ii: np.ndarray,
    sq: np.ndarray,
    mask: int,
    lv_off: np.ndarray,
    lv_w: np.ndarray,
    lv_nx: np.ndarray,
    lv_ny: np.ndarray,
    lv_step: np.ndarray,
    lv_set: np.ndarray,
    norm: np.ndarray,
    rects: np.ndarray,
    compiled: CompiledCascade,
    stumps: np.ndarray,
    skip_rejected: bool,
    in_parallel: bool,
    n_parts: int,
    tofs: int = 0,
) -> list[LevelHits]:
    """The scan kernel over levels laid out as documented in
    :func:`vedere.detect.scan_kernels._scan_levels_impl`; hits per level."""
    n_levels = len(lv_w)
    rows = -(-lv_ny // lv_step)
    cols = -(-lv_nx // lv_step)
    task_level = np.repeat(np.arange(n_levels, dtype=np.int64), rows)
    task_y = np.concatenate(
        [np.arange(0, int(n), int(s), dtype=np.int64) for n, s in zip(lv_ny, lv_step, strict=True)]
        + [np.zeros(0, np.int64)]
    )
    task_cols = cols[task_level]
    task_out = (np.cumsum(task_cols) - task_cols).astype(np.int64)
    n_windows = int((rows * cols).sum())
    hit = np.zeros(n_windows, dtype=np.uint8)
    score = np.empty(n_windows, dtype=np.float64)
    c = compiled
    k = scan_kernels
    if c.lbp:
        kernel = lbp_row_kernels.scan_lbp_rows if c.cascade.is_stumps else k.scan_lbp
    else:
        h = haar_row_kernels
        kernel = h.scan_haar_stumps if c.cascade.is_stumps else h.scan_haar_rows
    # contiguous runs of rows (each of one level or a few), to the threads as they come
    # free (parallel.share), each run by the serial build
    n_tasks = len(task_level)
    n_pieces = min(n_tasks, PIECES_PER_THREAD * n_parts) if in_parallel else 1
    bounds = np.linspace(0, n_tasks, n_pieces + 1).astype(np.int64)
    node_tofs = c.node_tofs(tofs)

    def scan_rows(piece: int) -> None:
        a, b = bounds[piece], bounds[piece + 1]
        kernel(
            False, ii, sq, mask, lv_off, lv_w, lv_nx, lv_step, task_level[a:b], task_y[a:b],
            task_out[a:b], 1, lv_set, norm, rects, c.n_rects, node_tofs, stumps, c.links,
            c.subsets, c.weak_ends, c.stage_ends, c.stage_thr, bool(c.lbp),
            bool(skip_rejected), hit, score,
        )  # fmt: skip

    parallel.share(scan_rows, n_pieces, n_parts)
    idx = np.flatnonzero(hit)
    task = np.searchsorted(task_out, idx, side="right") - 1
    level = task_level[task]
    x = (idx - task_out[task]) * lv_step[level]
    y = task_y[task]
    bounds = np.searchsorted(level, np.arange(n_levels + 1))
    return [
        LevelHits(
            np.column_stack([x[a:b], y[a:b]]).astype(np.int64),
            score[idx[a:b]],
        )
        for a, b in itertools.pairwise(bounds)
    ]


def scaled_features(
    compiled: CompiledCascade, factors: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cascade's features scaled by each factor f (Viola and Jones' way): per scale the
    window (h, w) = rint(window · f); each rectangle's x, y, w, h rounded to the nearest
    pixel (w, h at least 1 and kept inside the window); the normalisation rectangle the
    scaled window's inner one; the first rectangle's weight corrected so that Σ w·area
    scales as the normalisation area does (rounding changes the areas' ratios: a feature
    that sums to 0 on a flat patch still does, as OpenCV 1.x made it). Returns windows
    (S, 2) int64 (h, w), norm (S, 4), rects (S, K, 3, 4) int64 and stumps (S, K, 8) float32,
    the layouts of the scan kernel."""
    wh, ww = compiled.cascade.window
    f = np.asarray(factors, dtype=np.float64).reshape(-1, 1)
    win = np.rint(np.array([[wh, ww]]) * f).astype(np.int64)  # (S, 2)
    r = compiled.rects[None].astype(np.float64) * f[:, :, None, None]  # (S, K, 3, 4)
    rects = np.rint(r).astype(np.int64)
    rects[..., 2:] = np.maximum(rects[..., 2:], 1)
    win_w = win[:, 1][:, None, None]
    win_h = win[:, 0][:, None, None]
    rects[..., 0] = np.clip(rects[..., 0], 0, win_w - 1)
    rects[..., 1] = np.clip(rects[..., 1], 0, win_h - 1)
    rects[..., 2] = np.minimum(rects[..., 2], win_w - rects[..., 0])
    rects[..., 3] = np.minimum(rects[..., 3], win_h - rects[..., 1])
    used = np.arange(3)[None, :] < compiled.n_rects[:, None]  # (K, 3)
    rects[:, ~used] = 0
    stumps = np.repeat(compiled.stumps[None], len(f), axis=0)
    norm = np.stack(
        [np.ones(len(f), np.int64), np.ones(len(f), np.int64), win[:, 1] - 2, win[:, 0] - 2],
        axis=1,
    )
    # the first weight absorbs the rounding: Σ w'·area' = s²·Σ w·area, s² the ratio of the
    # normalisation areas (0 stays 0 for the usual zero-sum features; exact at f = 1)
    n0 = compiled.norm
    s2 = (norm[:, 2] * norm[:, 3]).astype(np.float64) / float(n0[2] * n0[3])
    w = compiled.stumps[:, 3:6].astype(np.float64)  # (K, 3)
    a = (compiled.rects[..., 2] * compiled.rects[..., 3]).astype(np.float64)  # (K, 3)
    a2 = (rects[..., 2] * rects[..., 3]).astype(np.float64)  # (S, K, 3)
    drift = s2[:, None] * (w * a).sum(axis=-1) - (w * a2).sum(axis=-1)  # (S, K)
    stumps[..., 3] = (w[:, 0] + drift / np.maximum(a2[..., 0], 1)).astype(np.float32)
    return win, norm, np.ascontiguousarray(rects), np.ascontiguousarray(stumps)


def scan_scaled_features(
    gray: np.ndarray,
    compiled: CompiledCascade,
    factors: Sequence[float],
    steps: Sequence[int],
    skip_rejected: bool = True,
) -> tuple[np.ndarray, list[LevelHits]]:
    """Scan the (H, W) uint8 ``gray`` itself (one integral image, no resizing) with the
    features scaled by each of ``factors`` (:func:`scaled_features`), windows every
    ``steps`` pixels. Returns the windows' (h, w) per factor (S, 2) and the accepted
    windows' (x, y) in image pixels per factor."""
    if compiled.lbp or compiled.any_tilted:
        raise ValueError(
            "scan='features' needs upright Haar features (this cascade's are "
            f"{'LBP' if compiled.lbp else 'tilted'}); use scan='pyramid'"
        )
    gray = np.ascontiguousarray(gray)
    h, w = gray.shape
    win, norm, rects, stumps = scaled_features(compiled, factors)
    n = len(win)
    lv_nx = np.maximum(w - win[:, 1] + 1, 0)
    lv_ny = np.maximum(h - win[:, 0] + 1, 0)
    lv_step = np.asarray(steps, dtype=np.int64).reshape(-1)
    in_parallel, n_threads = _threads(lv_nx, lv_ny, lv_step)
    dtype, mask = sum_dtype(int(win.prod(axis=1).max(initial=0)))
    levels = build_levels(gray, [(h, w)], n_threads, dtype)
    hits = _scan(
        levels.ii, levels.sq, mask, np.zeros(n, np.int64), np.full(n, w, np.int64), lv_nx, lv_ny,
        lv_step, np.arange(n, dtype=np.int64), norm, rects, compiled, stumps,
        skip_rejected, in_parallel, n_threads,
    )  # fmt: skip
    return win, hits
