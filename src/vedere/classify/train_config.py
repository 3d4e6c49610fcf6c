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

    epochs: float = 10  # may be fractional: ⌈updates per epoch × epochs⌉ updates in all
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
    drop_last: bool = False  # skip each epoch's last partial batch
    lookahead: bool = False  # airbench94's lookahead (vedere.nn.averaging.Lookahead)

    def __post_init__(self) -> None:
        e = self.epochs
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
            raise ValueError(f"epochs must be a number from 1 to {MAX_EPOCHS:,}, got {e!r:.20}")
        if not 1 <= e <= MAX_EPOCHS:
            raise ValueError(f"epochs must be from 1 to {MAX_EPOCHS:,}, got {e}")
        for name in ("drop_last", "lookahead"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r:.20}")
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
        """Updates per epoch on ``n`` training samples: ⌈n / batch⌉ (⌊n / batch⌋ with
        ``drop_last``)."""
        b = self.batch(n)
        return n // b if self.drop_last else -(-n // b)

    @property
    def n_epochs(self) -> int:
        """Epochs the loop starts: ⌈epochs⌉ (the last one may stop part-way)."""
        return math.ceil(self.epochs)

    def total_updates(self, n: int) -> int:
        """Updates of the whole run on ``n`` samples: ⌈steps per epoch × epochs⌉."""
        return math.ceil(self.steps_per_epoch(n) * self.epochs)

    def steps_in_epoch(self, epoch: int, n: int) -> int:
        """Updates of epoch ``epoch`` (0-based): all of them but in a fractional last one."""
        per = self.steps_per_epoch(n)
        return max(0, min(per, self.total_updates(n) - epoch * per))
