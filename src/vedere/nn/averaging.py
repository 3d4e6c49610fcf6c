"""Averages of a network's weights over training: lookahead and exponential moving averages.

A :class:`WeightAverage` keeps θ̄, a copy of every floating-point parameter *and buffer*
(BatchNorm's running statistics are averaged too; integer counters are not), and moves it
toward the live weights θ:

    θ̄ ← θ̄ + (1 - d)(θ - θ̄)         (``update(d)``; d = decay, d = 1 leaves θ̄ as it is)

With ``copy_back`` (lookahead) the live weights then jump to the average, θ ← θ̄; without
it (an EMA) they train on and :meth:`WeightAverage.swap_in` puts θ̄ in the network at the end.

:class:`Lookahead` is airbench94's schedule of it (Jordan 2024): after update k of T, every
``every`` updates, d_k = ``rate``^every · (k / T)^power (0.95⁵·(k/T)³: the average follows
the live weights closely early on and less and less), and after the last update d = 1, so
that the network ends holding the average.
"""

from __future__ import annotations

import math

import numpy as np

from .module import Module


class WeightAverage:
    """θ̄ of ``module``'s float parameters and buffers (copied at construction)."""

    def __init__(self, module: Module, copy_back: bool = True) -> None:
        named = [*module.named_parameters(), *module.named_buffers()]
        self.tensors = [(n, t) for n, t in named if t.data.dtype.kind == "f"]
        # every tensor by name (integer counters too, copied once and never averaged, so
        # that the dict has the names of the module's state, as a checkpoint wants)
        self.average = {n: t.data.copy() for n, t in named}
        self.copy_back = bool(copy_back)

    def update(self, decay: float) -> None:
        """θ̄ ← θ̄ + (1 - decay)(θ - θ̄), then θ ← θ̄ when ``copy_back``."""
        if not (math.isfinite(decay) and 0 <= decay <= 1):
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        for n, t in self.tensors:
            avg = self.average[n]
            if decay != 1:
                avg += avg.dtype.type(1 - decay) * (t.data - avg)
            if self.copy_back:
                np.copyto(t.data, avg)

    def swap_in(self) -> None:
        """Put θ̄ into the network (θ ← θ̄)."""
        for n, t in self.tensors:
            np.copyto(t.data, self.average[n])

    # -- checkpoints ------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """θ̄ by tensor name (for checkpoints)."""
        return dict(self.average)

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore θ̄ from :meth:`state_arrays`; ValueError if a name or shape differs."""
        own = {n: np.asarray(a) for n, a in self.average.items()}
        if set(arrays) != set(own):
            raise ValueError(f"averaged tensors {sorted(arrays)[:4]} do not match the network's")
        for n, a in arrays.items():
            if a.shape != own[n].shape:
                raise ValueError(f"averaged tensor {n} has shape {a.shape}, needs {own[n].shape}")
        self.average = {n: np.array(a, dtype=own[n].dtype) for n, a in arrays.items()}


class Lookahead(WeightAverage):
    """airbench94's lookahead: :meth:`after_step` (k, T) after every update k = 1 … T."""

    def __init__(self, module: Module, every: int = 5, rate: float = 0.95, power: float = 3.0):
        super().__init__(module, copy_back=True)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        if not (0 < rate <= 1 and math.isfinite(power) and power >= 0):
            raise ValueError(f"need 0 < rate <= 1 and power >= 0, got {rate}, {power}")
        self.every, self.rate, self.power = every, float(rate), float(power)

    def decay(self, k: int, total: int) -> float:
        """d_k = rate^every · (k / total)^power."""
        return self.rate**self.every * (k / total) ** self.power

    def after_step(self, k: int, total: int) -> None:
        """After update ``k`` (1-based) of ``total``: update with d_k every ``every`` updates,
        and with d = 1 (the network takes the average) once k reaches ``total``."""
        if k % self.every == 0:
            self.update(self.decay(k, total))
        if k >= total:
            self.update(1.0)

    def get_config(self) -> dict[str, float]:
        """The averaging's settings (every, rate, power) as JSON-ready values."""
        return {"every": self.every, "rate": self.rate, "power": self.power}
