"""Matrix products of the shapes vedere's layers multiply, NumPy (OpenBLAS, what vedere uses)
against ``torch.mm`` (MKL, what PyTorch's CPU build uses), one thread each, in one run.

    python bench/gemm_shapes.py [--threads 1] [--repeats 20]

The shapes: the MLP's first layer (forward, weight gradient, input gradient) and the
convolutions' im2col products of the default CNN and of airbench94's widths (forward
X_col·W_matᵀ, weight gradient X_colᵀ·G, input gradient G·W_mat). Each product runs
``--repeats`` times after a warm-up; reported are GFLOP/s (the best of three rounds of
process CPU time, steady on a busy machine) and the ratio OpenBLAS / MKL. This is where
PyTorch's advantage on a convolution step comes from: the products, not the layers around
them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from machine import cpu_model

#: (M, K, N, A transposed) of C = A·B
SHAPES = (
    (256, 3072, 512, False),  # MLP forward x·W₁ᵀ
    (3072, 256, 512, True),  # MLP dW₁ = Gᵀ·x
    (8192, 216, 32, False),  # default CNN, first block: X_col·W_matᵀ (K = 9·24)
    (216, 8192, 32, True),  # ... its dW
    (8192, 32, 216, False),  # ... its dX_col = G·W_mat
    (4096, 576, 64, False),  # C_in 64 → 64
    (2048, 1152, 128, False),  # C_in 128 → 128
    (1024, 2304, 256, False),  # airbench, C_in 256 → 256
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"cpu: {cpu_model()}, {args.threads} thread(s), torch {torch.__version__}")

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(3):
            t = time.process_time()
            for _ in range(args.repeats):
                fn()
            times.append((time.process_time() - t) / args.repeats)
        return min(times)

    with threadpool_limits(args.threads):
        for m, k, n, ta in SHAPES:
            a = rng.random((k, m) if ta else (m, k), dtype=np.float32)
            b = rng.random((k, n), dtype=np.float32)
            lhs = a.T if ta else a
            out = np.empty((m, n), np.float32)
            ta_t, tb_t = torch.from_numpy(a), torch.from_numpy(b)
            lhs_t = ta_t.T if ta else ta_t
            out_t = torch.empty(m, n)
            flop = 2 * m * k * n
            t_np = best(lambda lhs=lhs, b=b, out=out: np.matmul(lhs, b, out=out))
            t_mm = best(
                lambda lhs_t=lhs_t, tb_t=tb_t, out_t=out_t: torch.mm(lhs_t, tb_t, out=out_t)
            )
            print(
                f"{m:>5} × {k:>5} · {k:>5} × {n:>4}{' (Aᵀ)' if ta else '     '}  "
                f"OpenBLAS {flop / t_np / 1e9:6.1f}  MKL {flop / t_mm / 1e9:6.1f} GFLOP/s  "
                f"ratio {t_mm / t_np:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
