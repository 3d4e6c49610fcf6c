"""Penalties on the weights that discourage complex models: L1 and L2.

The regularised cost is J(θ) = (1/N) Σ_i L(f(x_i; θ), y_i) + λ R(W). Penalties apply to
parameters marked ``decay`` (weights), not to biases.

- L1:  R(W) = Σ |w|,        dR/dw = sign(w)     — drives weights to exactly zero (sparsity)
- L2:  R(W) = ½ Σ w²,       dR/dw = w           — shrinks weights (``weight decay`` λ)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .blas import axpy
from .losses import Loss
from .module import Module
from .parameter import Parameter


class Penalty:
    """λ·R(W) over the decayed parameters: ``value(params)`` and ``backward(params)``."""

    def __init__(self, lam: float) -> None:
        if not np.isfinite(lam) or lam < 0:
            raise ValueError(f"penalty strength must be a finite number >= 0, got {lam}")
        self.lam = float(lam)

    def value(self, params: list[Parameter]) -> float:
        """λ·R(W), summed over the parameters with ``decay``."""
        return self.lam * sum(float(self._r(p.data)) for p in params if p.decay)

    def backward(self, params: list[Parameter]) -> None:
        """Accumulate λ·dR/dw into each decayed parameter's gradient."""
        if not self.lam:
            return
        for p in params:
            if p.decay:
                axpy(self.lam, self._dr(p.data), p.grad)  # grad ← grad + λ dR/dw

    def _r(self, w: np.ndarray) -> float:
        raise NotImplementedError

    def _dr(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.lam})"


class L1(Penalty):
    """λ Σ|w|; gradient λ·sign(w) (sub-gradient 0 at w = 0)."""

    def _r(self, w: np.ndarray) -> float:
        return np.abs(w).sum()

    def _dr(self, w: np.ndarray) -> np.ndarray:
        return np.sign(w)


class L2(Penalty):
    """λ ½ Σw²; gradient λ·w (the same as weight decay λ in SGD)."""

    def _r(self, w: np.ndarray) -> float:
        return 0.5 * np.vdot(w, w)

    def _dr(self, w: np.ndarray) -> np.ndarray:
        return w


class Regularized(Loss):
    """A data loss plus weight penalties of ``model``: J = loss(ŷ, y) + Σ λ R(W).

    ``forward`` returns the total; ``backward`` adds the penalties' gradients to the model's
    parameters and returns dJ/dŷ of the data term, to be passed to ``model.backward``.
    """

    def __init__(self, loss: Loss, model: Module, penalties: list[Penalty]) -> None:
        super().__init__()
        self.loss = loss
        self.model = model
        self.penalties = [p for p in penalties if p.lam]
        self.data_loss = float("nan")
        self.penalty = 0.0

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """The data loss plus every penalty λ·R(W) on the model's weights (both kept: ``data_loss``,
        ``penalty``)."""
        self.data_loss = self.loss.forward(pred, target)
        params = self.model.parameters()
        self.penalty = sum(p.value(params) for p in self.penalties)
        return self.data_loss + self.penalty

    def backward(self) -> np.ndarray:
        params = self.model.parameters()
        for p in self.penalties:
            p.backward(params)
        return self.loss.backward()

    def get_config(self) -> dict[str, Any]:
        """The wrapped loss and the penalties, as their reprs."""
        return {"loss": repr(self.loss), "penalties": [repr(p) for p in self.penalties]}


def penalties(l1: float = 0.0, l2: float = 0.0) -> list[Penalty]:
    """The non-zero penalties among L1(l1) and L2(l2)."""
    out: list[Penalty] = []
    if l1:
        out.append(L1(l1))
    if l2:
        out.append(L2(l2))
    return out
