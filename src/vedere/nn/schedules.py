"""Learning-rate schedules: α_t as a function of the epoch t = 0, 1, 2, …

- constant:     α_t = α₀
- step:         α_t = α₀ · γ^⌊t / step_size⌋
- exp:          α_t = α₀ · γ^t
- cosine:       α_t = α_min + (α₀ - α_min) (1 + cos(π t / T)) / 2   (t ≤ T)
- warm-up:      α_t = α₀ · (f + (1 - f) t / W) for t < W, then the wrapped schedule
                shifted by W epochs
- piecewise:    α = α₀ · v(u), v linear between knots (u_i, v_i) of the fraction u of
                training done; by default airbench94's 0.2 → 1 at 23% → 0.07 at the end.
                It is a per-update schedule (``per_step``): the rate of update k of T is
                :meth:`PiecewiseLinear.at_step` (k, T), the knots at updates ⌊u_i·T⌋

Use: ``opt.lr = schedule(epoch)`` at the start of each epoch, or, when ``schedule.per_step``,
``opt.lr = schedule.at_step(k, total)`` before every update.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

SCHEDULES = ("constant", "step", "exp", "cosine", "piecewise")
#: airbench94's learning-rate factor: (fraction of the updates done, factor)
AIRBENCH_KNOTS: tuple[tuple[float, float], ...] = ((0.0, 0.2), (0.23, 1.0), (1.0, 0.07))


class Schedule:
    """α_t for epoch t; ``base_lr`` is α₀."""

    #: True: the rate changes at every update (use :meth:`at_step`), not once an epoch
    per_step = False

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


class PiecewiseLinear(Schedule):
    """α = α₀ · v, v linear in the fraction of training between ``knots`` (u_i, v_i).

    Per update (``at_step``): update k of T (0-based) has the factor
    v_i + (v_{i+1} - v_i)(k - a_i)/(a_{i+1} - a_i) on the segment a_i ≤ k < a_{i+1},
    a_i = ⌊u_i·T⌋ (so airbench94's warm-up ends at update ⌊0.23·T⌋, as its code has it).
    Per epoch (``schedule(t)``): the same with k = t, T = ``epochs``. The knots' fractions
    start at 0, end at 1 and increase; their factors are > 0."""

    per_step = True

    def __init__(
        self,
        base_lr: float,
        knots: Sequence[tuple[float, float]] = AIRBENCH_KNOTS,
        epochs: int = 1,
    ) -> None:
        super().__init__(base_lr)
        pts = [(float(u), float(v)) for u, v in knots]
        us = [u for u, _ in pts]
        if (
            len(pts) < 2
            or us[0] != 0.0
            or us[-1] != 1.0
            or any(b <= a for a, b in itertools.pairwise(us))
            or any(not (math.isfinite(v) and v > 0) for _, v in pts)
        ):
            raise ValueError(
                "piecewise knots must be (fraction, factor) pairs with fractions rising from 0 "
                f"to 1 and factors > 0, got {str(list(knots))[:80]}"
            )
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.knots, self.epochs = tuple(pts), int(epochs)

    def at_step(self, k: int, total: int) -> float:
        """α of update ``k`` (0-based) of ``total``."""
        if total < 1 or k < 0:
            raise ValueError(f"need total >= 1 and k >= 0, got k={k}, total={total}")
        pos = [math.floor(u * total) for u, _ in self.knots]
        vals = [v for _, v in self.knots]
        last = len(pos) - 2
        for i in range(last + 1):
            a, b = pos[i], pos[i + 1]
            if k < b or i == last:
                if b == a:
                    return self.base_lr * vals[i + 1]
                frac = min(max((k - a) / (b - a), 0.0), 1.0)
                return self.base_lr * (vals[i] * (1 - frac) + vals[i + 1] * frac)
        raise AssertionError("unreachable")

    def _lr(self, t: int) -> float:
        return self.at_step(min(t, self.epochs), self.epochs)


def make_schedule(name: str, base_lr: float, epochs: float, warmup: int = 0) -> Schedule:
    """A schedule by the command line's name, with defaults scaled to ``epochs``.

    step: ×0.1 every third of the run; exp: γ such that α ends at α₀/100; cosine: T = epochs;
    piecewise: airbench94's knots, per update (a warm-up is refused: the knots hold it).
    """
    key = name.lower()
    epochs = max(math.ceil(epochs), 1)
    sched: Schedule
    if key == "constant":
        sched = Constant(base_lr)
    elif key == "step":
        sched = StepDecay(base_lr, step_size=max(epochs // 3, 1), gamma=0.1)
    elif key in ("exp", "exponential"):
        sched = ExponentialDecay(base_lr, gamma=0.01 ** (1 / epochs))
    elif key == "cosine":
        sched = Cosine(base_lr, t_max=max(epochs - warmup, 1))
    elif key == "piecewise":
        if warmup:
            raise ValueError("the piecewise schedule holds its own warm-up; use warmup 0")
        return PiecewiseLinear(base_lr, epochs=epochs)
    else:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return Warmup(sched, warmup) if warmup else sched
