"""The divergence guard of the training loop (the rule itself is :mod:`vedere.nn.divergence`).

Each update's loss is checked for NaN/inf at once (for free: :func:`vedere.nn.step.train_step`
skips the update). Every block of updates (about :data:`GUARD_SAMPLES` samples, a single update
in full batch) and at the end of each epoch, :func:`block_problem` compares the block's mean
loss with the smallest block mean so far and scans the weights for NaN/inf or |w| > 1e8. A
block of ~256 samples keeps single noisy mini-batches from looking like divergence and makes
the O(#weights) scan and copy cost < 1% of the block's forward and backward passes.

Weights that pass the scan become the candidate (:func:`pass_block`); the candidate's loss is
the first of the next block, so when that block passes, the candidate becomes the "good"
weights, those restored on divergence (finite, bounded, and with a sane loss). The
validation loss of each epoch is held to the same rule (:func:`validation_problem`).

All of the guard's memory is in :class:`~.train_state.TrainState` (``good``, ``cand``,
``block_*``, ``*reference``, ``first_loss``), so a checkpoint carries it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..nn.divergence import loss_diverged, weights_diverged
from .train_state import TrainState

#: the divergence guard checks the weights and the mean loss every this many samples (and at
#: the end of every epoch)
GUARD_SAMPLES = 256


def block_updates(batch: int) -> int:
    """Updates per guard block at batch size ``batch``: ⌈GUARD_SAMPLES / batch⌉, at least 1."""
    return max(1, -(-GUARD_SAMPLES // batch))


def start(st: TrainState, snapshot: dict[str, np.ndarray]) -> None:
    """Take the first snapshots (the weights before any update of this process), unless the
    state, resumed from a checkpoint, already holds them. ``snapshot``: a copy of them."""
    if st.good is None or st.cand is None:
        st.good, st.cand = snapshot, {k: v.copy() for k, v in snapshot.items()}
        st.good_at = st.cand_at = (st.epoch, st.step)


def block_problem(st: TrainState, parameters: Iterable[Any]) -> str | None:
    """Why the block of updates just finished diverged (in words), or None when it passed."""
    mean = st.block_sum / max(1, st.block_n)
    if loss_diverged(mean, st.reference):
        return (
            f"the training loss grew from {st.reference:.4g} to {mean:.4g}"
            if math.isfinite(mean) and st.reference is not None
            else f"the training loss became {mean}"
        )
    params = list(parameters)
    if weights_diverged(p.data for p in params):
        return f"a weight became {largest_weight(params):.4g}"
    return None


def pass_block(st: TrainState, tensors: Iterable[tuple[str, Any]]) -> None:
    """The block passed: its mean loss updates the reference, the candidate becomes the good
    weights and the current ``tensors`` (name, parameter or buffer) the new candidate."""
    mean = st.block_sum / max(1, st.block_n)
    if st.reference is None:
        st.first_loss = mean
    st.reference = mean if st.reference is None else min(st.reference, mean)
    st.block_sum, st.block_n = 0.0, 0
    assert st.good is not None and st.cand is not None
    st.good, st.good_at, st.cand = st.cand, st.cand_at, st.good
    for n, p in tensors:
        np.copyto(st.cand[n], p.data)
    st.cand_at = (st.epoch, st.step)


def validation_problem(st: TrainState, val_loss: float) -> str | None:
    """Why the epoch's validation loss is divergence, or None. It starts where the training
    loss started (same loss, same distribution), so the first training block's mean bounds
    its reference too."""
    known = [v for v in (st.val_reference, st.first_loss) if v is not None]
    ref = min(known) if known else None
    if loss_diverged(val_loss, ref):
        return (
            f"the validation loss grew from {ref:.4g} to {val_loss:.4g}"
            if math.isfinite(val_loss) and ref is not None
            else f"the validation loss became {val_loss}"
        )
    return None


def pass_validation(st: TrainState, val_loss: float) -> None:
    """The validation loss passed: it updates the validation reference."""
    st.val_reference = val_loss if st.val_reference is None else min(st.val_reference, val_loss)


def largest_weight(parameters: Iterable[Any]) -> float:
    """max |w| over ``parameters`` (the first non-finite one found, if any)."""
    worst = 0.0
    for p in parameters:
        if p.data.size:
            m = float(np.max(np.abs(p.data)))
            if not math.isfinite(m):
                return m
            worst = max(worst, m)
    return worst


def kept(good_at: tuple[int, int]) -> str:
    """The weights the guard restores, in words, from where they were taken."""
    e, k = good_at
    if (e, k) == (0, 0):
        return "the initial weights"
    if k:
        return f"the weights after step {k} of epoch {e + 1}"
    return f"the weights from the end of epoch {e}"


def diverged_message(
    st: TrainState, reason: str, user_lr: float, step: int, end_of_epoch: bool
) -> tuple[str, str]:
    """(where, the history's message) of a divergence seen at 1-based ``step`` of the
    current epoch (or at its end): where, why, the rate to try, and the weights kept."""
    where = (
        f"at the end of epoch {st.epoch + 1}"
        if end_of_epoch
        else f"in epoch {st.epoch + 1} at step {step}"
    )
    message = (
        f"training diverged {where}: {reason}. The learning rate {user_lr:g} is probably "
        f"too high; try {user_lr / 10:g}. Kept {kept(st.good_at)}."
    )
    return where, message
