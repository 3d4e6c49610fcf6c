"""Extension points of the training loop (:class:`~.trainer.Trainer`).

A :class:`TrainHook` is called at fixed places of every epoch, in this order::

    on_epoch_start(trainer)            the epoch's permutation and learning rate are set
    ┌ before_step(trainer)             before the batch's forward pass
    │   … forward, backward, optimiser step (vedere.nn.step.train_step) …
    └ after_step(trainer, step)        right after the optimiser step (``step``: its
                                       vedere.nn.step.Step), before the divergence guard
    on_epoch_end(trainer, row)         the epoch's history row (train and validation
                                       measures) is appended; early stopping, the
                                       checkpoint and history files come after

``trainer.state`` says where the loop is (``epoch``, 0-based; ``step``, updates done in the
epoch). Hooks run in the order given; an exception propagates and stops training. A hook
that keeps state of its own must be able to rebuild it from ``trainer.state`` and the
weights for ``resume`` to stay bit-identical (the checkpoint holds only the trainer's
state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..nn.step import Step
    from .trainer import Trainer


class TrainHook:
    """Does nothing at each place; subclass and override the ones you need."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """The epoch ``trainer.state.epoch`` begins (also when resumed in its middle)."""

    def before_step(self, trainer: Trainer) -> None:
        """Update ``trainer.state.step`` of the epoch is about to be taken."""

    def after_step(self, trainer: Trainer, step: Step) -> None:
        """The optimiser step was taken (the running sums already count it)."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """The epoch's history ``row`` was recorded."""
