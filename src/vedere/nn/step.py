"""One gradient-descent update, the one the trainer and the playground share.

    out  = f(x; θ)                              model.forward
    J    = L(out, target) [+ Σ λ R(W)]          objective.forward (a Loss, or Regularized)
    g    = dJ/dθ                                model.backward (+ the penalties' gradients)
    g    ← g · min(1, c / ‖g‖)                  when ``clip_norm`` c > 0
    θ    ← optimizer's rule(θ, g)               optimizer.step, then the gradients are zeroed

A step whose loss is not finite changes nothing: the update is skipped, so the parameters
stay those that produced the last finite loss, and the caller decides (with
:mod:`vedere.nn.divergence`) that training diverged.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .losses import Loss
from .module import Module
from .optim import Optimizer, clip_grad_norm
from .regularizers import Regularized


class Step(NamedTuple):
    """What one update saw: ``loss`` J (with penalties), ``data_loss`` (without them),
    the model's ``output`` (N, K) for x, and whether the parameters were ``updated``."""

    loss: float
    data_loss: float
    output: np.ndarray
    updated: bool


def train_step(
    model: Module,
    objective: Loss,
    optimizer: Optimizer,
    x: np.ndarray,
    target: np.ndarray,
    *,
    clip_norm: float = 0.0,
) -> Step:
    """Forward ``x``, compute ``objective(output, target)``, back-propagate and update the
    parameters of ``optimizer`` once (nothing is updated when the loss is NaN or inf)."""
    out = model.forward(x)
    loss = float(objective.forward(out, target))
    data_loss = objective.data_loss if isinstance(objective, Regularized) else loss
    if not math.isfinite(loss):
        return Step(loss, data_loss, out, False)
    if isinstance(objective, Regularized):
        # the data gradient first: layers then write it in place instead of adding to zeros
        model.backward(objective.loss.backward())
        for pen in objective.penalties:
            pen.backward(model.parameters())
    else:
        model.backward(objective.backward())
    if clip_norm:
        clip_grad_norm(optimizer.params, clip_norm)
    optimizer.step()
    optimizer.zero_grad()
    return Step(loss, data_loss, out, True)
