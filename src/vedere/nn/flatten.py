"""Flatten: images (N, H, W, C) become vectors (N, H·W·C) — the course's 32×32×3 → 3072."""

from __future__ import annotations

import numpy as np

from .module import Module


class Flatten(Module):
    """y = x.reshape(N, -1).  Backward reshapes dL/dy back to the input's shape."""

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        return grad_out.reshape(self._in_shape)
