"""Inverted dropout: in training, zero each unit with probability p, scale the rest by 1/(1-p)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .init import as_generator
from .module import Module


class Dropout(Module):
    """y = x ⊙ m / (1 - p), m_i ~ Bernoulli(1 - p), in training mode; y = x in eval mode.

    Because the surviving units are scaled up during training, the expected activation is
    the same in both modes and nothing needs rescaling at test time. Backward: dL/dx =
    dL/dy ⊙ m / (1 - p), the same mask. ``fixed_mask`` (an array of 0/1 of the input's
    shape) replaces the random draw — used for gradient checks. ``rng``: an int seed or
    a Generator for reproducible masks; None draws fresh entropy.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = as_generator(rng)
        self.fixed_mask: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            self._scale = None
            return x
        keep = x.dtype.type(1.0 / (1.0 - self.p))
        if self.fixed_mask is not None:
            if self.fixed_mask.shape != x.shape:
                raise ValueError(
                    f"fixed_mask has shape {self.fixed_mask.shape} but the input has {x.shape}"
                )
            scale = self.fixed_mask.astype(x.dtype) * keep
        else:
            scale = self.rng.random(x.shape, dtype=np.float32) >= self.p
            scale = scale * keep  # bool * float -> mask scaled by 1/(1-p), dtype of x
        self._scale = scale
        return x * scale

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray:
        return grad_out if self._scale is None else grad_out * self._scale

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
