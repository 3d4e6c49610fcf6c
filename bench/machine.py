"""What every benchmark row records about the machine it ran on (BENCHMARKS.md keeps one
table per CPU): the CPU's model name as ``lscpu`` prints it, cores, NumPy and its BLAS
(kernel family, threads), Numba's threading layer and serial/parallel threshold
(:mod:`vedere.parallel`), and NumPy's float32 matmul peak measured in the same run.

    python bench/machine.py [--threads 2]      # prints the same fields alone
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np


def cpu_model() -> str:
    """``Model name`` from ``lscpu`` (or /proc/cpuinfo's ``model name``, or platform's)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_peak(shapes: tuple[tuple[int, int, int], ...] | None = None) -> float:
    """Best float32 GFLOP/s of NumPy's matmul over a few square, MLP- and convolution-shaped
    products (run inside the caller's thread limits)."""
    shapes = shapes or ((1024, 1024, 1024), (256, 3072, 512), (8192, 576, 64), (6272, 2304, 256))
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in shapes:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=out)
        reps = max(3, int(4e9 / (2 * m * k * n)))
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=out)
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)
    return best


def blas_libraries() -> list[str]:
    """Every BLAS loaded in this process: library, version, kernel family, threads."""
    from threadpoolctl import threadpool_info

    return [
        f"{i['internal_api']} {i['version']} "
        f"({i.get('architecture') or i.get('threading_layer', '?')}, {i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]


def describe(peak_gflops: float | None = None) -> dict[str, object]:
    """The machine fields of a benchmark row (``peak_gflops``: the matmul peak measured by
    the caller under its thread limits; measured here when None)."""
    from vedere import parallel

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas_libraries(),
        "numba_threading_layer": parallel.threading_layer(),
        "parallel_min_work": parallel.parallel_min_work(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "matmul_peak_gflops": round(matmul_peak() if peak_gflops is None else peak_gflops, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        for k, v in describe().items():
            print(f"{k:<24} {v}")


if __name__ == "__main__":
    main()
