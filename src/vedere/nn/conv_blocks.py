"""A convolution's blocks of images on several threads at once, each multiplying on one
BLAS thread.

:class:`vedere.nn.Conv2d` multiplies block by block (an im2col matrix that stays in cache,
:data:`vedere.nn.conv.BLOCK_BYTES`). Left to itself OpenBLAS splits every one of those
products over its threads and synchronises them at each call; on a convolution's tall,
narrow products two threads then run only about 1.3× faster than one. The blocks are
independent, so for a big layer W worker threads instead take every W-th block each and run
its im2col, its products and its col2im alone — serial kernels, one BLAS thread
(:func:`vedere.nn.blas.one_thread`), a workspace of their own in their own core's cache —
and the weight gradient is the sum of the workers' partial sums. A training step of the
default CNN's 32×32 to 8×8 layers runs 1.1–1.3× faster that way (BENCHMARKS.md); small
feature maps, with few blocks to share, run faster the usual way, so the choice is made per
layer by the size of its im2col matrices and its width (:func:`workers_for`), never by
machine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import TypeVar

import numba
import numpy as np

from vedere import parallel

from . import blas

#: a layer's im2col matrices for the whole batch (bytes) from which its blocks go to workers
PARALLEL_BYTES = 24 * 2**20
#: ... for layers of at most this many output channels: the narrow products, where
#: OpenBLAS's own split over its threads gains least (at airbench94's 256 channels the
#: worker way made the whole network's step slower: 0.66-0.76× PyTorch against 0.82-0.85×)
MAX_WORKER_CHANNELS = 128
#: bytes of im2col matrix per block on a worker: within one core's share of the cache
WORKER_BLOCK_BYTES = 2 * 2**20

T = TypeVar("T")


def workers_for(total_bytes: int, n_images: int, out_channels: int) -> int:
    """How many threads run a layer whose im2col matrices for the batch hold
    ``total_bytes``: Numba's thread count (vedere's parallelism) for a big, narrow layer
    (:data:`PARALLEL_BYTES`, :data:`MAX_WORKER_CHANNELS`) of at least two images per
    thread, where NumPy's BLAS threads can be set; else 1 (the usual way)."""
    w = numba.get_num_threads()
    if w < 2 or total_bytes < PARALLEL_BYTES or n_images < 2 * w:
        return 1
    if out_channels > MAX_WORKER_CHANNELS:
        return 1
    return w if blas.threads_settable() else 1


def worker_blocks(n_images: int, total_bytes: int, workers: int) -> list[list[tuple[int, int]]]:
    """Per worker, its [start, stop) blocks of images: about :data:`WORKER_BLOCK_BYTES` each,
    as many for every worker (their sizes differ by at most one image)."""
    n_blocks = max(workers, math.ceil(total_bytes / WORKER_BLOCK_BYTES))
    n_blocks = min(n_images, -(-n_blocks // workers) * workers)
    edges = np.linspace(0, n_images, n_blocks + 1).astype(np.int64)
    blocks = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
    return [blocks[w::workers] for w in range(workers)]


def run(job: Callable[[list[tuple[int, int]]], T], blocks: list[list[tuple[int, int]]]) -> list[T]:
    """``job(its blocks)`` on each worker at once, NumPy's BLAS on one thread each; the
    results in worker order. Holds :data:`vedere.parallel.PARALLEL_LOCK` throughout (the
    BLAS setting is process-wide, and no parallel kernel should compete with the workers);
    ``job`` must use serial kernels only."""
    with parallel.PARALLEL_LOCK, blas.one_thread():
        return list(parallel.helper_pool(len(blocks)).map(job, blocks))
