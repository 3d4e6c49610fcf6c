"""Learning-rate schedules: α_t as a function of the epoch t = 0, 1, 2, …

- constant:     α_t = α₀
- step:         α_t = α₀ · γ^⌊t / step_size⌋
- exp:          α_t = α₀ · γ^t
- cosine:       α_t = α_min + (α₀ - α_min) (1 + cos(π t / T)) / 2   (t ≤ T)
- warm-up:      α_t = α₀ · (f + (1 - f) t / W) for t < W, then the wrapped schedule
                shifted by W epochs

Use: ``opt.lr = schedule(epoch)`` at the start of each epoch.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "exp", "cosine")


class Schedule:
    """α_t for epoch t; ``base_lr`` is α₀."""

    def __init__(self, base_lr: float) -> None:
        if not (math.isfinite(base_lr) and base_lr > 0):
            raise ValueError(f"base learning rate must be > 0, got {base_lr}")
        self.base_lr = float(base_lr)

    def __call__(self, t: int) -> float:
        if t < 0:
            raise ValueError(f"epoch must be >= 0, got {t}")
        return self._lr(t)

    def _lr(self, t: int) -> float:
        return self.base_lr


class Constant(Schedule):
    """α_t = α₀."""


class StepDecay(Schedule):
    """α_t = α₀ · γ^⌊t / step_size⌋."""

    def __init__(self, base_lr: float, step_size: int = 10, gamma: float = 0.1) -> None:
        super().__init__(base_lr)
        if step_size < 1 or not 0 < gamma <= 1:
            raise ValueError(f"need step_size >= 1 and 0 < gamma <= 1, got {step_size}, {gamma}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def _lr(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    """α_t = α₀ · γ^t."""

    def __init__(self, base_lr: float, gamma: float = 0.95) -> None:
        super().__init__(base_lr)
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.gamma = float(gamma)

    def _lr(self, t: int) -> float:
        return self.base_lr * self.gamma**t


class Cosine(Schedule):
    """α_t = α_min + (α₀ - α_min)(1 + cos(π t / T)) / 2, held at α_min after T epochs."""

    def __init__(self, base_lr: float, t_max: int, min_lr: float = 0.0) -> None:
        super().__init__(base_lr)
        if t_max < 1 or min_lr < 0:
            raise ValueError(f"need t_max >= 1 and min_lr >= 0, got {t_max}, {min_lr}")
        self.t_max, self.min_lr = int(t_max), float(min_lr)

    def _lr(self, t: int) -> float:
        t = min(t, self.t_max)
        return (
            self.min_lr
            + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t / self.t_max)) / 2
        )


class Warmup(Schedule):
    """Linear warm-up from ``start_factor``·α₀ to α₀ over ``warmup`` epochs, then ``after``."""

    def __init__(self, after: Schedule, warmup: int, start_factor: float = 0.1) -> None:
        super().__init__(after.base_lr)
        if warmup < 0 or not 0 < start_factor <= 1:
            raise ValueError(
                f"need warmup >= 0 and 0 < start_factor <= 1, got {warmup}, {start_factor}"
            )
        self.after, self.warmup, self.start_factor = after, int(warmup), float(start_factor)

    def _lr(self, t: int) -> float:
        if t < self.warmup:
            f = self.start_factor + (1 - self.start_factor) * t / self.warmup
            return self.base_lr * f
        return self.after(t - self.warmup)


def make_schedule(name: str, base_lr: float, epochs: int, warmup: int = 0) -> Schedule:
    """A schedule by the command line's name, with defaults scaled to ``epochs``.

    step: ×0.1 every third of the run; exp: γ such that α ends at α₀/100; cosine: T = epochs.
    """
    key = name.lower()
    epochs = max(int(epochs), 1)
    sched: Schedule
    if key == "constant":
        sched = Constant(base_lr)
    elif key == "step":
        sched = StepDecay(base_lr, step_size=max(epochs // 3, 1), gamma=0.1)
    elif key in ("exp", "exponential"):
        sched = ExponentialDecay(base_lr, gamma=0.01 ** (1 / epochs))
    elif key == "cosine":
        sched = Cosine(base_lr, t_max=max(epochs - warmup, 1))
    else:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return Warmup(sched, warmup) if warmup else sched
