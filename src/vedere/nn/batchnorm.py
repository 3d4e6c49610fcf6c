"""Batch normalisation: standardise every channel over the batch, then scale and shift.

In training, per channel c over the M values of the batch (M = N·H·W for images, N for
vectors):

    μ = (1/M) Σ x,   σ² = (1/M) Σ (x - μ)²,   x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β

and the running statistics move towards the batch's (PyTorch's rule, unbiased variance):

    running_mean ← (1 - m) running_mean + m μ,   running_var ← (1 - m) running_var + m σ² M/(M-1)

In eval mode x̂ = (x - running_mean) / √(running_var + ε) instead: the output of one image no
longer depends on the others in its batch.

``momentum`` m is PyTorch's: the weight of the *new* batch (airbench94's "momentum 0.6",
running ← 0.6·running + 0.4·batch, is m = 0.4 here, as ``torch.nn.BatchNorm2d(momentum=0.4)``).
``scale=False`` holds γ at 1 (a frozen parameter: saved, never trained; airbench94).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .kernels_loader import kernels
from .module import Module
from .parameter import Buffer, Parameter
from .spatial import nchw, positive_int, rows
from .validation import check_float_array

MAX_FEATURES = 2**24


def _chunks(m: int) -> int:
    """Row blocks of the parallel channel sums: a function of M only, so that results do not
    depend on the thread count."""
    return max(1, min(16, m // 2048))


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
        scale: bool = True,
        dtype: str | np.dtype | type = "float32",
    ) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features", MAX_FEATURES)
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        if not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        if not isinstance(scale, (bool, np.bool_)):
            raise ValueError(f"scale must be True or False, got {scale!r:.20}")
        self.eps, self.momentum, self.scale = float(eps), float(momentum), bool(scale)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype=dt), "weight", decay=False, trainable=self.scale)
        self.bias = Parameter(np.zeros(c, dtype=dt), "bias", decay=False)
        self.running_mean = Buffer(np.zeros(c, dtype=dt), "running_mean")
        self.running_var = Buffer(np.ones(c, dtype=dt), "running_var")
        self.num_batches_tracked = Buffer(np.zeros((), dtype=np.int64), "num_batches_tracked")

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """γ, β, running mean and variance (C,) and the batch counter (), from ``config``."""
        c = positive_int(config.get("num_features"), "num_features", MAX_FEATURES)
        return {
            "weight": (c,),
            "bias": (c,),
            "running_mean": (c,),
            "running_var": (c,),
            "num_batches_tracked": (),
        }

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
    def _rows(self, x: np.ndarray) -> np.ndarray:
        r = self._to_rows(x)
        return r if r.flags.c_contiguous else np.ascontiguousarray(r)

    def _terms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x's rows r (M, C) and the per-channel map y = a·r + c of this pass (the batch's
        statistics in training, which also move the running ones; those in eval)."""
        self._check_shape(x, "x")
        r = self._rows(x)  # (M, C); the input itself when channels-last: nothing copied
        m = r.shape[0]
        if self.training:
            # one pass of float64 sums around the first row (no cancellation): μ, σ²
            center = r[0].astype(np.float64)
            s1, s2 = kernels().channel_moments(r, center, _chunks(m))
            shift = s1 / m
            mean = center + shift
            var = np.maximum(s2 / m - shift * shift, 0.0)  # σ² = E[(x-c)²] - (E[x-c])²
            mo = self.momentum
            self.running_mean.data[...] = (1 - mo) * self.running_mean.data + mo * mean
            self.running_var.data[...] = (1 - mo) * self.running_var.data + mo * var * m / (m - 1)
            self.num_batches_tracked.data += 1
        else:
            mean = self.running_mean.data.astype(np.float64)
            var = self.running_var.data.astype(np.float64)
        inv = 1.0 / np.sqrt(var + self.eps)  # 1 / √(σ² + ε)
        scale = self.weight.data * inv  # y = γ x̂ + β = (γ/√(σ²+ε)) x + (β - μ γ/√(σ²+ε))
        self._r, self._mean, self._inv, self._shape = r, mean, inv, x.shape
        return r, scale.astype(r.dtype), (self.bias.data - mean * scale).astype(r.dtype)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        r, a, c = self._terms(x)
        y = np.empty_like(r)
        kernels().affine(a, r, c, y)
        return self._from_rows(y, x.shape)

    def _forward_act(self, x: np.ndarray, relu: bool) -> np.ndarray:
        """f(this norm's output) in one pass, f = ReLU if ``relu`` else GELU (float32 only)
        (:mod:`vedere.nn.bn_act_kernels`); :meth:`_backward_act` is its backward pass.
        Sequential calls the two for a BatchNorm followed by its activation."""
        from . import bn_act_kernels as fused

        r, a, c = self._terms(x)
        out = np.empty_like(r)
        (fused.bn_relu if relu else fused.bn_gelu)(r, a, c, out)
        self._act = (a, c, relu)
        return self._from_rows(out, x.shape)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        g, r, mean = self._rows(grad_out), self._r, self._mean
        sg, sgx = kernels().channel_dot(g, r, mean, _chunks(g.shape[0]))  # Σ G, Σ G ⊙ (x - μ)
        terms = self._input_grad_terms(sg, sgx, g.shape[0], g.dtype, need_input_grad)
        if terms is None:
            return None
        dx = np.empty_like(g)
        kernels().affine2(terms[0], g, terms[1], r, terms[2], dx)
        return self._from_rows(dx, self._shape)

    def _backward_act(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        """The backward pass of :meth:`_forward_act`, from dL/d(the activation's output): the
        same gradients as the activation's backward followed by this norm's; G' = dL/dz is
        computed with its sums (z recomputed from the input, not stored) and mapped in place
        to dL/dx."""
        from . import bn_act_kernels as fused

        g, r, mean, (a, c, relu) = self._rows(grad_out), self._r, self._mean, self._act
        m = g.shape[0]
        gz = np.empty_like(g)
        dot = fused.bn_relu_dot if relu else fused.bn_gelu_dot
        sg, sgx = dot(g, r, a, c, mean, _chunks(m), gz)  # Σ G', Σ G' ⊙ (x - μ)
        terms = self._input_grad_terms(sg, sgx, m, g.dtype, need_input_grad)
        if terms is None:
            return None
        kernels().affine2(terms[0], gz, terms[1], r, terms[2], gz)  # dL/dx, over G'
        return self._from_rows(gz, self._shape)

    def _input_grad_terms(
        self, sg: np.ndarray, sgx: np.ndarray, m: int, dtype: np.dtype, need_input_grad: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Accumulate dL/dγ = Σ G ⊙ x̂ and dL/dβ = Σ G from the sums Σ G and Σ G ⊙ (x − μ);
        then, if wanted, (p, q, s) with dL/dx = p·G + q·x + s per channel (None if not)."""
        inv, mean = self._inv, self._mean
        dgamma = sgx * inv  # dL/dγ = Σ G ⊙ x̂
        self.weight.add_grad(dgamma.astype(dtype))
        self.bias.add_grad(sg.astype(dtype))  # dL/dβ = Σ G
        if not need_input_grad:
            return None
        p = self.weight.data * inv  # γ / √(σ² + ε)
        if not self.training:  # the running statistics are constants: dL/dx = p·G
            zero = np.zeros_like(p, dtype=dtype)
            return p.astype(dtype), zero, zero
        # dL/dx = p (G - dL/dβ/M - x̂ dL/dγ/M), x̂ = (x - μ)·inv, as one affine map of G, x
        q = -p * inv * dgamma / m
        s = -p * sg / m - q * mean
        return p.astype(dtype), q.astype(dtype), s.astype(dtype)

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
            "scale": self.scale,
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
