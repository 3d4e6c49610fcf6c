"""Training throughput of a CNN in vedere against the same network in PyTorch CPU.

    python bench/cnn_throughput.py [--widths 64,256,256] [--batch 128] [--steps 5]
                                   [--rounds 4] [--threads 2] [--clock wall|cpu] [--profile]
                                   [--isolation] [--json out.json]

Network (airbench-shaped, Jordan 2024): a 2×2 "whitening" convolution 3→w0 (no padding) →
GELU, then three blocks, each conv3×3 → MaxPool2 → BN → GELU → conv3×3 → BN → GELU, with
widths ``--widths``, then a global max-pooling and a linear layer (airbench's has no bias
and a constant output scale, which change nothing in the work). Softmax
cross-entropy, SGD with Nesterov momentum 0.9, float32, random 32×32 images.

Both frameworks start from the same weights (vedere's state dict loaded into PyTorch) and
train on the same batches. Each round runs ``--steps`` training steps (forward, backward,
SGD step) in each, the two taking turns, so that changes in machine load hit both alike;
reported are the median images/s of each and the ratio of the medians (vedere / PyTorch),
both limited to ``--threads`` BLAS/intra-op threads. Also: NumPy's float32 matmul peak on
this machine (GFLOP/s) and the fraction of it vedere's training step reaches (convolution
and linear multiply-adds × 2, times 3 for forward, input gradient and weight gradient).

The BLAS matters most: vedere's convolutions are NumPy matrix products (OpenBLAS), while
PyTorch's CPU build multiplies with MKL, 1.1–1.6× faster on a convolution's tall, narrow
products on the Intel Xeon measured (BENCHMARKS.md). NumPy's OpenBLAS chooses its kernels for
the CPU it runs on unless ``OPENBLAS_CORETYPE`` forces one; forced to ``Haswell`` (AVX2) on a
CPU with AVX-512 it reaches half its peak, while PyTorch's oneDNN always uses the widest
vectors. The variable is reported; unset it (``env -u OPENBLAS_CORETYPE python
bench/cnn_throughput.py``) for a like-for-like comparison. On a busy shared machine,
``--threads 1 --clock cpu`` gives steadier ratios than wall time.

``--profile`` adds where vedere's time goes: per layer type, forward and backward, inside
the convolutions the im2col / col2im copies apart from the rest (the matrix products), and
the Numba kernel launches per training step, parallel and serial (:mod:`vedere.parallel`).
``--isolation`` also times vedere in a process of its own that never loads PyTorch: the
comparison rounds run beside a loaded PyTorch (its OpenMP threads alive), so the two figures
show whether sharing the process costs vedere anything.

Every row records the machine (bench/machine.py): ``lscpu``'s model name, the BLAS kernel
family, NumPy's matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np

from machine import describe, matmul_peak
from twin import torch_twin

clock = time.perf_counter  # or time.process_time (--clock cpu)


def airbench(widths: tuple[int, ...], whiten: int, n_classes: int = 10, seed: int = 0):
    """The vedere network and its layer list (for the PyTorch twin)."""
    from vedere.nn import (
        GELU,
        BatchNorm2d,
        Conv2d,
        GlobalMaxPool2d,
        Linear,
        MaxPool2d,
        Sequential,
    )

    gen = np.random.default_rng(seed)
    layers = [Conv2d(3, whiten, 2, rng=gen), GELU()]
    c = whiten
    for w in widths:
        layers += [
            Conv2d(c, w, 3, padding=1, bias=False, rng=gen),
            MaxPool2d(2),
            BatchNorm2d(w),
            GELU(),
            Conv2d(w, w, 3, padding=1, bias=False, rng=gen),
            BatchNorm2d(w),
            GELU(),
        ]
        c = w
    layers += [GlobalMaxPool2d(), Linear(c, n_classes, rng=gen)]
    return Sequential(*layers)


STEMS = ("trained", "weight-frozen", "frozen")


def network(args, widths: tuple[int, ...]):
    """The network of the command line: ``--arch`` through vedere's CNN builder, else the
    airbench-shaped one of ``--widths`` and ``--whiten``."""
    if args.arch is None:
        return airbench(widths, args.whiten)
    from vedere.classify import cnn_arch

    return cnn_arch.build(args.arch, (32, 32, 3), 10, rng=0)


def freeze_stem(model, stem: str, twin=None) -> None:
    """Freeze the stem's kernel (and, with ``stem`` "frozen", its bias) in vedere's
    ``model`` and in its PyTorch ``twin`` (``requires_grad`` off: autograd skips them)."""
    params = {"trained": [], "weight-frozen": ["weight"], "frozen": ["weight", "bias"]}[stem]
    for name in params:
        getattr(model.layers[0], name).trainable = False
        if twin is not None:
            getattr(twin[0], name).requires_grad_(False)


def vedere_alone(args, widths: tuple[int, ...]) -> dict[str, float]:
    """vedere's images/s (median of ``--rounds``) in this process, PyTorch never imported."""
    import numba
    from threadpoolctl import threadpool_limits

    from vedere import parallel  # noqa: F401  (selects vedere's threading layer first)
    from vedere.nn import SoftmaxCrossEntropy, optim

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    gen = np.random.default_rng(0)
    n = args.batch * args.steps
    x = gen.standard_normal((n, 3, 32, 32)).astype(np.float32)
    y = gen.integers(0, 10, n).astype(np.int64)
    model = network(args, widths)
    freeze_stem(model, args.stem)
    loss_fn = SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    times = []
    with threadpool_limits(args.threads):
        for r in range(args.rounds + 1):  # the first is warm-up
            t = clock()
            for s in range(0, n, args.batch):
                loss_fn.forward(model.forward(x[s : s + args.batch]), y[s : s + args.batch])
                model.backward(loss_fn.backward())
                opt.step()
                opt.zero_grad()
            if r:
                times.append(clock() - t)
    return {"images_per_s": round(n / statistics.median(times), 1)}


def flops_per_image(model, shape: tuple[int, int, int]) -> float:
    """2 × multiply-adds of the convolutions and linear layers × 3 (forward, dL/dx, dL/dW)."""
    from vedere.nn import Conv2d, Linear

    x = np.zeros((2, *shape), dtype=np.float32)
    macs = 0.0
    model.eval()
    for m in model.layers:
        y = m.forward(x)
        if isinstance(m, Conv2d):
            kh, kw = m.kernel_size
            macs += y[0].size * m.in_channels * kh * kw
        elif isinstance(m, Linear):
            macs += m.in_features * m.out_features
        x = y
    model.train()
    return 2 * macs * 3


class Profiler:
    """Wall time per layer type (forward / backward) and of im2col / col2im in the convolutions."""

    def __init__(self, model) -> None:
        from vedere.nn import conv

        self.times: dict[str, float] = defaultdict(float)
        for m in model.layers:
            self._wrap(m)
        for name in ("im2col", "col2im"):
            self._wrap_function(conv, name)

    def _timed(self, label: str, fn):
        """``fn`` with its wall time added to ``times[label]``."""

        def timed(*a):
            t = clock()
            out = fn(*a)
            self.times[label] += clock() - t
            return out

        return timed

    def _wrap(self, m) -> None:
        kind = type(m).__name__
        m._forward = self._timed(f"{kind} forward", m._forward)
        m._backward = self._timed(f"{kind} backward", m._backward)
        if hasattr(m, "_forward_act"):  # a BatchNorm: its fused pass with the activation
            m._forward_act = self._timed(f"{kind}+activation forward", m._forward_act)
            m._backward_act = self._timed(f"{kind}+activation backward", m._backward_act)

    def _wrap_function(self, module, name: str) -> None:
        f = getattr(module, name)

        def timed(*a, **k):
            t = clock()
            out = f(*a, **k)
            self.times[f"  (conv: {name})"] += clock() - t
            return out

        setattr(module, name, timed)

    def report(self, total: float) -> list[str]:
        rows = sorted(self.times.items(), key=lambda kv: -kv[1])
        return [f"{k:<28} {v:7.3f} s  {100 * v / total:5.1f}%" for k, v in rows]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--widths", default="64,256,256", help="the three block widths")
    ap.add_argument("--whiten", type=int, default=24, help="width of the 2x2 stem convolution")
    ap.add_argument(
        "--arch",
        default=None,
        help="instead of --widths/--whiten: a vedere CNN architecture by name or spec, as "
        "`vedere train --model cnn --arch` builds it (its default options: ReLU), e.g. default",
    )
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5, help="training steps per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--stem",
        choices=STEMS,
        default="trained",
        help="weight-frozen: the stem's kernel frozen, as in the default CNN and airbench94 "
        "(its bias trains); frozen: its bias too, as in airbench94 after epoch 3",
    )
    ap.add_argument("--profile", action="store_true", help="break vedere's time down")
    ap.add_argument(
        "--no-fuse",
        action="store_true",
        help="run vedere's BatchNorm and activation layers one by one (Sequential.fuse_bn_act off)",
    )
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: process CPU time instead of wall time (steadier on a shared machine; "
        "meaningful with --threads 1, where no thread waits on another)",
    )
    ap.add_argument(
        "--isolation",
        action="store_true",
        help="also time vedere alone in a process that never loads PyTorch",
    )
    ap.add_argument("--vedere-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    widths = tuple(int(w) for w in args.widths.split(","))
    if args.no_fuse:
        from vedere.nn import Sequential

        Sequential.fuse_bn_act = False
    if args.vedere_only:
        print(json.dumps(vedere_alone(args, widths)))
        return

    import numba
    import torch
    from threadpoolctl import threadpool_limits

    from vedere import parallel  # selects vedere's threading layer before numba starts
    from vedere.nn import SoftmaxCrossEntropy, optim

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)

    model = network(args, widths)
    ref = torch_twin(model).train()
    freeze_stem(model, args.stem, ref)
    fpi = flops_per_image(model, (3, 32, 32))
    loss_fn = SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    t_opt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    t_loss = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    profiler = Profiler(model) if args.profile else None

    def vedere_round() -> tuple[float, float]:
        t = clock()
        for s in range(0, n, args.batch):
            loss = loss_fn.forward(model.forward(x[s : s + args.batch]), y[s : s + args.batch])
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
        return clock() - t, loss

    def torch_round() -> tuple[float, float]:
        t = clock()
        for s in range(0, n, args.batch):
            loss = t_loss(ref(tx[s : s + args.batch]), ty[s : s + args.batch])
            t_opt.zero_grad(set_to_none=True)
            loss.backward()
            t_opt.step()
        return clock() - t, loss.item()

    with threadpool_limits(args.threads):
        peak = matmul_peak()
        vedere_round()  # warm-up: Numba kernels, allocator, oneDNN primitives
        torch_round()
        if profiler is not None:
            profiler.times.clear()
        parallel.reset_launch_counts()
        v_times, t_times, v_loss, t_loss_v = [], [], [], []
        for _ in range(args.rounds):
            sec, loss = vedere_round()
            v_times.append(sec)
            v_loss.append(loss)
            sec, loss = torch_round()
            t_times.append(sec)
            t_loss_v.append(loss)
        machine = describe(peak)
    v_ips = n / statistics.median(v_times)
    t_ips = n / statistics.median(t_times)
    result = {
        **machine,
        "torch": torch.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "threads": args.threads,
        "clock": args.clock,
        "network": f"arch {args.arch}"
        if args.arch
        else f"airbench-shaped, whiten {args.whiten}, widths {list(widths)}",
        "stem": args.stem,
        "fused_bn_act": not args.no_fuse,
        "batch": args.batch,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "gflop_per_image": round(fpi / 1e9, 4),
        "vedere_images_per_s": round(v_ips, 1),
        "torch_images_per_s": round(t_ips, 1),
        "ratio_vedere_over_torch": round(v_ips / t_ips, 3),
        "vedere_gflops": round(v_ips * fpi / 1e9, 1),
        "torch_gflops": round(t_ips * fpi / 1e9, 1),
        "vedere_fraction_of_peak": round(v_ips * fpi / 1e9 / peak, 3),
        "vedere_round_s": [round(t, 3) for t in v_times],
        "torch_round_s": [round(t, 3) for t in t_times],
        "vedere_last_loss": [round(float(v), 4) for v in v_loss],
        "torch_last_loss": [round(float(v), 4) for v in t_loss_v],
    }
    for k, v in result.items():
        print(f"{k:<26} {v}")
    if args.isolation:
        alone = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--vedere-only"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        solo = json.loads(alone.stdout.strip().splitlines()[-1])
        result["vedere_images_per_s_without_torch_loaded"] = solo["images_per_s"]
        result["vedere_with_torch_loaded_over_without"] = round(v_ips / solo["images_per_s"], 3)
        print(f"{'vedere without torch':<26} {solo['images_per_s']} img/s (own process)")
    if profiler is not None:
        steps = args.rounds * args.steps
        print(f"\nNumba launches per training step ({parallel.threading_layer()} layer, serial")
        print(f"below {parallel.parallel_min_work()} values):")
        for key, count in sorted(parallel.LAUNCHES.items()):
            print(f"  {key:<34} {count / steps:6.1f}")
        result["launches_per_step"] = {
            k: round(c / steps, 1) for k, c in sorted(parallel.LAUNCHES.items())
        }
        total = sum(v_times)
        print(f"\nvedere time by layer ({total:.2f} s over {args.rounds} rounds):")
        print("\n".join(profiler.report(total)))
        result["profile_s"] = {k: round(v, 4) for k, v in profiler.times.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
