"""A learnable parameter θ: its value and the gradient dL/dθ that backpropagation fills."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A learnable array and its gradient.

    ``data`` holds θ; ``grad`` holds dL/dθ with the same shape and dtype. Gradients
    *accumulate* across ``backward`` calls until :meth:`zero_grad`, as in the course's
    loop (compute the gradient, step, reset). ``decay`` says whether L1/L2 penalties apply
    (weights: yes; biases: no).
    """

    __slots__ = ("_fresh", "data", "decay", "grad", "name")

    def __init__(self, data: np.ndarray, name: str = "", decay: bool = True) -> None:
        self.data = data
        self.grad = np.zeros_like(data)
        self.name = name
        self.decay = decay
        self._fresh = True  # grad is all zeros: the next contribution may overwrite it

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        """Reset dL/dθ to zero."""
        self.grad.fill(0)
        self._fresh = True

    def add_grad(self, g: np.ndarray) -> None:
        """Accumulate a gradient contribution: grad += g."""
        if self._fresh:
            np.copyto(self.grad, g)
            self._fresh = False
        else:
            self.grad += g

    def add_matmul_grad(self, a: np.ndarray, b: np.ndarray) -> None:
        """Accumulate grad += a @ b, writing the product in place when grad is still zero."""
        if self._fresh:
            np.matmul(a, b, out=self.grad)
            self._fresh = False
        else:
            self.grad += a @ b

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"
