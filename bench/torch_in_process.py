"""A vedere convolution training step with and without PyTorch loaded in the same process.

    python bench/torch_in_process.py none|torch [--steps 5] [--batch 128]

``torch`` imports PyTorch first and runs a PyTorch product before and after vedere's warm-up
(its OpenMP threads are then alive, as in a notebook that compares the two or imports
torchvision for data); ``none`` never imports it. Prints images/s (wall time, the best of
``--steps`` steps), Numba's threading layer and ``OMP_WAIT_POLICY``. Run each case in its
own process; compare the two lines. Network: conv3×3 3→32 → BN → GELU → max-pool → conv3×3
32→64 → BN → GELU on 32×32 random images.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=["none", "torch"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    if args.case == "torch":
        import torch

        torch.ones(1000, 1000) @ torch.ones(1000, 1000)
    import numba

    from vedere.nn import GELU, BatchNorm2d, Conv2d, MaxPool2d, Sequential

    net = Sequential(
        Conv2d(3, 32, 3, padding=1, rng=0),
        BatchNorm2d(32),
        GELU(),
        MaxPool2d(2),
        Conv2d(32, 64, 3, padding=1, rng=1),
        BatchNorm2d(64),
        GELU(),
    )
    x = np.random.default_rng(0).standard_normal((args.batch, 3, 32, 32)).astype(np.float32)

    def step() -> None:
        y = net.forward(x)
        net.backward(np.ones_like(y))

    step()
    if args.case == "torch":
        torch.ones(1000, 1000) @ torch.ones(1000, 1000)
    best = float("inf")
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    print(
        f"{args.case:<6} {args.batch / best:8.0f} img/s  threading layer "
        f"{numba.threading_layer()}  OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    )


if __name__ == "__main__":
    main()
