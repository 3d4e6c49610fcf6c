"""Where a training run is: :class:`TrainState`, everything the loop and the divergence
guard keep between two updates (and so everything a checkpoint must hold besides the
weights, the optimiser and the random generators).

Each field says in its metadata how a checkpoint stores it (:mod:`.checkpoint` writes the
fields from this list, it does not re-list them): ``"weights"`` (a dict name → array, stored
as tensors ``<field>.<name>``), ``"tensor"`` (one array, stored as the tensor ``<field>``),
otherwise a JSON value (a tuple as a list, an infinite float as null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

WEIGHTS = {"checkpoint": "weights"}
TENSOR = {"checkpoint": "tensor"}


@dataclass
class TrainState:
    """The loop's position and running sums, early stopping's bookkeeping and the divergence
    guard's snapshots and references (see :mod:`.guard`)."""

    epoch: int = 0  # next epoch to run (0-based)
    step: int = 0  # next step within it
    perm: np.ndarray | None = field(default=None, metadata=TENSOR)  # the epoch's order
    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0
    seconds: float = 0.0  # spent in the current epoch so far
    best_loss: float = math.inf
    best_epoch: int = -1
    wait: int = 0
    # the divergence guard's snapshots: "good" weights passed it (their loss and their
    # values), "cand" weights passed the value check and wait for their loss to be seen;
    # *_at: (epoch, step) where they were taken (0-based epoch, steps done in it)
    good: dict[str, np.ndarray] | None = field(default=None, metadata=WEIGHTS)
    good_at: tuple[int, int] = (0, 0)
    cand: dict[str, np.ndarray] | None = field(default=None, metadata=WEIGHTS)
    cand_at: tuple[int, int] = (0, 0)
    best: dict[str, np.ndarray] | None = field(default=None, metadata=WEIGHTS)  # early stopping
    # the divergence guard: the current block of updates and the smallest block mean so far
    block_sum: float = 0.0
    block_n: int = 0
    reference: float | None = None
    first_loss: float | None = None  # the first block's mean: the loss near initialisation
    val_reference: float | None = None
    # lookahead's average of the weights (TrainConfig.lookahead), by state_tensors' names
    average: dict[str, np.ndarray] | None = field(default=None, metadata=WEIGHTS)

    def start_epoch(self, perm: np.ndarray) -> None:
        """Begin an epoch that visits the samples in the order ``perm``."""
        self.perm = perm
        self.step = 0
        self.loss_sum, self.correct, self.count, self.seconds = 0.0, 0, 0, 0.0
        self.block_sum, self.block_n = 0.0, 0

    def finish_epoch(self) -> None:
        """The epoch is recorded: the next one starts (and draws its own permutation)."""
        self.epoch += 1
        self.step = 0
        self.perm = None
        self.loss_sum, self.correct, self.count, self.seconds = 0.0, 0, 0, 0.0
