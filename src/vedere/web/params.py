"""The playground's settings: what the page may ask for, checked field by field.

A :class:`PlaygroundConfig` holds the data (toy set, points, noise, train/test split) and the
network (hidden layers, activation, initialisation, optimiser, learning rate, batch size,
L1, L2, dropout, seed). :func:`parse_config` turns the page's JSON into one, raising
:class:`ParamError` naming the field and the allowed values; the server answers it with 400.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..data.toy import DATASETS
from ..errors import VedereError
from ..nn.activations import ACTIVATIONS
from ..nn.init import SCHEMES
from ..nn.optim import OPTIMIZERS
from ..text import short_repr

MAX_LAYERS = 6
MAX_UNITS = 16
MAX_POINTS = 2000
DATA_FIELDS = ("dataset", "n_points", "noise", "test_fraction", "seed")


class ParamError(VedereError):
    """An invalid setting: ``field`` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field


@dataclass(frozen=True)
class PlaygroundConfig:
    """Data and network settings of one playground session (defaults: spirals, 2×8 tanh)."""

    dataset: str = "spirals"
    n_points: int = 400
    noise: float = 0.05
    test_fraction: float = 0.3
    layers: tuple[int, ...] = (8, 8)
    activation: str = "tanh"
    init: str = "xavier"
    optimizer: str = "adam"
    lr: float = 0.03
    batch_size: int = 10
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    def data_changed(self, other: PlaygroundConfig) -> bool:
        """Whether ``other`` needs new points (a data field differs)."""
        return any(getattr(self, f) != getattr(other, f) for f in DATA_FIELDS)


def _number(field: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    if isinstance(value, str):
        try:
            if len(value) > 100:
                raise ValueError(value)
            value = float(value.strip())
        except ValueError:
            raise ParamError(field, f"must be a number, got {short_repr(value)}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(field, f"must be a number, got {short_repr(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(field, f"must be a finite number, got {value!r}")
    if integer and value != int(value):
        raise ParamError(field, f"must be a whole number, got {value!r}")
    if not lo <= value <= hi:  # exact for ints of any size
        raise ParamError(field, f"must be between {lo:g} and {hi:g}, got {short_repr(value)}")
    return int(value) if integer else float(value)


def _choice(field: str, value: Any, choices: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParamError(field, f"must be one of {', '.join(choices)}, got {short_repr(value)}")
    return str(value)


def _layers(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        if len(value) > 200:
            raise ParamError("layers", f"must be a few sizes like '8, 8', got {short_repr(value)}")
        value = [v for v in value.replace(" ", "").split(",") if v]
    if not isinstance(value, (list, tuple)):
        raise ParamError("layers", f"must be a list of hidden-layer sizes, got {short_repr(value)}")
    if len(value) > MAX_LAYERS:
        raise ParamError("layers", f"at most {MAX_LAYERS} hidden layers, got {len(value)}")
    return tuple(_number("layers", v, 1, MAX_UNITS, integer=True) for v in value)


def parse_config(raw: Any, base: PlaygroundConfig | None = None) -> PlaygroundConfig:
    """``base`` (default settings if None) updated by the fields of the JSON object ``raw``."""
    base = base or PlaygroundConfig()
    if not isinstance(raw, dict):
        raise ParamError("config", f"must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in fields(PlaygroundConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ParamError(unknown[0][:60], f"unknown setting; known: {', '.join(sorted(known))}")
    checks: dict[str, Any] = {
        "dataset": lambda v: _choice("dataset", v, DATASETS),
        "n_points": lambda v: _number("n_points", v, 10, MAX_POINTS, integer=True),
        "noise": lambda v: _number("noise", v, 0, 1),
        "test_fraction": lambda v: _number("test_fraction", v, 0.1, 0.9),
        "layers": _layers,
        "activation": lambda v: _choice("activation", v, list(ACTIVATIONS)),
        "init": lambda v: _choice("init", v, SCHEMES),
        "optimizer": lambda v: _choice("optimizer", v, OPTIMIZERS),
        "lr": lambda v: _positive("lr", v, 10.0),
        "batch_size": lambda v: _number("batch_size", v, 1, MAX_POINTS, integer=True),
        "l1": lambda v: _number("l1", v, 0, 1),
        "l2": lambda v: _number("l2", v, 0, 1),
        "dropout": lambda v: _number("dropout", v, 0, 0.9),
        "seed": lambda v: _number("seed", v, 0, 2**31 - 1, integer=True),
    }
    return replace(base, **{k: checks[k](v) for k, v in raw.items()})


def _positive(field: str, value: Any, hi: float) -> float:
    v = _number(field, value, 0, hi)
    if v <= 0:
        raise ParamError(field, f"must be greater than 0, got {v:g}")
    return v
