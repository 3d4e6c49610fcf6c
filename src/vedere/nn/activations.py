"""Non-linear activations g(z) and the derivatives the course gives for them.

Each caches what its derivative needs and multiplies the upstream gradient by g'(z):
dL/dz = dL/dg · g'(z) (element-wise). Softmax is the exception: its Jacobian is full.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from .kernels_loader import kernels
from .module import Module


class Sigmoid(Module):
    """f = σ(z) = 1 / (1 + e^{-z});  f'(z) = f (1 - f).  Any shape in, same shape out."""

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._f = F.sigmoid(x)
        return self._f

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        f = self._f
        return grad_out * f * (1 - f)


class Tanh(Module):
    """f = tanh(z);  f'(z) = 1 - f².  Any shape in, same shape out."""

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._f = np.tanh(x)
        return self._f

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        f = self._f
        return grad_out * (1 - f * f)


class ReLU(Module):
    """f = max(0, z);  f'(z) = 1 if z > 0 else 0.  Any shape in, same shape out."""

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._pos = x > 0
        return np.maximum(x, 0)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        return grad_out * self._pos  # dL/dz = dL/df · [z > 0]


class LeakyReLU(Module):
    """f = z if z > 0 else a·z;  f'(z) = 1 if z > 0 else a (a = ``negative_slope``)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        # f'(z) as an array: 1 where z > 0, a elsewhere; then f = z · f'(z)
        self._slope = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        return x * self._slope

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        return grad_out * self._slope

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


def _dense(x: np.ndarray) -> np.ndarray:
    """``x`` if its elements fill one block of memory (any axis order), else a C copy."""
    if x.flags.c_contiguous or x.flags.f_contiguous:
        return x
    if x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous:  # channels-last images
        return x
    return np.ascontiguousarray(x)


class GELU(Module):
    """f = z Φ(z), Φ the standard normal CDF;  f'(z) = Φ(z) + z φ(z), φ its density.

    ``approximate="tanh"``: f ≈ ½ z (1 + tanh(a)), a = √(2/π) (z + 0.044715 z³), and
    f'(z) = ½ (1 + tanh a) + ½ z (1 - tanh² a) √(2/π) (1 + 3·0.044715 z²) (PyTorch's
    ``approximate`` argument). Any shape in, same shape out.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        if self.approximate == "none":
            x = self._x = _dense(x)
            out = np.empty_like(x)  # same memory layout as x
            k = kernels()
            f = k.gelu_flat32 if x.dtype == np.float32 else k.gelu_flat
            f(x.ravel(order="K"), out.ravel(order="K"))
            return out
        c = x.dtype.type(np.sqrt(2.0 / np.pi))
        self._t = np.tanh(c * (x + x.dtype.type(0.044715) * x**3))
        return 0.5 * x * (1 + self._t)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        x = self._x
        if self.approximate == "none":  # dL/dz = dL/df · (Φ(z) + z φ(z))
            if grad_out.strides != x.strides:  # bring G to x's layout: flat orders agree
                g = np.empty_like(x)
                g[...] = grad_out
                grad_out = g
            out = np.empty_like(x)
            flat = out.ravel(order="K")
            k = kernels()
            f = k.gelu_backward_flat32 if x.dtype == np.float32 else k.gelu_backward_flat
            f(x.ravel(order="K"), grad_out.ravel(order="K"), flat)
            return out
        t = self._t
        c = np.sqrt(2.0 / np.pi)
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        return grad_out * d.astype(x.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


class Softmax(Module):
    """p = softmax(z) along the last axis.  Input and output (N, K).

    Backward (Jacobian-vector product): dL/dz_k = p_k (g_k - Σ_j g_j p_j), g = dL/dp.
    To train a classifier prefer :class:`~vedere.nn.SoftmaxCrossEntropy` on the logits,
    which fuses the two and is stable when probabilities underflow.
    """

    input_ndim = 2

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._p = F.softmax(x, axis=-1)
        return self._p

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        p = self._p
        return p * (grad_out - (grad_out * p).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "gelu": GELU,
}


def activation(name: str) -> Module:
    """A fresh activation layer by name: sigmoid, tanh, relu, leaky_relu or gelu."""
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[key]()
