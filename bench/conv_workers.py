"""A convolution layer's training step the usual way against its blocks on worker threads
(issue 21, :mod:`vedere.nn.conv_blocks`), layer by layer.

    python bench/conv_workers.py [--batch 256] [--shapes default|airbench] [--repeats 15]

For each 3×3 layer of vedere's default CNN (or airbench94's widths at batch 128): forward
alone and forward + backward (dL/dx and dL/dW), channels-last float32 input as the layers
pass it on, each the best of ``--repeats`` calls, the two ways alternating twice (the best
of both kept): the usual way (each block's product split by OpenBLAS over its threads) and
the worker way (each worker thread takes every other block on one BLAS thread), whatever
the size threshold :data:`vedere.nn.conv_blocks.PARALLEL_BYTES` would choose. Best-of
timings, because this project's shared machines swing by tens of percent from minute to
minute. Prints the machine (bench/machine.py) first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

SHAPES = {  # (N, H, C_in, C_out) of 3×3 convolutions with padding 1
    "default": [
        (256, 32, 3, 24),
        (256, 32, 24, 32),
        (256, 16, 32, 32),
        (256, 16, 32, 64),
        (256, 8, 64, 64),
        (256, 8, 64, 128),
        (256, 4, 128, 128),
    ],
    "airbench": [
        (128, 32, 24, 64),
        (128, 16, 64, 64),
        (128, 16, 64, 256),
        (128, 8, 256, 256),
        (128, 4, 256, 256),
    ],
}


def best(fn, repeats: int) -> float:
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shapes", choices=sorted(SHAPES), default="default")
    ap.add_argument("--batch", type=int, default=0, help="override the batch of every shape")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(__file__))
    import machine  # bench/machine.py
    from vedere import nn
    from vedere.nn import conv, conv_blocks

    print(json.dumps(machine.describe()), flush=True)
    rng = np.random.default_rng(0)
    saved = conv_blocks.PARALLEL_BYTES
    totals = {"usual": 0.0, "workers": 0.0}
    try:
        for n, h, c, o in SHAPES[args.shapes]:
            n = args.batch or n
            layer = nn.Conv2d(c, o, 3, padding=1, bias=False, rng=0)
            x = rng.standard_normal((n, h, h, c)).astype(np.float32).transpose(0, 3, 1, 2)
            y = layer.forward(x)
            g = np.empty_like(y)
            g[...] = rng.standard_normal(y.shape)
            res: dict[str, tuple[float, float]] = {}
            for _ in range(2):
                for mode, threshold in (("usual", 10**15), ("workers", 0)):
                    conv_blocks.PARALLEL_BYTES = threshold
                    f = best(lambda layer=layer, x=x: layer.forward(x), args.repeats)
                    step = best(
                        lambda layer=layer, x=x, g=g: (layer.forward(x), layer.backward(g)),
                        args.repeats,
                    )
                    res[mode] = min(res.get(mode, (1e9, 1e9)), (f, step))
            im2col_mib = n * h * h * 9 * c * 4 / 2**20
            for mode in totals:
                totals[mode] += res[mode][1]
            print(json.dumps({
                "layer": f"N{n} {h}x{h} {c}->{o}",
                "im2col_mib": round(im2col_mib, 1),
                "chosen": "workers" if im2col_mib * 2**20 >= saved else "usual",
                "usual_forward_ms": round(res["usual"][0] * 1e3, 1),
                "usual_step_ms": round(res["usual"][1] * 1e3, 1),
                "workers_forward_ms": round(res["workers"][0] * 1e3, 1),
                "workers_step_ms": round(res["workers"][1] * 1e3, 1),
                "step_ratio": round(res["usual"][1] / res["workers"][1], 2),
            }), flush=True)  # fmt: skip
    finally:
        conv_blocks.PARALLEL_BYTES = saved
    print(json.dumps({k: round(v * 1e3, 1) for k, v in totals.items()} | {"block_bytes":
                     conv.BLOCK_BYTES}))  # fmt: skip


if __name__ == "__main__":
    main()
