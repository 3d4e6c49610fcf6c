"""Parameter groups (PyTorch's ``param_groups``): parameters that share a learning-rate
multiplier, a weight decay and a training span, and the decay-as-a-fraction-of-the-rate
rule (:func:`decay_per_step`); the optimisers that take them are in :mod:`vedere.nn.optim`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .parameter import Parameter

__all__ = ["ParamGroup", "decay_per_step"]


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return float(value)


def _check_unit(name: str, value: float) -> float:
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


@dataclass
class ParamGroup:
    """Parameters that share a learning-rate multiplier, a weight decay and a training span.

    ``lr_scale`` s: they step with α·s; ``weight_decay`` λ_g: the coupled decay added to
    their gradients (None: the optimiser's); ``epochs`` E: they train in epochs 0 … E-1 only
    (None: always); ``name`` labels the group in configs."""

    params: list[Parameter]
    lr_scale: float = 1.0
    weight_decay: float | None = None
    epochs: int | None = None
    name: str = ""
    active: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        self.params = list(self.params)
        self.lr_scale = _check_positive(f"group {self.name!r} lr_scale", self.lr_scale)
        if self.weight_decay is not None:
            self.weight_decay = _check_positive(
                f"group {self.name!r} weight_decay", self.weight_decay, allow_zero=True
            )
        if self.epochs is not None and (
            isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0
        ):
            raise ValueError(f"group {self.name!r} epochs must be an integer >= 0 or None")

    def describe(self) -> dict[str, Any]:
        """The group as JSON: name, number of parameters and values, lr_scale, decay, epochs."""
        return {
            "name": self.name,
            "parameters": len(self.params),
            "values": int(sum(p.data.size for p in self.params)),
            "lr_scale": self.lr_scale,
            "weight_decay": self.weight_decay,
            "epochs": self.epochs,
        }


def decay_per_step(wd: float, base_lr: float, lr_scale: float = 1.0) -> float:
    """The coupled decay λ_g = wd / (α₀·s) that makes a group of rate α₀·s lose wd·θ per step
    (before momentum, times the schedule's factor) — airbench's "decay as wd/lr"."""
    return _check_positive("wd", wd, allow_zero=True) / (
        _check_positive("base_lr", base_lr) * _check_positive("lr_scale", lr_scale)
    )
