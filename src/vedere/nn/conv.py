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

from typing import Any

import numpy as np

from .init import as_generator, init_weight, resolve
from .module import Module
from .parameter import Parameter
from .spatial import check_nchw, nchw, nhwc, output_size, pair, positive_int, window
from .validation import check_float_array


def im2col(
    xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]
) -> np.ndarray:
    """X_col (N·H_out·W_out, kh·kw·C) from the padded channels-last input ``xp`` (N, Hp, Wp, C).

    Row (n, i, j) holds x_pad[n, s_h·i + u, s_w·j + v, c] in (u, v, c) order: one copy of a
    strided (N, H_out, W_out, C) block per kernel offset (u, v).
    """
    n, _, _, c = xp.shape
    (kh, kw), (ho, wo) = kernel, out_hw
    cols = np.empty((n, ho, wo, kh, kw, c), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, :, u, v, :] = window(xp, u, v, stride, out_hw)
    return cols.reshape(n * ho * wo, kh * kw * c)


def col2im(
    dcols: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """The adjoint of :func:`im2col`: scatter-add the rows of dL/dX_col back onto the padded
    input, dL/dx_pad (N, Hp, Wp, C). Every input pixel receives the sum over the kernel
    offsets that read it."""
    n, _, _, c = padded_shape
    (kh, kw), (ho, wo) = kernel, out_hw
    d6 = dcols.reshape(n, ho, wo, kh, kw, c)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            window(dxp, u, v, stride, out_hw)[...] += d6[:, :, :, u, v]
    return dxp


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
        self.padding = pair(padding, "padding", 0)
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        self.init = None if init is None else resolve(init)
        gen = as_generator(rng)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        shape = (self.out_channels, self.in_channels, kh, kw)
        if self.init is None:  # PyTorch: kaiming_uniform_(a=√5) = U(±1/√fan_in), bias alike
            bound = 1.0 / np.sqrt(fan_in)
            w = gen.uniform(-bound, bound, shape).astype(dt)
            b = gen.uniform(-bound, bound, self.out_channels).astype(dt)
        else:
            w = init_weight((self.out_channels, fan_in), self.init, gen, dt).reshape(shape)
            b = np.zeros(self.out_channels, dtype=dt)
        self.weight = Parameter(w, "weight", decay=True)
        self.bias = Parameter(b, "bias", decay=False) if bias else None
        self._xp: np.ndarray | None = None

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

    def _forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._shape_check(x, "x")
        n, c, h, w = x.shape
        ph, pw = self.padding
        if ph or pw:
            xp = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
            xp[:, ph : ph + h, pw : pw + w] = nhwc(x)
        else:
            xp = nhwc(x)
        self._xp = xp
        self._out_hw = (ho, wo)
        cols = im2col(xp, self.kernel_size, self.stride, (ho, wo))
        y = cols @ self._weight_matrix().T  # Y = X_col · W_matᵀ   (M, C_out)
        if self.bias is not None:
            y += self.bias.data  # + b
        return nchw(y.reshape(n, ho, wo, self.out_channels))

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        xp = self._xp
        _, hp, wp, c = xp.shape
        g = np.ascontiguousarray(nhwc(grad_out)).reshape(-1, self.out_channels)  # G (M, C_out)
        cols = im2col(xp, self.kernel_size, self.stride, self._out_hw)
        dw = g.T @ cols  # dL/dW = Gᵀ · X_col
        kh, kw = self.kernel_size
        self.weight.add_grad(dw.reshape(self.out_channels, kh, kw, c).transpose(0, 3, 1, 2))
        if self.bias is not None:
            self.bias.add_grad(g.sum(axis=0))  # dL/db = Σ_m G_m
        if not need_input_grad:
            return None
        del cols
        dcols = g @ self._weight_matrix()  # dL/dX_col = G · W_mat
        dxp = col2im(dcols, xp.shape, self.kernel_size, self.stride, self._out_hw)
        ph, pw = self.padding
        h, w = hp - 2 * ph, wp - 2 * pw
        return nchw(dxp[:, ph : ph + h, pw : pw + w])

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
