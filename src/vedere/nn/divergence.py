"""When has training diverged? One rule, shared by the trainer's guard, the playground and the
experiments.

The course's lesson: with a learning rate that is too high, each update overshoots the
minimum by more than it started from, so the loss grows geometrically instead of falling
and soon overflows to inf or NaN. The rule calls a run diverged as soon as

* a loss (training or validation) is not finite, or
* a loss is more than ``GROWTH`` (10^4) times the *reference* loss, the smallest loss seen so
  far in the run (for the first update: the first loss itself, so one that starts at
  ln 10 ≈ 2.3 diverges past ≈ 2.3 · 10^4), or
* a parameter is not finite or larger in absolute value than ``MAX_WEIGHT`` (10^8; float32
  products of such weights overflow a few layers later).

A loss that only wanders upward by a factor of two or ten is not divergence (noisy
mini-batches, a schedule's warm restart); a loss four orders of magnitude above its best
never comes back in practice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

#: a loss this many times the smallest loss seen so far means divergence
GROWTH = 1e4
#: a parameter larger than this in absolute value means divergence
MAX_WEIGHT = 1e8


def loss_diverged(loss: float, reference: float | None) -> bool:
    """True when ``loss`` is NaN/inf or more than ``GROWTH`` × ``reference``.

    ``reference`` is the smallest finite loss seen so far (None before the first one).
    Losses are non-negative for every loss vedere has; the comparison uses
    ``max(reference, 1e-3)`` so that a run whose loss reached ~0 is not called diverged
    when it rises to 0.1.
    """
    if not math.isfinite(loss):
        return True
    if reference is None:
        return False
    return loss > GROWTH * max(reference, 1e-3)


def weights_diverged(arrays: Iterable[np.ndarray]) -> bool:
    """True when any array holds NaN/inf or a value with |w| > ``MAX_WEIGHT``."""
    for a in arrays:
        if a.size == 0:
            continue
        m = float(np.max(np.abs(a)))
        if not math.isfinite(m) or m > MAX_WEIGHT:
            return True
    return False


def curve_diverged(losses: Iterable[float]) -> bool:
    """True when a loss curve (one value per epoch or step) diverged by the rule above."""
    reference: float | None = None
    for loss in losses:
        loss = float(loss)
        if loss_diverged(loss, reference):
            return True
        reference = loss if reference is None else min(reference, loss)
    return False
