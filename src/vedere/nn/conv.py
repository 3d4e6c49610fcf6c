"""The 2-D convolution as one matrix product (im2col), with its backward pass beside it.

A convolution slides a kernel W (C_out, C_in, kh, kw) over the zero-padded input and takes
a dot product at every position:

    y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x_pad[n, c, s_h·i + u, s_w·j + v]

Gathering, for every output pixel (n, i, j), the K = kh·kw·C_in input values under the
kernel into one row of a matrix X_col (M = N·H_out·W_out rows: "im2col") turns the sum into a
matrix product on the BLAS: Y = X_col · W_matᵀ + b, with W_mat (C_out, K) the kernel
flattened in the same (u, v, c) order.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import conv_blocks
from .gemm import column_sums, gemm
from .init import as_generator, init_weight, resolve
from .kernels_loader import kernels
from .module import Module
from .parameter import Parameter
from .spatial import MAX_WEIGHTS, check_nchw, nchw, nhwc, output_size, pair, positive_int
from .validation import check_float_array

_WORKSPACE = threading.local()

#: bytes of im2col matrix per block of images: small enough that the block is still in cache
#: when the matrix product reads it (1.5 to 4 MiB train equally fast on one core; 16 MiB is
#: 30% slower), large enough to keep the number of BLAS calls, and so of thread
#: synchronisations, low
BLOCK_BYTES = 4 * 2**20
#: ... but at least this many rows, so that the matrix products stay efficient
BLOCK_MIN_ROWS = 512


def workspace(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A scratch array of ``shape`` reused by every convolution of this thread.

    The im2col matrix of a block of images is needed only inside one layer's forward or
    backward, so one buffer serves the whole network (no allocation, no page faults, no
    memory growing with depth). Never returned to the caller.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = getattr(_WORKSPACE, "buf", None)
    if buf is None or buf.nbytes < nbytes:
        buf = _WORKSPACE.buf = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def image_blocks(n: int, rows_per_image: int, k: int, itemsize: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of images whose im2col matrix (rows × k) fills about
    :data:`BLOCK_BYTES` (at least :data:`BLOCK_MIN_ROWS` rows, at least one image)."""
    rows = max(BLOCK_BYTES // (k * itemsize), BLOCK_MIN_ROWS)
    per = max(1, min(n, rows // max(rows_per_image, 1)))
    return [(s, min(s + per, n)) for s in range(0, n, per)]


def im2col(
    xh: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_hw: tuple[int, int],
    serial: bool = False,
) -> np.ndarray:
    """X_col (N·H_out·W_out, kh·kw·C) of a channels-last input ``xh`` (N, H, W, C); with
    ``serial`` on the calling thread whatever its size (a :mod:`conv_blocks` worker).

    Row m = (n, i, j), column k = (u, v, c) holds x[n, s_h·i + u - p_h, s_w·j + v - p_w, c]
    (0 in the padding). Written into this thread's :func:`workspace`: valid until the next
    im2col. A 1×1 kernel with stride 1 and no padding needs no copy: X_col is the input.
    """
    n, _, _, c = xh.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if kh == kw == sh == sw == 1 and ph == pw == 0:
        return xh.reshape(-1, c)
    cols = workspace((n, *out_hw, kh, kw, c), xh.dtype)
    k = kernels()
    if sh == sw == 1:
        _launch(k.im2col_stride1, serial, xh, kh, kw, ph, pw, cols)
    else:
        _launch(k.im2col, serial, xh, kh, kw, sh, sw, ph, pw, cols)
    return cols.reshape(n * out_hw[0] * out_hw[1], kh * kw * c)


def col2im(
    dcols: np.ndarray,
    dxh: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_hw: tuple[int, int],
    serial: bool = False,
) -> None:
    """The adjoint of :func:`im2col`: writes dL/dx (N, H, W, C) into ``dxh`` from dL/dX_col,
    every input pixel summing the entries of the rows that copied it (the padding's are
    dropped); ``serial`` as for :func:`im2col`."""
    n, _, _, c = dxh.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if kh == kw == sh == sw == 1 and ph == pw == 0:
        dxh[...] = dcols.reshape(dxh.shape)
    elif sh == sw == 1:
        _launch(kernels().col2im_stride1, serial, dcols.reshape(n, *out_hw, kh, kw, c), ph, pw, dxh)
    else:
        d = dcols.reshape(n, *out_hw, kh, kw, c)
        _launch(kernels().col2im, serial, d, sh, sw, ph, pw, dxh)


def _launch(kernel: Any, serial: bool, *args: Any) -> None:
    """``kernel(*args)``, on the calling thread when ``serial``."""
    if serial:
        kernel.run(False, *args)
    else:
        kernel(*args)


def _check_weight_size(shape: tuple[int, int, int, int]) -> None:
    size = shape[0] * shape[1] * shape[2] * shape[3]
    if size > MAX_WEIGHTS:
        raise ValueError(
            f"Conv2d weight {shape} would hold {size} values, more than the {MAX_WEIGHTS} allowed"
        )


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in PyTorch), NCHW in and out.

    Shapes: x (N, C_in, H, W), W (C_out, C_in, kh, kw), b (C_out,),
    y (N, C_out, H_out, W_out) with H_out = ⌊(H + 2p_h - kh) / s_h⌋ + 1 (same for W).

    Forward: Y = X_col · W_matᵀ + b, with X_col = im2col(x_pad) (M, K), M = N·H_out·W_out,
    K = kh·kw·C_in, W_mat = W in (o, u, v, c) order as (C_out, K), Y (M, C_out) = y's pixels.

    Backward, given G = dL/dy as the (M, C_out) matrix of its pixels:

    - dL/dW = Gᵀ · X_col   (C_out, K)  since dy[m, o]/dW_mat[o, k] = X_col[m, k]
    - dL/db = Σ_m G_m      (C_out,)    since dy/db = 1
    - dL/dx = col2im(G · W_mat)        since dy[m, o]/dX_col[m, k] = W_mat[o, k], and
      x_pad[n, c, s·i + u, s·j + v] is the entry (m = (n, i, j), k = (u, v, c)) of X_col:
      each input pixel sums the gradients of every row that copied it; the padding is cut off.

    X_col is rebuilt in backward from the cached input rather than kept between the passes:
    a training step holds at most one im2col matrix at a time, whatever the depth.

    ``init``: None for PyTorch's default (W and b ~ U(-1/√K, 1/√K)), or a scheme of
    :mod:`vedere.nn.init` (``he``, ``xavier``...) for W with n_in = K and b = 0.
    """

    input_ndim = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        *,
        rng: np.random.Generator | int | None = None,
        init: str | None = None,
        dtype: str | np.dtype | type = "float32",
    ) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)  # each at most MAX_KERNEL
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        self.init = None if init is None else resolve(init)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        shape = (self.out_channels, self.in_channels, kh, kw)
        _check_weight_size(shape)  # before allocating anything
        gen = as_generator(rng)
        if self.init is None:  # PyTorch: kaiming_uniform_(a=√5) = U(±1/√fan_in), bias alike
            bound = 1.0 / np.sqrt(fan_in)
            w = gen.uniform(-bound, bound, shape).astype(dt)
            b = gen.uniform(-bound, bound, self.out_channels).astype(dt)
        else:
            w = init_weight((self.out_channels, fan_in), self.init, gen, dt).reshape(shape)
            b = np.zeros(self.out_channels, dtype=dt)
        self.weight = Parameter(w, "weight", decay=True)
        self.bias = Parameter(b, "bias", decay=False) if bias else None
        self._xh: np.ndarray | None = None

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """weight (C_out, C_in, kh, kw) and, with ``bias``, bias (C_out,), from ``config``
        alone (ValueError if it is invalid or the weight too large)."""
        c_in = positive_int(config.get("in_channels"), "in_channels")
        c_out = positive_int(config.get("out_channels"), "out_channels")
        kh, kw = pair(config.get("kernel_size"), "kernel_size", 1)
        _check_weight_size((c_out, c_in, kh, kw))
        shapes: dict[str, tuple[int, ...]] = {"weight": (c_out, c_in, kh, kw)}
        if config.get("bias", True):
            shapes["bias"] = (c_out,)
        return shapes

    # -- checks --------------------------------------------------------------------------
    def _shape_check(self, x: np.ndarray, name: str) -> tuple[int, int]:
        check_nchw(x, name, self.in_channels, "Conv2d")
        return output_size(name, x.shape, self.kernel_size, self.stride, self.padding, "Conv2d")

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = check_float_array(x, name, ndim=4, dtype=self.dtype)
        self._shape_check(x, name)
        return x

    # -- the two passes ------------------------------------------------------------------
    def _weight_matrix(self) -> np.ndarray:
        """W_mat (C_out, kh·kw·C_in): the kernel in (o, u, v, c) order."""
        return self.weight.data.transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def _blocks(self, start: int, stop: int) -> list[tuple[int, int]]:
        """The blocks of images [s, e) of ``start <= s < e <= stop`` (see
        :func:`image_blocks`)."""
        ho, wo = self._out_hw
        k = self.kernel_size[0] * self.kernel_size[1] * self.in_channels
        blocks = image_blocks(stop - start, ho * wo, k, self._xh.dtype.itemsize)
        return [(start + s, start + e) for s, e in blocks]

    def _im2col_bytes(self) -> int:
        ho, wo = self._out_hw
        k = self.kernel_size[0] * self.kernel_size[1] * self.in_channels
        return self._xh.shape[0] * ho * wo * k * self._xh.dtype.itemsize

    def _workers(self) -> int:
        """Threads that share this batch's blocks (:mod:`conv_blocks`): 1 = the usual way."""
        return conv_blocks.workers_for(self._im2col_bytes(), self._xh.shape[0], self.out_channels)

    def _worker_blocks(self, workers: int) -> list[list[tuple[int, int]]]:
        return conv_blocks.worker_blocks(self._xh.shape[0], self._im2col_bytes(), workers)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._shape_check(x, "x")
        n = x.shape[0]
        xh = nhwc(x)
        if not xh.flags.c_contiguous:  # a plain NCHW input: to channels-last once
            xh = np.ascontiguousarray(xh)
        self._xh, self._out_hw = xh, (ho, wo)
        wt = self._weight_matrix().T  # W_matᵀ (K, C_out)
        y = np.empty((n * ho * wo, self.out_channels), dtype=x.dtype)

        def forward_blocks(blocks: list[tuple[int, int]], serial: bool = True) -> None:
            # Y = X_col · W_matᵀ, block of images by block (the block's X_col stays in cache)
            for s, e in blocks:
                cols = im2col(xh[s:e], *self._geometry(), serial=serial)
                gemm(cols, wt, y[s * ho * wo : e * ho * wo])

        workers = self._workers()
        if workers > 1:
            conv_blocks.run(forward_blocks, self._worker_blocks(workers))
        else:
            forward_blocks(self._blocks(0, n), serial=False)
        if self.bias is not None:
            kernels().add_bias(y, self.bias.data.astype(y.dtype, copy=False))  # + b
        return nchw(y.reshape(n, ho, wo, self.out_channels))

    def _geometry(self) -> tuple[tuple[int, int], ...]:
        return self.kernel_size, self.stride, self.padding, self._out_hw

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        xh, (ho, wo) = self._xh, self._out_hw
        c, (kh, kw) = xh.shape[3], self.kernel_size
        g = nhwc(grad_out)  # G (M, C_out): a view when grad_out is channels-last
        g = (g if g.flags.c_contiguous else np.ascontiguousarray(g)).reshape(-1, self.out_channels)
        w_mat = self._weight_matrix()
        dxh = np.empty(xh.shape, dtype=g.dtype) if need_input_grad else None
        want_dw = self.weight.wants_grad  # a frozen kernel (a whitening stem): no dL/dW
        geo = self._geometry()

        def backward_blocks(blocks: list[tuple[int, int]], serial: bool = True) -> np.ndarray:
            """dL/dx of ``blocks`` into dxh; their share of dL/dW_matᵀ (K, C_out)."""
            dw = np.zeros((kh * kw * c, self.out_channels), dtype=g.dtype) if want_dw else None
            for s, e in blocks if want_dw or dxh is not None else []:
                gb = g[s * ho * wo : e * ho * wo]
                if dw is not None:
                    cols = im2col(xh[s:e], *geo, serial=serial)
                    gemm(cols.T, gb, dw, accumulate=True)  # dL/dW_matᵀ = Σ_blocks X_colᵀ · G
                if dxh is not None:
                    dcols = workspace((gb.shape[0], kh * kw * c), g.dtype)  # X_col's memory
                    gemm(gb, w_mat, dcols)  # dL/dX_col = G · W_mat
                    col2im(dcols, dxh[s:e], *geo, serial=serial)
            return dw

        workers = self._workers()
        if workers > 1:
            parts = conv_blocks.run(backward_blocks, self._worker_blocks(workers))
            dw = None if parts[0] is None else sum(parts[1:], parts[0])
        else:
            dw = backward_blocks(self._blocks(0, xh.shape[0]), serial=False)
        if dw is not None:
            self.weight.add_grad(dw.reshape(kh, kw, c, self.out_channels).transpose(3, 2, 0, 1))
        if self.bias is not None:
            self.bias.add_grad(column_sums(g))  # dL/db = Σ_m G_m
        return None if dxh is None else nchw(dxh)

    # -- parameters and config -----------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Parameter]]:
        out = [("weight", self.weight)]
        if self.bias is not None:
            out.append(("bias", self.bias))
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "bias": self.bias is not None,
            "init": self.init,
            "dtype": str(self.weight.dtype),
        }
