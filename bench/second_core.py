"""How steady a core's vector and scalar speed are, on one thread and on two (issue 23's
two-thread comparison against OpenCV).

    python bench/second_core.py [--launches 300]

Two Numba kernels on vedere's threading layer, about 1 and 2 ms of work per thread: a
vector loop (float32 multiply-add over an L1-resident array) and a scalar chain of
dependent multiply-adds. Each runs on one thread, then as two equal parts on two threads
(``prange``); printed are the 5th, 25th, 50th, 75th and 95th percentiles of a launch's wall
time in ms. On free cores every row is steady and a two-part launch takes one part's time.
On a virtual machine whose vCPUs share physical cores with other work, the vector loop's
launches come out up to twice as slow in streaks, on one thread or two, while the scalar
chain stays steady: code that keeps the vector units busy is the code the neighbours slow.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np

import vedere.parallel  # noqa: F401  (vedere's threading layer, chosen before Numba starts)
from machine import describe


@numba.njit(nogil=True, fastmath=True, cache=True)
def vector_part(a: np.ndarray, b: np.ndarray, reps: int) -> float:  # pragma: no cover
    for _ in range(reps):
        for i in range(a.shape[0]):
            b[i] = a[i] * np.float32(1.0001) + b[i]
    return b[0]


@numba.njit(nogil=True, cache=True)
def scalar_part(n: int, seed: int) -> float:  # pragma: no cover
    x = 1.0 + seed
    for _ in range(n):
        x = x * 1.0000001 + 1e-9
    return x


@numba.njit(parallel=True, fastmath=True, cache=True)
def vector_parts(a: np.ndarray, b: np.ndarray, reps: int) -> np.ndarray:  # pragma: no cover
    out = np.zeros(a.shape[0], np.float32)
    for p in numba.prange(a.shape[0]):
        out[p] = vector_part(a[p], b[p], reps)
    return out


@numba.njit(parallel=True, cache=True)
def scalar_parts(n: int, parts: int) -> np.ndarray:  # pragma: no cover
    out = np.zeros(parts)
    for p in numba.prange(parts):
        out[p] = scalar_part(n, p)
    return out


def percentiles(fn, launches: int) -> list[float]:
    fn()
    times = []
    for _ in range(launches):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return [round(float(v), 2) for v in np.percentile(times, [5, 25, 50, 75, 95])]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--launches", type=int, default=300)
    args = ap.parse_args()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    print(json.dumps(describe()))
    a = np.random.default_rng(0).random((2, 4096), dtype=np.float32)
    b = np.zeros_like(a)
    reps, n = 3000, 1_300_000
    rows = {
        "vector, one part, one thread": lambda: vector_part(a[0], b[0], reps),
        "vector, two parts, two threads": lambda: vector_parts(a, b, reps),
        "scalar, one part, one thread": lambda: scalar_part(n, 0),
        "scalar, two parts, two threads": lambda: scalar_parts(n, 2),
    }
    print("launch wall time, ms: 5th / 25th / 50th / 75th / 95th percentile")
    for name, fn in rows.items():
        print(f"{name:32s} {percentiles(fn, args.launches)}")


if __name__ == "__main__":
    main()
