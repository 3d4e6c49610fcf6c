"""A sweep's specification: a TOML file naming the model, data, fixed ``vedere train`` settings,
the metric, the sampler, the pruner and the search space.

Example (``examples/sweep-lr.toml``)::

    model = "mlp"            # any --model of vedere train
    data = "sample"          # "sample" (embedded) or a path given to --data-dir
    metric = "val_accuracy"  # or "roc_auc" (--model logistic)
    sampler = "tpe"          # grid | random | tpe
    pruner = "none"          # none | median | successive-halving
    trials = 8
    seed = 0                 # the sampler's seed and every trial's --seed

    [train]                  # fixed flags of vedere train (without the dashes)
    epochs = 6
    hidden = "64"

    [search.lr]              # one table per searched flag
    type = "log-uniform"     # log-uniform | uniform | integer | choice
    low = 0.001
    high = 1.0

Every key is checked when the file is read; a bad one raises :class:`SpecError` with one line
naming the key and what is allowed. The ``[train]`` and ``[search]`` keys are *settings* of
:mod:`vedere.classify.settings` (``vedere train``'s flags without the dashes), checked by
their own type and range: a trial is made from settings (:meth:`Spec.settings`), never from
command-line text, so no value can become a flag, and its run directory is the one the
sweep gives it (``DIR/trials/NNNN``; ``out`` is not a setting).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..classify.run_config import from_settings
from ..classify.settings import SETTINGS, SettingError
from ..errors import VedereError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "successive-halving")
METRICS = {"val_accuracy": "accuracy", "roc_auc": "roc_auc"}
TYPES = ("log-uniform", "uniform", "integer", "choice")
#: settings a spec may not set under [train] or [search]: its top-level keys set them
RESERVED = {"seed", "model", "data_dir", "dataset"}
MAX_TRIALS = 10_000
MAX_SPEC_BYTES = 1 << 20


class SpecError(VedereError):
    """A sweep specification that cannot be used; the message names the key."""


@dataclass
class Param:
    """One searched flag: its distribution and bounds."""

    name: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    values: list[Any] = field(default_factory=list)

    def grid(self) -> list[Any]:
        """The values a grid sampler visits (choice values, or every integer in range)."""
        if self.type == "choice":
            return list(self.values)
        if self.type == "integer":
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))  # type: ignore[arg-type]
        raise SpecError(
            f"search.{self.name}: the grid sampler needs type 'choice' or 'integer', "
            f"not {self.type!r}"
        )

    def grid_size(self) -> int:
        """How many values :meth:`grid` visits, counted without building them."""
        if self.type == "choice":
            return len(self.values)
        if self.type == "integer":
            return len(range(int(self.low), int(self.high) + 1, self.step or 1))  # type: ignore[arg-type]
        self.grid()  # the error for a continuous range
        return 0

    def example(self) -> Any:
        """One value the search may take (to check the spec's settings together)."""
        if self.type == "choice":
            return self.values[0]
        return self.low

    def extremes(self) -> list[Any]:
        """Every value a choice offers, or both ends of a range: what is checked."""
        return list(self.values) if self.type == "choice" else [self.low, self.high]


@dataclass
class Spec:
    """A parsed, checked sweep specification."""

    model: str = "mlp"
    data: str = "sample"
    metric: str = "val_accuracy"
    sampler: str = "tpe"
    pruner: str = "none"
    trials: int = 8
    seed: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Param] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "metric": self.metric,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "trials": self.trials,
            "seed": self.seed,
            "train": dict(self.train),
            "search": {k: vars(p) for k, p in self.search.items()},
        }

    def settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """The settings of one trial (:mod:`vedere.classify.settings`): the model, seed and
        data, the fixed ``[train]`` settings, then the searched ``params``."""
        out: dict[str, Any] = {"model": self.model, "seed": self.seed}
        if self.data != "sample":
            out["data_dir"] = self.data
        return {**out, **self.train, **params}


def _number(where: str, v: Any, integer: bool = False) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise SpecError(f"{where} must be a finite number, got {v!r}")
    if integer and not isinstance(v, int):
        raise SpecError(f"{where} must be a whole number, got {v!r}")
    return v


def _param(name: str, d: Any) -> Param:
    where = f"search.{name}"
    if not isinstance(d, dict):
        raise SpecError(f"{where} must be a table with a 'type' ({', '.join(TYPES)})")
    allowed = {"type", "low", "high", "step", "values"}
    extra = sorted(set(d) - allowed)
    if extra:
        raise SpecError(f"{where}.{extra[0]} is not a key; allowed: {', '.join(sorted(allowed))}")
    kind = d.get("type")
    if kind not in TYPES:
        raise SpecError(f"{where}.type must be one of {', '.join(TYPES)}, got {kind!r}")
    if kind == "choice":
        values = d.get("values")
        if not isinstance(values, list) or not values or len(values) > 1000:
            raise SpecError(f"{where}.values must be a list of 1 to 1000 values")
        if any(isinstance(v, dict | list) for v in values):
            raise SpecError(f"{where}.values must hold numbers, strings or booleans")
        return Param(name, kind, values=list(values))
    if "low" not in d or "high" not in d:
        raise SpecError(f"{where} needs 'low' and 'high'")
    integer = kind == "integer"
    low = _number(f"{where}.low", d["low"], integer)
    high = _number(f"{where}.high", d["high"], integer)
    if not low < high:
        raise SpecError(f"{where}: low ({low}) must be below high ({high})")
    if kind == "log-uniform" and low <= 0:
        raise SpecError(f"{where}.low must be positive for a log-uniform range, got {low}")
    step = d.get("step")
    if step is not None:
        if not integer:
            raise SpecError(f"{where}.step is only for type 'integer'")
        step = int(_number(f"{where}.step", step, True))
        if step < 1:
            raise SpecError(f"{where}.step must be at least 1, got {step}")
    return Param(name, kind, low, high, step)


def parse(doc: dict[str, Any], where: str = "spec") -> Spec:
    """A :class:`Spec` from a parsed TOML document (every key checked)."""
    allowed = {"model", "data", "metric", "sampler", "pruner", "trials", "seed", "train", "search"}
    extra = sorted(set(doc) - allowed)
    if extra:
        raise SpecError(
            f"{where}: {extra[0]!r} is not a key; allowed: {', '.join(sorted(allowed))}"
        )
    spec = Spec()
    for key in ("model", "data", "metric", "sampler", "pruner"):
        if key in doc:
            if not isinstance(doc[key], str):
                raise SpecError(f"{key} must be a string, got {doc[key]!r}")
            setattr(spec, key, doc[key])
    if spec.sampler not in SAMPLERS:
        raise SpecError(f"sampler must be one of {', '.join(SAMPLERS)}, got {spec.sampler!r}")
    if spec.pruner not in PRUNERS:
        raise SpecError(f"pruner must be one of {', '.join(PRUNERS)}, got {spec.pruner!r}")
    if spec.metric not in METRICS:
        raise SpecError(f"metric must be one of {', '.join(METRICS)}, got {spec.metric!r}")
    if spec.metric == "roc_auc" and spec.model != "logistic":
        raise SpecError("metric 'roc_auc' needs model = \"logistic\" (a two-class model)")
    for key, lo, hi in (("trials", 1, MAX_TRIALS), ("seed", 0, 2**32 - 1)):
        if key in doc:
            v = doc[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise SpecError(f"{key} must be a whole number from {lo} to {hi}, got {v!r}")
            setattr(spec, key, v)
    train = doc.get("train", {})
    search = doc.get("search", {})
    if not isinstance(train, dict):
        raise SpecError("train must be a table of vedere train flags")
    if not isinstance(search, dict) or not search:
        raise SpecError("search must be a table with at least one searched flag")
    if len(search) > 32:
        raise SpecError("search: at most 32 searched flags")
    for section, keys in (("train", train), ("search", search)):
        for key in keys:
            norm = key.replace("-", "_")
            if norm in RESERVED:
                raise SpecError(
                    f"{section}.{key}: set by the sweep itself (use the top-level keys model, "
                    "data and seed)"
                )
            if norm not in SETTINGS:
                allowed = ", ".join(sorted(set(SETTINGS) - RESERVED))
                raise SpecError(
                    f"{section}.{key} is not a vedere train setting; allowed: {allowed}"
                )
    spec.train = {k.replace("-", "_"): v for k, v in train.items()}
    spec.search = {k.replace("-", "_"): _param(k, v) for k, v in search.items()}
    both = sorted(set(spec.train) & set(spec.search))
    if both:
        raise SpecError(f"{both[0]} is both fixed (train) and searched (search)")
    if spec.sampler == "grid":  # counted before any grid is built
        size = math.prod(p.grid_size() for p in spec.search.values())
        if size > MAX_TRIALS:
            raise SpecError(f"the grid has {size:,} points (at most {MAX_TRIALS:,})")
    _check_settings(spec)
    return spec


def load(path: str | os.PathLike[str]) -> Spec:
    """Read and check the TOML specification at ``path``."""
    path = Path(path)
    try:
        if not path.is_file():
            raise SpecError(f"{path}: not a file")
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES} bytes")
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise SpecError(f"{path}: nested too deeply") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    try:
        return parse(doc)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None


def _problem(key: str, e: SettingError) -> str:
    """``train.lr = -1: expected …`` (a value's problem) or ``train.arch: --arch …``."""
    return f"{key} = {e.problem}" if e.flag else f"{key}: {e.problem}"


def _check_settings(spec: Spec) -> None:
    """Each fixed value and each value the search can take (every choice, both ends of a
    range) by its setting's type and range, then one trial's settings together (a flag the
    model does not take, the estimator's own checks)."""
    for key, value in spec.train.items():
        try:
            SETTINGS[key](value)
        except SettingError as e:
            raise SpecError(_problem(f"train.{key}", e)) from None
    for key, p in spec.search.items():
        if SETTINGS[key].kind == "int" and p.type in ("uniform", "log-uniform"):
            raise SpecError(
                f"search.{key}: a whole-number setting needs type 'integer' or 'choice'"
            )
        for value in p.extremes():
            try:
                SETTINGS[key](value)
            except SettingError as e:
                raise SpecError(_problem(f"search.{key}", e)) from None
    example = {name: p.example() for name, p in spec.search.items()}
    try:
        from_settings(spec.settings(example), "runs/spec-check")
    except ValueError as e:
        raise SpecError(f"{e}") from None
