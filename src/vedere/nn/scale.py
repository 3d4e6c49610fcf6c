"""A constant factor: y = a·x (airbench94 divides its logits by 9)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .module import Module


class Scale(Module):
    """y = a·x for a fixed number a (no parameters); dL/dx = a·dL/dy. Any shape."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise ValueError(f"factor must be a number, got {type(factor).__name__}")
        if not (math.isfinite(factor) and factor != 0):
            raise ValueError(f"factor must be finite and non-zero, got {factor}")
        self.factor = float(factor)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return x * x.dtype.type(self.factor)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        return grad_out * grad_out.dtype.type(self.factor) if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}
