"""Pooling: summarise each k×k window of every channel by its maximum or its mean.

Windows start every ``stride`` pixels (default: the kernel size, so they tile the image),
no padding, the last partial window dropped (PyTorch's defaults):
H_out = ⌊(H - k_h) / s_h⌋ + 1, same for W. Inputs NCHW; computed on channels-last memory
(see :mod:`vedere.nn.spatial`), one strided view per kernel offset (u, v):
x[n, c, s_h·i + u, s_w·j + v] for all (n, c, i, j) at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .kernels_loader import kernels
from .module import Module
from .spatial import check_nchw, nchw, nhwc, output_size, pair, window
from .validation import check_float_array


class _Pool2d(Module):
    input_ndim = 4
    name = "Pool2d"

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)

    def _shape_check(self, x: np.ndarray, name: str) -> tuple[int, int]:
        layer = type(self).__name__
        check_nchw(x, name, None, layer)
        return output_size(name, x.shape, self.kernel_size, self.stride, (0, 0), layer)

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = check_float_array(x, name, ndim=4)
        self._shape_check(x, name)
        return x

    def _views(self, xh: np.ndarray, out_hw: tuple[int, int]):
        """(offset index, (N, H_out, W_out, C) view of xh at kernel offset (u, v))."""
        kh, kw = self.kernel_size
        for u in range(kh):
            for v in range(kw):
                yield u * kw + v, window(xh, u, v, self.stride, out_hw)

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max_{u<k_h, v<k_w} x[n, c, s_h·i + u, s_w·j + v].

    Shapes: x (N, C, H, W) → y (N, C, H_out, W_out).

    Backward: the max is a selection, so dL/dx[n, c, s_h·i + u*, s_w·j + v*] += dL/dy[n, c, i, j]
    at the window's maximising offset (u*, v*) (the first in row-major order on ties, as in
    PyTorch) and 0 elsewhere; overlapping windows add up.
    """

    def _forward(self, x: np.ndarray) -> np.ndarray:
        ho, wo = self._shape_check(x, "x")
        xh = nhwc(x)
        if not xh.flags.c_contiguous:
            xh = np.ascontiguousarray(xh)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        n, _, _, c = xh.shape
        out = np.empty((n, ho, wo, c), dtype=x.dtype)
        arg = np.empty((n, ho, wo, c), dtype=np.uint8 if kh * kw <= 256 else np.int32)
        kernels().max_pool(xh, kh, kw, sh, sw, out, arg)  # one pass: max and where it was
        self._arg, self._in_shape = arg, xh.shape
        return nchw(out)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        g = nhwc(grad_out)
        if not g.flags.c_contiguous:
            g = np.ascontiguousarray(g)
        dxh = np.empty(self._in_shape, dtype=grad_out.dtype)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if (sh, sw) == (kh, kw):  # the windows tile the image: each pixel written once
            kernels().max_pool_backward_tiled(g, self._arg, kh, kw, dxh)
        else:
            kernels().max_pool_backward(g, self._arg, kw, sh, sw, dxh)  # G to each maximum
        return nchw(dxh)


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = (1 / k_h k_w) Σ_{u, v} x[n, c, s_h·i + u, s_w·j + v].

    Shapes: x (N, C, H, W) → y (N, C, H_out, W_out).
    Backward: every pixel of a window receives dL/dy / (k_h k_w); overlapping windows add up.
    """

    def _forward(self, x: np.ndarray) -> np.ndarray:
        out_hw = self._shape_check(x, "x")
        xh = nhwc(x)
        total = None
        for _, view in self._views(xh, out_hw):
            if total is None:
                total = view.copy()
            else:
                total += view
        total *= x.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        self._in_shape = xh.shape
        return nchw(total)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        g = nhwc(grad_out) * grad_out.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        dxh = np.zeros(self._in_shape, dtype=grad_out.dtype)
        for _, view in self._views(dxh, g.shape[1:3]):
            view += g
        return nchw(dxh)


class _GlobalPool2d(Module):
    """A pooling over the whole map: (N, C, H, W) → (N, C)."""

    input_ndim = 4

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = check_float_array(x, name, ndim=4)
        check_nchw(x, name, None, type(self).__name__)
        return x


class GlobalAvgPool2d(_GlobalPool2d):
    """y[n, c] = (1 / HW) Σ_{i, j} x[n, c, i, j]: (N, C, H, W) → (N, C).

    Backward: dL/dx[n, c, i, j] = dL/dy[n, c] / (HW) for every pixel.
    """

    def _forward(self, x: np.ndarray) -> np.ndarray:
        check_nchw(x, "x", None, type(self).__name__)
        n, c, h, w = x.shape
        self._in_shape = (n, h, w, c)
        return nhwc(x).reshape(n, h * w, c).mean(axis=1)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        _, h, w, _ = self._in_shape
        dxh = np.empty(self._in_shape, dtype=grad_out.dtype)
        dxh[...] = (grad_out * grad_out.dtype.type(1.0 / (h * w)))[:, None, None, :]
        return nchw(dxh)


class GlobalMaxPool2d(_GlobalPool2d):
    """y[n, c] = max_{i, j} x[n, c, i, j]: (N, C, H, W) → (N, C) (airbench's last pooling).

    Backward: dL/dy[n, c] goes to the maximising pixel (the first in row-major order on
    ties, as PyTorch's ``adaptive_max_pool2d(x, 1)``); every other pixel gets 0.
    """

    def _forward(self, x: np.ndarray) -> np.ndarray:
        check_nchw(x, "x", None, type(self).__name__)
        n, c, h, w = x.shape
        xr = nhwc(x).reshape(n, h * w, c)
        self._idx = xr.argmax(axis=1)[:, None, :]  # (N, 1, C)
        self._in_shape = (n, h, w, c)
        return np.take_along_axis(xr, self._idx, axis=1)[:, 0, :]

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        n, h, w, c = self._in_shape
        dxr = np.zeros((n, h * w, c), dtype=grad_out.dtype)
        np.put_along_axis(dxr, self._idx, grad_out[:, None, :], axis=1)
        return nchw(dxr.reshape(self._in_shape))
