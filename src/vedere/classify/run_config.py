"""A training run's settings: :class:`RunConfig` (saved as ``config.json`` in the run
directory), the ``--val-split`` rule, and :func:`load_config` / :func:`config_from_dict`, which
read a saved one back with every field checked (the file may be hostile)."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Any

from ..data import standard
from ..data.images import check_image_size
from ..text import short_repr
from .estimators import ESTIMATORS, MAX_HIDDEN, check_hidden_sizes
from .rundir import RunDir, RunDirError
from .train_config import MAX_SEED


@dataclass
class RunConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run directory."""

    out: str
    model: str = "mlp"
    data_dir: str | None = None  # None: the embedded sample
    dataset: str | None = None  # cifar10, mnist, … (downloaded into the cache) or "sample"
    download: bool = False
    verify: bool = True
    image_size: int | None = None
    limit: int | None = None
    val_split: int | float | None = None  # see val_count; None: 5,000 for >= 20,000, else 10%
    positive_class: str = "cat"
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    labels: str = "fine"  # CIFAR-100's fine (100) or coarse (20) classes

    def __post_init__(self) -> None:
        if self.model not in ESTIMATORS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.data_dir and self.dataset:
            raise ValueError("give either --data-dir or --dataset, not both")
        if self.dataset not in (None, "cifar10", "sample", *standard.NAMES):
            names = ", ".join(("cifar10", *standard.NAMES, "sample"))
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {names}")
        if self.labels not in standard.LABELS:
            raise ValueError(f"--labels must be fine or coarse, got {self.labels!r}")
        if self.image_size is not None:
            check_image_size(self.image_size)
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"--limit must be at least 2, got {self.limit}")
        check_val_split(self.val_split)


VAL_SPLIT_RULE = "a count of images (a whole number; 0 = no validation) or a fraction in (0, 1)"


def check_val_split(spec: object) -> None:
    """Refuse a ``val_split`` that is neither None, an int >= 0 nor a float in (0, 1): a
    float such as 2.0 or 1.0 is ambiguous (2 images? 200 %?) and says so."""
    if spec is None:
        return
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return
    if isinstance(spec, float) and 0 < spec < 1:
        return
    hint = ""
    if isinstance(spec, float) and spec.is_integer() and spec >= 1:
        hint = f" (write {int(spec)} for {int(spec)} images, or a fraction like 0.1)"
    raise ValueError(f"--val-split {spec!r}: expected {VAL_SPLIT_RULE}{hint}")


def val_count(spec: int | float | None, n: int) -> int:
    """How many of ``n`` images to hold out for validation.

    ``None``: 5,000 if n >= 20,000, else round(0.1·n); an int k: k images (0: none); a float
    f in (0, 1): max(1, round(f·n)). At least one image must be left to train on."""
    check_val_split(spec)
    if spec is None:
        spec = 5000 if n >= 20000 else 0.1
    k = max(1, round(spec * n)) if isinstance(spec, float) else spec
    if k >= n:
        raise ValueError(
            f"--val-split {spec!r}: {k} validation images leave none of the {n} images to "
            f"train on; expected {VAL_SPLIT_RULE}"
        )
    return k


def load_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """The RunConfig saved in a run directory, validated, with ``out`` set to ``run_dir``
    itself: a run resumes where it is, whatever ``out`` its config.json recorded.
    RunDirError naming config.json for anything malformed."""
    rd = RunDir(run_dir)
    raw = rd.read_config()
    return config_from_dict(raw, rd.config_path, out=str(rd.path))


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "out": (str,),
    "model": (str,),
    "data_dir": (str, type(None)),
    "dataset": (str, type(None)),
    "download": (bool,),
    "verify": (bool,),
    "image_size": (int, type(None)),
    "limit": (int, type(None)),
    "val_split": (int, float, type(None)),
    "positive_class": (str,),
    "seed": (int,),
    "params": (dict,),
    "labels": (str,),
}


def config_from_dict(raw: Any, path: str | os.PathLike[str], out: str) -> RunConfig:
    """A RunConfig from the JSON object ``raw`` read from ``path``: every field of the
    right type and range (bools are not numbers), every estimator parameter known to the
    model and of the type of its default, and the training settings valid."""

    def bad(problem: str) -> RunDirError:
        return RunDirError(path, f"not a valid run configuration ({problem})")

    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    unknown = sorted(set(raw) - set(_CONFIG_TYPES))
    if unknown:
        raise bad(f"unknown fields {unknown[:5]}")
    for k, v in raw.items():
        types = _CONFIG_TYPES[k]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            raise bad(f"{k} must be {' or '.join(t.__name__ for t in types)}, got {short_repr(v)}")
    if raw.get("model", "mlp") not in ESTIMATORS:
        raise bad(f"unknown model {short_repr(raw.get('model'))}")
    for k, lo, hi in (("image_size", 4, 4096), ("limit", 2, 10**9), ("seed", 0, MAX_SEED)):
        v = raw.get(k)
        if v is not None and not lo <= v <= hi:
            raise bad(f"{k} = {v} is out of range [{lo}, {hi}]")
    vs = raw.get("val_split")
    if isinstance(vs, float) and vs == 0:  # written before 0 meant "none": the default then
        raw = {**raw, "val_split": None}
    elif isinstance(vs, int) and not isinstance(vs, bool) and vs > 10**9:
        raise bad(f"val_split = {vs} is out of range [0, {10**9}]")
    for k in ("data_dir", "positive_class"):
        if isinstance(raw.get(k), str) and (len(raw[k]) > 4096 or "\0" in raw[k]):
            raise bad(f"{k} is not a usable string")
    params = raw.get("params", {})
    cls = ESTIMATORS[raw.get("model", "mlp")]
    defaults = {
        n: p.default
        for n, p in inspect.signature(cls.__init__).parameters.items()
        if n not in ("self", "seed", "verbose")
    }
    for k, v in params.items():
        if k not in defaults:
            raise bad(f"params.{k} is not a parameter of {cls.__name__}")
        d = defaults[k]
        if isinstance(d, bool):
            ok = isinstance(v, bool)
        elif isinstance(d, int):
            ok = isinstance(v, int) and not isinstance(v, bool) and abs(v) <= 10**9
        elif isinstance(d, float):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif isinstance(d, str):
            ok = isinstance(v, str) and len(v) <= 100
        elif isinstance(d, tuple):
            ok = (
                isinstance(v, list)
                and 0 < len(v) <= 16
                and all(
                    isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= MAX_HIDDEN
                    for u in v
                )
            )
            if ok:
                params = {**params, k: tuple(v)}
                try:  # the smallest network these widths make must fit the cap
                    check_hidden_sizes(v, where=f"params.{k}")
                except ValueError as e:
                    raise bad(str(e)) from None
        else:
            ok = v is None or isinstance(v, (int, float, str))
        if not ok:
            raise bad(f"params.{k} = {short_repr(v)} is not like its default {d!r}")
    try:
        cfg = RunConfig(**{**raw, "params": params, "out": out})
        est = cls(**params)
        est._train_config()  # the training settings' own checks
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    return cfg
