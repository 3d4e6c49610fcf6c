"""How a training run stops before its last epoch: :class:`Diverged` and
:class:`Interrupted` (both keep their attributes when pickled: Dask ships them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import VedereError
from .history import History


class Diverged(VedereError, RuntimeError):
    """Training diverged (by :mod:`vedere.nn.divergence`); the message names where, why and
    the learning rate the run was configured with.

    ``user_lr``: the configured (unscheduled) learning rate; ``lr``: the scheduled rate of the
    update that diverged; ``epoch``/``step``: 1-based place (``where`` in words);
    ``reason``: what was seen;
    ``history``: the epochs that finished before it (their rows are sane)."""

    def __init__(
        self,
        message: str,
        *,
        user_lr: float | None = None,
        lr: float | None = None,
        epoch: int = 0,
        step: int = 0,
        reason: str = "",
        where: str = "",
        history: History | None = None,
    ) -> None:
        super().__init__(message)
        self.user_lr, self.lr = user_lr, lr
        self.epoch, self.step, self.reason, self.where = epoch, step, reason, where
        self.history = history if history is not None else History()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``str(e)`` says where, and whether ``checkpoint_saved``."""

    def __init__(self, message: str, checkpoint_saved: bool = False) -> None:
        super().__init__(message)
        self.checkpoint_saved = checkpoint_saved

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.checkpoint_saved))


def interrupt_note(checkpoint: Path, consistent: bool, saved: bool) -> str:
    """What Ctrl-C did to the ``checkpoint``: saved, stopped by a second Ctrl-C (none was
    updated), or not taken because an update was in progress (``consistent`` False)."""
    if saved:
        return f"; checkpoint saved to {checkpoint}"
    if consistent:
        return "; another Ctrl-C stopped the checkpoint being written (none was updated)"
    kept = f" ({checkpoint} holds an earlier state)" if checkpoint.exists() else ""
    return "; the update in progress was abandoned and the checkpoint was not updated" + kept
