"""Compiled kernels (Numba) for the passes NumPy would split into several: im2col and its
adjoint, max pooling, batch-norm statistics and affine maps, GELU.

Each writes its output in one pass, in memory order, over the images (or rows): shared out
among Numba's threads for large jobs, on the calling thread for small ones
(:class:`vedere.parallel.Kernel`: the threading layer, the lock and the threshold are
chosen there). Loaded on first use (:mod:`vedere.nn.kernels_loader`), so that
``import vedere.nn`` does not pay Numba's start-up; compiled once per machine (``cache=True``).
The formulas are those of the layers that call them (their docstrings).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vedere.parallel import kernel

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# -- convolution: im2col and its adjoint, on channels-last (N, H, W, C) arrays -----------------


@kernel
def im2col(x, kh, kw, sh, sw, ph, pw, out):  # pragma: no cover - compiled
    """out[n, i, j, u, v, c] = x[n, s_h·i + u - p_h, s_w·j + v - p_w, c], 0 outside x.

    x (N, H, W, C) and out (N, H_out, W_out, kh, kw, C), both C-contiguous; the output rows
    (n, i) are shared out among the threads and written in memory order.
    """
    _, h, w, ch = x.shape
    n_img, ho, wo = out.shape[0], out.shape[1], out.shape[2]
    for ni in numba.prange(n_img * ho):
        n, i = ni // ho, ni % ho
        for j in range(wo):
            for u in range(kh):
                hi = i * sh + u - ph
                for v in range(kw):
                    wi = j * sw + v - pw
                    if 0 <= hi < h and 0 <= wi < w:
                        for c in range(ch):
                            out[n, i, j, u, v, c] = x[n, hi, wi, c]
                    else:
                        for c in range(ch):
                            out[n, i, j, u, v, c] = 0


@kernel
def col2im(d, sh, sw, ph, pw, out):  # pragma: no cover - compiled
    """The adjoint of :func:`im2col`: out[n, y, x, c] = Σ d[n, i, j, u, v, c] over the (i, j,
    u, v) with s_h·i + u - p_h = y and s_w·j + v - p_w = x.

    d (N, H_out, W_out, kh, kw, C), out (N, H, W, C), both C-contiguous. Each input pixel
    gathers its terms and is written once (no scatter, no zero-fill pass); the input rows
    (n, y) are shared out among the threads.
    """
    n_img, h, w, ch = out.shape
    ho, wo, kh, kw = d.shape[1], d.shape[2], d.shape[3], d.shape[4]
    for ny in numba.prange(n_img * h):
        n, y = ny // h, ny % h
        for x in range(w):
            for c in range(ch):
                out[n, y, x, c] = 0
            for u in range(kh):
                t = y + ph - u
                if t < 0:
                    break
                if t % sh != 0 or t // sh >= ho:
                    continue
                i = t // sh
                for v in range(kw):
                    s = x + pw - v
                    if s < 0:
                        break
                    if s % sw != 0 or s // sw >= wo:
                        continue
                    j = s // sw
                    for c in range(ch):
                        out[n, y, x, c] += d[n, i, j, u, v, c]


@kernel(error_model="numpy")
def im2col_stride1(x, kh, kw, ph, pw, out):  # pragma: no cover - compiled
    """:func:`im2col` for stride 1, by contiguous runs: for an output pixel (n, i, j) and a
    kernel row u, the kw·C values out[n, i, j, u, :, :] are the kw·C consecutive values of
    input row i + u - p_h that start at column j - p_w (clipped at the image's edges, 0
    beyond), so each is one straight copy.

    x (N, H, W, C) and out (N, H_out, W_out, kh, kw, C), both C-contiguous; the output rows
    (n, i) are shared out among the threads. The copies are loops over flat unsigned
    indices: Numba then compiles them to vector moves, 3.5-4x faster than slice assignments
    (which pay a slice's set-up per run of kw·C values) and as fast as a memcpy.
    """
    _, h, w, ch = x.shape
    n_img, ho, wo = out.shape[0], out.shape[1], out.shape[2]
    run = kw * ch
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    for ni in numba.prange(n_img * ho):
        n, i = ni // ho, ni % ho
        for j in range(wo):
            v0 = min(kw, max(0, pw - j))  # kernel columns v0 <= v < v1 fall inside the image
            v1 = max(v0, min(kw, w + pw - j))
            lo, hi_k = v0 * ch, v1 * ch
            for u in range(kh):
                dst = np.uint64(((ni * wo + j) * kh + u) * run)
                hi = i + u - ph
                if hi < 0 or hi >= h:
                    for t in range(run):
                        of[dst + np.uint64(t)] = 0
                    continue
                for t in range(lo):
                    of[dst + np.uint64(t)] = 0
                src = np.uint64(((n * h + hi) * w + j - pw) * ch + lo)
                d0 = dst + np.uint64(lo)
                for t in range(hi_k - lo):
                    of[d0 + np.uint64(t)] = xf[src + np.uint64(t)]
                for t in range(hi_k, run):
                    of[dst + np.uint64(t)] = 0


@kernel(error_model="numpy")
def col2im_stride1(d, ph, pw, out):  # pragma: no cover - compiled
    """:func:`col2im` for stride 1, where the row (i, j) of kernel offset (u, v) that copied
    input pixel (y, x) is simply i = y + p_h - u, j = x + p_w - v: no divisions, and each
    (u, v, x) adds one contiguous run of C values of d into out (about 20% faster than the
    general kernel on the blocks a convolution passes; flat unsigned indices, as in
    :func:`im2col_stride1`, make the runs vector loops).

    d (N, H_out, W_out, kh, kw, C), out (N, H, W, C), both C-contiguous; the input rows
    (n, y) are shared out among the threads.
    """
    n_img, h, w, ch = out.shape
    ho, wo, kh, kw = d.shape[1], d.shape[2], d.shape[3], d.shape[4]
    df = d.reshape(d.size)
    of = out.reshape(out.size)
    for ny in numba.prange(n_img * h):
        n, y = ny // h, ny % h
        obase = np.uint64(ny * w * ch)
        for t in range(w * ch):
            of[obase + np.uint64(t)] = 0
        for u in range(kh):
            i = y + ph - u
            if i < 0 or i >= ho:
                continue
            for v in range(kw):
                for x in range(max(0, v - pw), min(w, wo + v - pw)):
                    j = x + pw - v
                    src = np.uint64(((((n * ho + i) * wo + j) * kh + u) * kw + v) * ch)
                    dst = obase + np.uint64(x * ch)
                    for c in range(ch):
                        of[dst + np.uint64(c)] += df[src + np.uint64(c)]


# -- max pooling ---------------------------------------------------------------------------------


@kernel
def max_pool(x, kh, kw, sh, sw, out, arg):  # pragma: no cover - compiled
    """out[n, i, j, c] = max_{u, v} x[n, s_h·i + u, s_w·j + v, c]; arg = u·kw + v of the first
    maximum. x (N, H, W, C), out and arg (N, H_out, W_out, C), C-contiguous."""
    n_img, ho, wo, ch = out.shape
    for n in numba.prange(n_img):
        for i in range(ho):
            for j in range(wo):
                for c in range(ch):
                    out[n, i, j, c] = x[n, i * sh, j * sw, c]
                    arg[n, i, j, c] = 0
                for u in range(kh):
                    for v in range(kw):
                        if u == 0 and v == 0:
                            continue
                        o = u * kw + v
                        for c in range(ch):
                            val = x[n, i * sh + u, j * sw + v, c]
                            if val > out[n, i, j, c]:
                                out[n, i, j, c] = val
                                arg[n, i, j, c] = o


@kernel
def max_pool_backward(g, arg, kw, sh, sw, out):  # pragma: no cover - compiled
    """out[n, s_h·i + u*, s_w·j + v*, c] += g[n, i, j, c] at the recorded maximum (u*, v*);
    0 elsewhere. g and arg (N, H_out, W_out, C), out (N, H, W, C), C-contiguous."""
    n_img, ho, wo, ch = g.shape
    for n in numba.prange(n_img):
        out[n] = 0
        for i in range(ho):
            for j in range(wo):
                for c in range(ch):
                    o = arg[n, i, j, c]
                    out[n, i * sh + o // kw, j * sw + o % kw, c] += g[n, i, j, c]


@kernel
def max_pool_backward_tiled(g, arg, kh, kw, out):  # pragma: no cover - compiled
    """:func:`max_pool_backward` for windows that tile the image (stride = kernel size): each
    input pixel lies in at most one window, so it is written once, in memory order, with
    g[n, i, j, c] where it was its window's maximum and 0 elsewhere (no zero-fill pass, no
    scatter); the rows and columns no window covers get 0. About 3 times faster.

    g and arg (N, H_out, W_out, C), out (N, H, W, C), C-contiguous; the input rows (n, y)
    are shared out among the threads.
    """
    n_img, ho, wo, ch = g.shape
    h, w = out.shape[1], out.shape[2]
    for ny in numba.prange(n_img * h):
        n, y = ny // h, ny % h
        orow = out[n, y]
        i, u = y // kh, y % kh
        if i >= ho:
            orow[:, :] = 0
            continue
        grow, arow = g[n, i], arg[n, i]
        for j in range(wo):
            for v in range(kw):
                o = u * kw + v
                x = j * kw + v
                for c in range(ch):
                    orow[x, c] = grow[j, c] if arow[j, c] == o else 0
        for x in range(wo * kw, w):
            for c in range(ch):
                orow[x, c] = 0


# -- batch normalisation on (M, C) rows ----------------------------------------------------------


@kernel
def channel_moments(r, center, chunks):  # pragma: no cover - compiled
    """(Σ (r - center), Σ (r - center)²) per column of r (M, C), accumulated in float64 in
    ``chunks`` row blocks run in parallel; ``center`` (C,) keeps the sums small."""
    m, ch = r.shape
    part = np.zeros((chunks, 2, ch))
    step = (m + chunks - 1) // chunks
    for k in numba.prange(chunks):
        for row in range(k * step, min(m, (k + 1) * step)):
            for c in range(ch):
                d = r[row, c] - center[c]
                part[k, 0, c] += d
                part[k, 1, c] += d * d
    return part.sum(axis=0)


@kernel
def channel_dot(g, r, center, chunks):  # pragma: no cover - compiled
    """(Σ g, Σ g·(r - center)) per column of g and r (M, C), in float64."""
    m, ch = g.shape
    part = np.zeros((chunks, 2, ch))
    step = (m + chunks - 1) // chunks
    for k in numba.prange(chunks):
        for row in range(k * step, min(m, (k + 1) * step)):
            for c in range(ch):
                part[k, 0, c] += g[row, c]
                part[k, 1, c] += g[row, c] * (r[row, c] - center[c])
    return part.sum(axis=0)


@kernel
def affine2(a, x, b, y, c, out):  # pragma: no cover - compiled
    """out[m, k] = a[k]·x[m, k] + b[k]·y[m, k] + c[k] on (M, C) rows (one fused pass)."""
    m, ch = x.shape
    for row in numba.prange(m):
        for k in range(ch):
            out[row, k] = a[k] * x[row, k] + b[k] * y[row, k] + c[k]


@kernel
def add_bias(y, b):  # pragma: no cover - compiled
    """y[m, k] += b[k] on (M, C) rows, in place (a layer's bias: about 3× faster than
    NumPy's broadcast add on a convolution's narrow rows)."""
    m, ch = y.shape
    for row in numba.prange(m):
        for k in range(ch):
            y[row, k] += b[k]


@kernel
def affine(a, x, c, out):  # pragma: no cover - compiled
    """out[m, k] = a[k]·x[m, k] + c[k] on (M, C) rows."""
    m, ch = x.shape
    for row in numba.prange(m):
        for k in range(ch):
            out[row, k] = a[k] * x[row, k] + c[k]


# -- GELU on flat arrays, in parallel ------------------------------------------------------------
#
# float64 uses math.erf and math.exp (libm, exact to rounding). float32 uses a rational
# approximation of erf on [-4, 4] (Eigen's, max error 7e-8 < float32's resolution; ±1 beyond)
# and, in backward, the exact derivative of that same rational function: no libm call, so the
# loops vectorise, and forward and backward stay consistent with each other. They are built
# with NumPy's error model: Python's puts a zero-divisor branch in the rational function's
# division (q >= 0.35 on [-4, 4], never 0), and a loop with a branch does not vectorise
# (measured 3 to 8 ns a value before, against a copy's 0.2).

_ERF_P = (
    -1.60960333262415e-02,
    -2.95459980854025e-03,
    -7.34990630326855e-04,
    -5.69250639462346e-05,
    -2.10102402082508e-06,
    2.77068142495902e-08,
    -2.72614225801306e-10,
)
_ERF_Q = (
    -1.42647390514189e-02,
    -7.37332916720468e-03,
    -1.68282697438203e-03,
    -2.13374055278905e-04,
    -1.45660718464996e-05,
)
P0, P1, P2, P3, P4, P5, P6 = (np.float32(c) for c in _ERF_P)
Q0, Q1, Q2, Q3, Q4 = (np.float32(c) for c in _ERF_Q)
_F_INV_SQRT2 = np.float32(_INV_SQRT2)
_F_HALF_INV_SQRT2 = np.float32(0.5 * _INV_SQRT2)


@numba.njit(inline="always", fastmath=True)
def _erf32(z):  # pragma: no cover - compiled
    """(erf z, d erf/dz) in float32: z·P(z²)/Q(z²) on |z| <= 4, ±1 (slope 0) beyond."""
    four = np.float32(4.0)
    zc = min(max(z, -four), four)
    t = zc * zc
    p = P0 + t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * (P5 + t * P6)))))
    dp = P1 + t * (
        np.float32(2) * P2
        + t
        * (
            np.float32(3) * P3
            + t * (np.float32(4) * P4 + t * (np.float32(5) * P5 + t * np.float32(6) * P6))
        )
    )  # dP/dt
    q = Q0 + t * (Q1 + t * (Q2 + t * (Q3 + t * Q4)))
    dq = Q1 + t * (np.float32(2) * Q2 + t * (np.float32(3) * Q3 + t * np.float32(4) * Q4))
    inv_q = np.float32(1) / q
    e = zc * p * inv_q
    # d/dz [z P(t) / Q(t)], t = z²: (P + 2t P') / Q - z P · 2z Q' / Q²
    de = ((p + np.float32(2) * t * dp) - e * np.float32(2) * zc * dq) * inv_q
    inside = abs(z) < four
    return e, de if inside else np.float32(0)


@kernel(fastmath=True, error_model="numpy")
def gelu_flat32(x, out):  # pragma: no cover - compiled
    """out = x Φ(x), Φ(x) = ½ (1 + erf(x/√2)), float32 1-D arrays."""
    half, one = np.float32(0.5), np.float32(1)
    for i in numba.prange(x.size):
        v = x[i]
        e, _ = _erf32(v * _F_INV_SQRT2)
        out[i] = half * v * (one + e)


@kernel(fastmath=True, error_model="numpy")
def gelu_backward_flat32(x, g, out):  # pragma: no cover - compiled
    """out = g · (Φ(x) + x Φ'(x)), Φ'(x) = erf'(x/√2) / (2√2), float32 1-D arrays."""
    half, one = np.float32(0.5), np.float32(1)
    for i in numba.prange(x.size):
        v = x[i]
        e, de = _erf32(v * _F_INV_SQRT2)
        out[i] = g[i] * (half * (one + e) + v * _F_HALF_INV_SQRT2 * de)


@kernel
def gelu_flat(x, out):  # pragma: no cover - compiled
    """out = x Φ(x) element-wise on 1-D float64 arrays (libm erf)."""
    for i in numba.prange(x.size):
        v = x[i]
        out[i] = 0.5 * v * (1.0 + math.erf(v * _INV_SQRT2))


@kernel
def gelu_backward_flat(x, g, out):  # pragma: no cover - compiled
    """out = g · (Φ(x) + x φ(x)), φ(x) = e^{-x²/2} / √(2π), on 1-D float64 arrays."""
    for i in numba.prange(x.size):
        v = x[i]
        cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT2))
        out[i] = g[i] * (cdf + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v))


# -- the SGD step: decay, momentum and the update in one pass --------------------------------------


@kernel
def sgd_step(p, g, v, kind, a_g, a_v, mu, wd):  # pragma: no cover - compiled
    """One SGD step over flat arrays of one dtype, in place, reading each value once:
    g' = g + λθ (λ = ``wd``), then by ``kind``
    0: θ ← θ + a_g·g' (plain, a_g = −α);
    1: v ← μ v + g', θ ← θ + a_v·v (momentum, a_v = −α);
    2: v ← μ v + g', θ ← (θ + a_g·g') + a_v·v (Nesterov, a_g = −α, a_v = −αμ).
    The scalars have the arrays' dtype, so float32 parameters are updated in float32 as
    BLAS's ``axpy`` did."""
    n = p.shape[0]
    if kind == 0:
        for i in numba.prange(n):
            p[i] = p[i] + a_g * (g[i] + wd * p[i])
    elif kind == 1:
        for i in numba.prange(n):
            vi = mu * v[i] + (g[i] + wd * p[i])
            v[i] = vi
            p[i] = p[i] + a_v * vi
    else:
        for i in numba.prange(n):
            gi = g[i] + wd * p[i]
            vi = mu * v[i] + gi
            v[i] = vi
            p[i] = (p[i] + a_g * gi) + a_v * vi
