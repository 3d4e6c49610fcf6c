"""Batch normalisation: standardise every channel over the batch, then scale and shift.

In training, per channel c over the M values of the batch (M = N·H·W for images, N for
vectors):

    μ = (1/M) Σ x,   σ² = (1/M) Σ (x - μ)²,   x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β

and the running statistics move towards the batch's (PyTorch's rule, unbiased variance):

    running_mean ← (1 - m) running_mean + m μ,   running_var ← (1 - m) running_var + m σ² M/(M-1)

In eval mode x̂ = (x - running_mean) / √(running_var + ε) instead: the output of one image no
longer depends on the others in its batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .module import Module
from .parameter import Buffer, Parameter
from .spatial import nchw, positive_int, rows
from .validation import check_float_array


class _BatchNorm(Module):
    """Shared by :class:`BatchNorm1d` and :class:`BatchNorm2d`.

    Backward, with G = dL/dy as an (M, C) matrix and x̂ the cached standardised input:

    - dL/dβ = Σ_m G_m                                  (C,)
    - dL/dγ = Σ_m G_m ⊙ x̂_m                            (C,)
    - training: dL/dx = γ / (M √(σ² + ε)) ⊙ (M G - dL/dβ - x̂ ⊙ dL/dγ)
      (μ and σ² depend on every x of the channel, which adds the two mean terms)
    - eval:     dL/dx = γ / √(running_var + ε) ⊙ G    (the statistics are constants)
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        *,
        dtype: str | np.dtype | type = "float32",
    ) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        if not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        self.eps, self.momentum = float(eps), float(momentum)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype=dt), "weight", decay=False)
        self.bias = Parameter(np.zeros(c, dtype=dt), "bias", decay=False)
        self.running_mean = Buffer(np.zeros(c, dtype=dt), "running_mean")
        self.running_var = Buffer(np.ones(c, dtype=dt), "running_var")
        self.num_batches_tracked = Buffer(np.zeros((), dtype=np.int64), "num_batches_tracked")

    # -- layout: every input as an (M, C) matrix of channel vectors ---------------------------
    def _check_shape(self, x: np.ndarray, name: str) -> None:
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            want = " or ".join(self._shapes)
            raise ValueError(
                f"{name} has shape {x.shape} but this {type(self).__name__} expects "
                f"{want} with C = {self.num_features}"
            )
        if self.training:
            m = x.size // self.num_features
            if m < 2:
                raise ValueError(
                    f"{name} has shape {x.shape}: batch statistics need more than one value "
                    "per channel in training mode (use eval mode for single inputs)"
                )

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = check_float_array(x, name, dtype=self.dtype)
        self._check_shape(x, name)
        return x

    def _to_rows(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _from_rows(self, r: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    # -- the two passes ------------------------------------------------------------------
    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._check_shape(x, "x")
        r = self._to_rows(x)
        m = r.shape[0]
        dt = x.dtype.type
        if self.training:
            mean = r.mean(axis=0)
            xc = r - mean
            var = np.einsum("mc,mc->c", xc, xc) / dt(m)  # σ² (biased, for normalising)
            inv = 1.0 / np.sqrt(var + dt(self.eps))
            xhat = xc
            xhat *= inv
            mo = self.momentum
            self.running_mean.data *= dt(1 - mo)
            self.running_mean.data += dt(mo) * mean
            self.running_var.data *= dt(1 - mo)
            self.running_var.data += dt(mo * m / (m - 1)) * var  # unbiased, as PyTorch
            self.num_batches_tracked.data += 1
        else:
            inv = 1.0 / np.sqrt(self.running_var.data + dt(self.eps))
            xhat = (r - self.running_mean.data) * inv
        self._xhat, self._inv, self._shape = xhat, inv, x.shape
        y = xhat * self.weight.data  # y = γ x̂ + β
        y += self.bias.data
        return self._from_rows(y, x.shape)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        g = self._to_rows(grad_out)
        xhat = self._xhat
        dbeta = g.sum(axis=0)  # dL/dβ = Σ G
        dgamma = np.einsum("mc,mc->c", g, xhat)  # dL/dγ = Σ G ⊙ x̂
        self.weight.add_grad(dgamma)
        self.bias.add_grad(dbeta)
        if not need_input_grad:
            return None
        scale = self.weight.data * self._inv
        if self.training:
            m = g.shape[0]
            dt = g.dtype.type
            dx = xhat * (dgamma / dt(m))  # x̂ ⊙ dL/dγ / M
            dx += dbeta / dt(m)
            np.subtract(g, dx, out=dx)  # G - dL/dβ/M - x̂ ⊙ dL/dγ/M
            dx *= scale
        else:
            dx = g * scale
        return self._from_rows(dx, self._shape)

    # -- parameters, buffers and config ------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight), ("bias", self.bias)]

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return [
            ("running_mean", self.running_mean),
            ("running_var", self.running_var),
            ("num_batches_tracked", self.num_batches_tracked),
        ]

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "dtype": str(self.weight.dtype),
        }


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images: statistics per channel over (N, H, W).

    Shapes: x (N, C, H, W) → y (N, C, H, W); γ = ``weight``, β = ``bias`` (C,), initially 1
    and 0; buffers ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and
    ``num_batches_tracked`` (), named as in PyTorch's state dict.
    """

    _ndims = (4,)
    _shapes = ("(N, C, H, W)",)

    def _to_rows(self, x: np.ndarray) -> np.ndarray:
        return rows(x)

    def _from_rows(self, r: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        n, c, h, w = shape
        return nchw(r.reshape(n, h, w, c))


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of vectors (N, C) (statistics over N) or sequences (N, C, L)
    (statistics over N and L). Parameters and buffers as :class:`BatchNorm2d`."""

    _ndims = (2, 3)
    _shapes = ("(N, C)", "(N, C, L)")

    def _to_rows(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:
            return x
        return x.transpose(0, 2, 1).reshape(-1, x.shape[1])

    def _from_rows(self, r: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) == 2:
            return r
        n, c, length = shape
        return r.reshape(n, length, c).transpose(0, 2, 1)
