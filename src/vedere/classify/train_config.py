"""The hyper-parameters of one training run (:class:`TrainConfig`), checked when made."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..nn import schedules

#: the most epochs a run may ask for (its history is rewritten after every epoch)
MAX_EPOCHS = 10_000
#: seeds are 0 … 2**32 - 1 on the command line, in run configs and in sweep specs (NumPy would
#: take any non-negative integer; one range everywhere keeps them comparable and storable)
MAX_SEED = 2**32 - 1


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (all JSON-serialisable)."""

    epochs: int = 10
    batch_size: int = 256  # 1 = stochastic, 0 = full batch
    optimizer: str = "momentum"
    lr: float = 0.01
    momentum: float = 0.9
    schedule: str = "constant"
    warmup: int = 0
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float = 0.0  # 0 = no clipping
    early_stopping: int = 0  # patience in epochs; 0 = off
    tol: float = 0.0  # stop when |Δ loss| < tol between epochs; 0 = off
    seed: int = 0
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs must be from 1 to {MAX_EPOCHS:,}, got {self.epochs}")
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be >= 1, or 0 for full batch, got {self.batch_size}")
        for name in ("lr", "l1", "l2", "clip_norm", "tol"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise ValueError(
                    f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}, got {v}"
                )
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping patience must be >= 0, got {self.early_stopping}")
        schedules.make_schedule(self.schedule, self.lr, self.epochs, self.warmup)  # validates

    def batch(self, n: int) -> int:
        """The batch size on ``n`` training samples (0, full batch, and any size above n
        mean n)."""
        return min(self.batch_size or n, n)

    def steps_per_epoch(self, n: int) -> int:
        """Updates per epoch on ``n`` training samples: ⌈n / batch⌉."""
        return -(-n // self.batch(n))
