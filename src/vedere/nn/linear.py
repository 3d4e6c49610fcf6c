"""The linear (fully connected) layer of the course: f(x; W, b) = W·x + b."""

from __future__ import annotations

from typing import Any

import numpy as np

from .gemm import gemm
from .init import as_generator, init_weight, resolve
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """z = x·Wᵀ + b, i.e. W·x + b for every row x of the batch.

    Shapes: x (N, n_in), W (n_out, n_in), b (n_out,), z (N, n_out).

    Backward, given G = dL/dz (N, n_out):

    - dL/dW = Gᵀ · x      (n_out, n_in)   since dz/dW_ij = x_j
    - dL/db = Σ_n G_n     (n_out,)        since dz/db = 1
    - dL/dx = G · W       (N, n_in)       since dz/dx = W

    ``init`` names a scheme of :mod:`vedere.nn.init` (lecun, he, glorot, small, zeros);
    ``rng`` is an int seed or a Generator (reproducible), or None for fresh entropy.
    ``bias=False``: z = x·Wᵀ, no b (airbench94's classifier).
    """

    input_ndim = 2

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init: str = "lecun",
        rng: np.random.Generator | int | None = None,
        dtype: str | np.dtype | type = "float32",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {bias!r:.20}")
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.init = resolve(init)
        w = init_weight((self.out_features, self.in_features), self.init, as_generator(rng), dt)
        self.weight = Parameter(w, "weight", decay=True)
        self.bias = (
            Parameter(np.zeros(self.out_features, dtype=dt), "bias", decay=False) if bias else None
        )
        self._x: np.ndarray | None = None

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """weight (out_features, in_features) and bias (out_features,), from ``config``."""
        sizes = []
        for name in ("in_features", "out_features"):
            v = config.get(name)
            if type(v) is not int or not 1 <= v <= 1 << 40:
                raise ValueError(f"{name} must be a positive integer, got {str(v)[:40]}")
            sizes.append(v)
        n_in, n_out = sizes
        if config.get("bias", True) is False:
            return {"weight": (n_out, n_in)}
        return {"weight": (n_out, n_in), "bias": (n_out,)}

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = super().check_input(x, name)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"{name} has shape {x.shape} but this Linear layer expects "
                f"{self.in_features} features per row (shape (N, {self.in_features}))"
            )
        return x

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        w = self.weight.data
        z = gemm(x, w.T, np.empty((x.shape[0], self.out_features), np.result_type(x, w)))
        if self.bias is not None:
            z += self.bias.data
        return z

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        x = self._x
        if self.weight.wants_grad:
            self.weight.add_matmul_grad(grad_out.T, x)  # dL/dW = Gᵀ·x
        if self.bias is not None:
            self.bias.add_grad(grad_out.sum(axis=0))  # dL/db = Σ_n G_n
        if not need_input_grad:
            return None
        w = self.weight.data
        dx = np.empty((grad_out.shape[0], w.shape[1]), np.result_type(grad_out, w))
        return gemm(grad_out, w, dx)  # dL/dx = G·W

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        if self.bias is None:
            return [("weight", self.weight)]
        return [("weight", self.weight), ("bias", self.bias)]

    def get_config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.init,
            "dtype": str(self.weight.dtype),
            "bias": self.bias is not None,
        }
