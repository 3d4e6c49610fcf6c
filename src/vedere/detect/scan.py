"""The detector's scan of a whole image pyramid in two compiled passes.

For a batch of pyramid levels (:func:`scan_pyramid`):

1. **build** (:func:`vedere.detect.kernels.build_levels`): each level is resized from the
   image (OpenCV's INTER_LINEAR_EXACT, as :func:`vedere.detect.resize.resize_linear`) and
   its integral image and squared integral image written in the same pass over its rows, all
   levels into one int32 buffer each (the levels dealt to the threads by size);
2. **scan** (:func:`vedere.detect.kernels.scan_levels`): every (level, row) of window
   positions is one task, the tasks dealt to the threads in turn.

Two kernel launches per batch instead of a resize, two integral images and a launch per
level: the launches were what made small images slow (a 96×96 image has 15 levels, and
waking the worker threads for each cost more than scanning it). Jobs under
:data:`SERIAL_WINDOWS` windows run on the calling thread (no worker threads, no lock, no GIL).

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

from vedere.detect import kernels
from vedere.detect.cascade import Cascade
from vedere.detect.normalize import inner_rect
from vedere.detect.resize import taps

#: bytes of integral images per batch of levels (two int32 buffers: 8 bytes a pixel)
BATCH_BYTES = 64 * 2**20
#: jobs with fewer windows than this run serially on the calling thread
SERIAL_WINDOWS = 20_000


class CompiledCascade:
    """A cascade's arrays laid out for the scan kernel: per stump its feature's used
    rectangles first (``rects`` (K, 3, 4) int64 (x, y, w, h), ``n_rects`` (K,)), in the order
    OpenCV sums them, and ``stumps`` (K, 8) float32 rows (threshold, left, right, the three
    rectangle weights, 0, 0)."""

    def __init__(self, cascade: Cascade) -> None:
        self.cascade = cascade
        c = cascade
        rects = c.features.rects[c.feature].astype(np.int64)  # (K, 3, 4)
        weights = c.features.weights[c.feature]  # (K, 3)
        used = weights != 0
        # stable: used rectangles first, in their order
        order = np.argsort(~used, axis=1, kind="stable")
        self.rects = np.ascontiguousarray(np.take_along_axis(rects, order[:, :, None], axis=1))
        self.n_rects = used.sum(axis=1).astype(np.int64)
        self.stumps = np.zeros((len(c.feature), 8), dtype=np.float32)
        self.stumps[:, 0] = c.threshold
        self.stumps[:, 1] = c.left
        self.stumps[:, 2] = c.right
        self.stumps[:, 3:6] = np.take_along_axis(weights, order, axis=1)
        self.stage_ends = c.stage_ends.astype(np.int64)
        self.stage_thr = c.effective_stage_thresholds().astype(np.float64)
        self.norm = np.array(inner_rect(*c.window), dtype=np.int64)


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
    its four-corner difference."""

    h: np.ndarray
    w: np.ndarray
    off: np.ndarray
    ii: np.ndarray
    sq: np.ndarray

    def level(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Level i's (ii, sq) as (h + 1, w + 1) int32 views."""
        shape = (int(self.h[i]) + 1, int(self.w[i]) + 1)
        a, b = int(self.off[i]), int(self.off[i]) + shape[0] * shape[1]
        return self.ii[a:b].reshape(shape), self.sq[a:b].reshape(shape)


def build_levels(gray: np.ndarray, sizes: Sequence[tuple[int, int]], n_parts: int = 1) -> Levels:
    """The (H, W) uint8 ``gray`` resized to each (height, width) of ``sizes`` (exactly as
    :func:`vedere.detect.resize.resize_linear`) and integrated, in one compiled pass; on
    ``n_parts`` threads when more than one (the levels dealt out biggest first)."""
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
    # levels to parts, biggest first to the least loaded part
    part_of = np.zeros(len(sizes), dtype=np.int64)
    load = [0] * n_parts
    for i in np.argsort(-area, kind="stable"):
        p = load.index(min(load))
        part_of[i] = p
        load[p] += int(area[i])
    ii = np.empty(int(area.sum()), dtype=np.int32)
    sq = np.empty(int(area.sum()), dtype=np.int32)
    kernels.build_levels(
        n_parts > 1, gray, lv_w, lv_h, lv_off, tx_off, ty_off,
        x0, x1, a0, a1, y0, y1, b0, b1, part_of, n_parts, ii, sq,
    )  # fmt: skip
    return Levels(lv_h, lv_w, lv_off, ii, sq)


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
    rows = -(-lv_ny // lv_step)
    cols = -(-lv_nx // lv_step)
    n_windows = int((rows * cols).sum())
    parallel = n_windows >= SERIAL_WINDOWS and numba.get_num_threads() > 1
    n_parts = numba.get_num_threads() if parallel else 1
    levels = build_levels(gray, [sizes[i] for i in batch], n_parts)
    ii, sq, lv_off = levels.ii, levels.sq, levels.off
    task_level = np.repeat(np.arange(len(batch), dtype=np.int64), rows)
    task_y = np.concatenate(
        [np.arange(0, int(n), int(s), dtype=np.int64) for n, s in zip(lv_ny, lv_step, strict=True)]
    )
    task_cols = cols[task_level]
    task_out = (np.cumsum(task_cols) - task_cols).astype(np.int64)
    hit = np.zeros(n_windows, dtype=np.uint8)
    score = np.empty(n_windows, dtype=np.float64)
    c = compiled
    kernels.scan_levels(
        parallel, ii, sq, lv_off, lv_w, lv_nx, lv_step, task_level, task_y, task_out, n_parts,
        c.norm, c.rects, c.n_rects, c.stumps, c.stage_ends, c.stage_thr,
        bool(skip_rejected), hit, score,
    )  # fmt: skip
    idx = np.flatnonzero(hit)
    task = np.searchsorted(task_out, idx, side="right") - 1
    level = task_level[task]
    x = (idx - task_out[task]) * lv_step[level]
    y = task_y[task]
    bounds = np.searchsorted(level, np.arange(len(batch) + 1))
    return [
        LevelHits(
            np.column_stack([x[a:b], y[a:b]]).astype(np.int64),
            score[idx[a:b]],
        )
        for a, b in itertools.pairwise(bounds)
    ]
