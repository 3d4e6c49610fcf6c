"""Training throughput of the MLP 3072-512-10 in vedere against PyTorch CPU, in the same run.

    python bench/nn_throughput.py [--epochs 3] [--n 50000] [--batch 256] [--threads 2]

Model: Linear(3072, 512) → ReLU → Linear(512, 10), softmax cross-entropy, SGD with momentum
0.9 (lr 0.01), batch 256, float32, on N random inputs (uniform [0, 1)) with random labels.
Each framework trains ``--epochs`` epochs over a fresh seeded permutation, the two taking
turns epoch by epoch; the best epoch's images per second is reported (the first epoch
includes warm-up) along with the median. Both use the same BLAS
thread count. Also reported: float32 matmul peak of NumPy on this machine (GFLOP/s), the
fraction of it a vedere training step reaches, and vedere's peak extra memory in an epoch
(tracemalloc, on top of the input array).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import tracemalloc

import numpy as np

from machine import describe, matmul_peak


def flops_per_image(sizes: list[int]) -> float:
    """Multiply-adds ×2 of forward (x·Wᵀ), weight gradient (Gᵀ·x) and, for all but the first
    layer, the input gradient (G·W)."""
    total = 0.0
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        total += 2 * a * b * (2 if i == 0 else 3)
    return total


def vedere_epochs(x, y, sizes, batch, epochs, seed=0):
    """Generator: trains one epoch per ``next()``, yields (seconds, peak bytes, mean loss)."""
    from vedere.nn import SoftmaxCrossEntropy, mlp, optim

    model = mlp(sizes, activation="relu", init="he", rng=seed)
    loss_fn = SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(seed)
    n = len(y)
    model.train()
    for _ in range(epochs):
        tracemalloc.start()
        t = time.perf_counter()
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            loss = loss_fn.forward(model.forward(x[idx]), y[idx])
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
            total += loss
        seconds = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        yield seconds, peak, total / -(-n // batch)


def torch_epochs(x, y, sizes, batch, epochs, threads, seed=0):
    """Generator: trains one epoch per ``next()``, yields (seconds, mean loss)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    n = len(y)
    for _ in range(epochs):
        t = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            loss = loss_fn(model(tx[idx]), ty[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        yield time.perf_counter() - t, total / -(-n // batch)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    sizes = [3072, 512, 10]
    rng = np.random.default_rng(0)
    x = rng.random((args.n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], args.n).astype(np.int64)
    with threadpool_limits(args.threads):
        peak = matmul_peak()
        # alternate epochs of the two so that drifts in machine load hit both alike
        ours = vedere_epochs(x, y, sizes, args.batch, args.epochs)
        theirs = torch_epochs(x, y, sizes, args.batch, args.epochs, args.threads)
        v_times, v_peaks, v_losses, t_times, t_losses = [], [], [], [], []
        for _ in range(args.epochs):
            sec, peak_bytes, loss = next(ours)
            v_times.append(sec)
            v_peaks.append(peak_bytes)
            v_losses.append(loss)
            sec, loss = next(theirs)
            t_times.append(sec)
            t_losses.append(loss)
        import torch

        t_version = torch.__version__
        machine = describe(peak)
    fpi = flops_per_image(sizes)
    v_ips = args.n / min(v_times)
    t_ips = args.n / min(t_times)
    result = {
        **machine,
        "torch": t_version,
        "threads": args.threads,
        "n": args.n,
        "batch": args.batch,
        "epochs": args.epochs,
        "vedere_images_per_s": round(v_ips),
        "torch_images_per_s": round(t_ips),
        "ratio_vedere_over_torch": round(v_ips / t_ips, 3),
        "ratio_of_medians": round(float(np.median(t_times) / np.median(v_times)), 3),
        "vedere_gflops": round(v_ips * fpi / 1e9, 1),
        "fraction_of_peak": round(v_ips * fpi / 1e9 / peak, 3),
        "input_mb": round(x.nbytes / 2**20, 1),
        "vedere_peak_extra_mb": round(max(v_peaks) / 2**20, 1),
        "peak_extra_over_input": round(max(v_peaks) / x.nbytes, 4),
        "vedere_epoch_s": [round(t, 2) for t in v_times],
        "torch_epoch_s": [round(t, 2) for t in t_times],
        "vedere_mean_loss": [round(v, 4) for v in v_losses],
        "torch_mean_loss": [round(v, 4) for v in t_losses],
    }
    for k, v in result.items():
        print(f"{k:<26} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
