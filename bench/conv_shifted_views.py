"""Convolution without im2col, the prototype issue 21 asked for, against vedere's im2col
Conv2d: a training step (forward, dL/dx, dL/dW) of one layer, one thread, CPU time.

    python bench/conv_shifted_views.py

The layout: channels-last activations padded once, the rows of width W + p sharing their
zero columns and the images their zero rows, so that output pixel q reads input q + u·R + v
for kernel tap (u, v). Each of the kh·kw taps is then one matrix product over a contiguous
shifted view of the padded rows (outputs at the padded positions, the few extra ones
discarded), accumulated in place with BLAS's β = 1 (SciPy's ``sgemm`` on F-ordered views);
dL/dx is the same routine over the padded gradient with the kernel flipped and transposed;
dL/dW the kh·kw products P_shiftedᵀ · G. Results are checked against Conv2d before timing.
Not adopted (BENCHMARKS.md, issue 21): the per-tap products have K = C_in, where OpenBLAS is
far slower than on im2col's K = kh·kw·C_in.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

CHUNK_BYTES = 2**20  # output rows per block: this many bytes of the output stay in cache


def shifted_matmul(src, ws, offsets, m, out) -> None:
    """out[q] = Σ_t src[q + offsets[t]] · ws[t] for q < m (float32, in place, by blocks)."""
    o = out.shape[1]
    rows = max(256, CHUNK_BYTES // (4 * o))
    wts = [np.asfortranarray(w.T) for w in ws]
    for s in range(0, m, rows):
        e = min(m, s + rows)
        yt = out[s:e].T
        for t, off in enumerate(offsets):
            blas.sgemm(
                1.0, wts[t], src[s + off : e + off].T, beta=0.0 if t == 0 else 1.0, c=yt,
                overwrite_c=1,
            )  # fmt: skip


class ShiftedConv:
    """A stride-1 convolution (padding p ≤ k - 1) in the shared-padding layout."""

    def __init__(self, weight: np.ndarray, ph: int, pw: int) -> None:
        self.w, self.ph, self.pw = weight, ph, pw  # weight (O, C, kh, kw)

    def forward(self, x: np.ndarray) -> np.ndarray:  # x (N, H, W, C) → (N, H_out, W_out, O)
        n, h, w, c = x.shape
        o, _, kh, kw = self.w.shape
        ph, pw = self.ph, self.pw
        r, s, b = w + pw, (h + ph) * (w + pw), ph * (w + pw) + pw
        padded = np.zeros((n * s + (kh - 1) * r + kw - 1, c), np.float32)
        padded[b : b + n * s].reshape(n, h + ph, r, c)[:, :h, :w] = x
        ho, wo = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
        ws = [self.w[:, :, u, v].T for u in range(kh) for v in range(kw)]
        offsets = [u * r + v for u in range(kh) for v in range(kw)]
        y = np.empty((n * s, o), np.float32)
        shifted_matmul(padded, ws, offsets, n * s, y)
        self.cache = (padded, x.shape, r, s, b, ho, wo)
        return np.ascontiguousarray(y.reshape(n, h + ph, r, o)[:, :ho, :wo])

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        padded, (n, h, w, c), r, s, b, ho, wo = self.cache
        o, _, kh, kw = self.w.shape
        e = (kh - 1) * r + kw - 1
        gz = np.zeros((n * s + 2 * e, o), np.float32)
        gz[e : e + n * s].reshape(n, h + self.ph, r, o)[:, :ho, :wo] = g
        gp = gz[e : e + n * s]
        dw = np.empty((kh, kw, c, o), np.float32)
        for u in range(kh):
            for v in range(kw):
                off = u * r + v
                np.matmul(padded[off : off + n * s].T, gp, out=dw[u, v])
        ws = [self.w[:, :, kh - 1 - u, kw - 1 - v] for u in range(kh) for v in range(kw)]
        offsets = [u * r + v for u in range(kh) for v in range(kw)]
        dp = np.empty((n * s, c), np.float32)
        shifted_matmul(gz[b:], ws, offsets, n * s, dp)
        dx = np.ascontiguousarray(dp.reshape(n, h + self.ph, r, c)[:, :h, :w])
        return dx, dw.transpose(3, 2, 0, 1)


SHAPES = (  # (N, H, C_in, C_out) of 3×3 convolutions with padding 1
    (256, 31, 24, 32),
    (256, 15, 32, 32),
    (256, 15, 32, 64),
    (256, 7, 64, 64),
    (256, 7, 64, 128),
    (256, 3, 128, 128),
    (128, 31, 24, 64),
    (128, 15, 64, 64),
    (128, 15, 64, 256),
    (128, 7, 256, 256),
    (128, 3, 256, 256),
)


def main() -> None:
    from vedere.nn import Conv2d

    rng = np.random.default_rng(0)

    def cpu_seconds(fn, repeats: int = 3) -> float:
        fn()
        t = time.process_time()
        for _ in range(repeats):
            fn()
        return (time.process_time() - t) / repeats

    with threadpool_limits(1):
        for n, h, c, o in SHAPES:
            conv = Conv2d(c, o, 3, padding=1, bias=False, rng=0)
            x = rng.standard_normal((n, h, h, c)).astype(np.float32)
            xn = x.transpose(0, 3, 1, 2)
            shifted = ShiftedConv(conv.weight.data, 1, 1)
            out = shifted.forward(x)
            g = rng.standard_normal(out.shape).astype(np.float32)
            np.testing.assert_allclose(out.transpose(0, 3, 1, 2), conv.forward(xn), atol=1e-4)
            conv.zero_grad()
            dref = conv.backward(g.transpose(0, 3, 1, 2))
            dx, dw = shifted.backward(g)
            np.testing.assert_allclose(dx.transpose(0, 3, 1, 2), dref, atol=1e-3)
            np.testing.assert_allclose(dw, conv.weight.grad, rtol=1e-3, atol=1e-2)
            flop = 3 * 2 * n * h * h * 9 * c * o

            def im2col_step(conv=conv, xn=xn, g=g):
                conv.forward(xn)
                conv.backward(g.transpose(0, 3, 1, 2))

            def shifted_step(shifted=shifted, x=x, g=g):
                shifted.forward(x)
                shifted.backward(g)

            a, b = cpu_seconds(im2col_step), cpu_seconds(shifted_step)
            print(
                f"N{n} {h}×{h} {c:>3}→{o:<3}  im2col {flop / a / 1e9:6.1f}  "
                f"shifted views {flop / b / 1e9:6.1f} GFLOP/s  ({a / b:.2f}×)",
                flush=True,
            )


if __name__ == "__main__":
    main()
