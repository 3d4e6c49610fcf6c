"""A training run's settings: :class:`RunConfig` (saved as ``config.json`` in the run
directory), the ``--val-split`` rule, and :func:`load_config` / :func:`config_from_dict`, which
read a saved one back with every field checked (the file may be hostile)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..data import standard
from ..data.images import check_image_size
from ..text import short_repr
from .cnn import RECIPES, recipe_params, tta_params
from .estimators import ESTIMATORS
from .rundir import RunDir, RunDirError
from .settings import (
    EXPANDED,
    MAX_HIDDEN,
    RUN_SETTINGS,
    SETTINGS,
    VAL_SPLIT_RULE,
    NotApplicable,
    SettingError,
    accepts,
    check_val_split,
)

__all__ = [
    "MAX_HIDDEN",
    "VAL_SPLIT_RULE",
    "RunConfig",
    "check_params",
    "check_val_split",
    "config_from_dict",
    "from_settings",
    "load_config",
    "val_count",
]


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
    recipe: str | None = None  # the named recipe (CNN) params were resolved from, if any

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
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"--recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.image_size is not None:
            check_image_size(self.image_size)
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"--limit must be at least 2, got {self.limit}")
        check_val_split(self.val_split)


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


def check_params(model: str, params: dict[str, Any]) -> None:
    """The estimator's own checks of ``params`` (ValueError): its constructor, and the
    training settings (:class:`~.train_config.TrainConfig`, e.g. a schedule's warm-up within
    its epochs)."""
    try:
        ESTIMATORS[model](**params).train_config()
    except TypeError as e:
        raise ValueError(str(e)) from None


def from_settings(values: Mapping[str, Any], out: str) -> RunConfig:
    """A checked :class:`~.run_config.RunConfig` writing to ``out`` from ``values``: setting
    name → value; None (or absent) leaves a setting at its default. Estimator settings
    the model does not take are refused, naming their flags."""
    unknown = sorted(k for k in values if k not in SETTINGS)
    if unknown:
        raise SettingError("", f"{', '.join(unknown)}: not a setting of vedere train")
    given = {k: SETTINGS[k](v) for k, v in values.items() if v is not None}
    model = given.pop("model", "mlp")
    taken = accepts(model)
    unused = [
        SETTINGS[k].flag for k in given if not SETTINGS[k].run and SETTINGS[k].param not in taken
    ]
    unused += [SETTINGS[k].flag for k in ("recipe", *EXPANDED) if k in given and model != "cnn"]
    if unused:
        raise NotApplicable(unused, model)
    mode = given.pop("tta_mode", None)
    if mode is not None:  # a named test-time mode: its tta and tta_shift
        implied = tta_params(mode)
        for k, v in implied.items():
            if k in given and given[k] != v and not (k == "tta_shift" and mode == "flip"):
                raise SettingError("--tta-mode", f"{mode} means --{k.replace('_', '-')} {v}")
        given = {**implied, **given} if mode == "flip" else {**given, **implied}
    run_fields: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for k, v in given.items():
        s = SETTINGS[k]
        if s.run:
            run_fields[s.param] = (not v) if k == "no_checksum" else v
        else:
            params[s.param] = v
    if run_fields.get("recipe"):  # every setting resolved: the recipe's, then those given
        full = ESTIMATORS[model](**{**recipe_params(run_fields["recipe"]), **params}).get_params()
        params = {k: v for k, v in full.items() if k in taken}
    cfg = RunConfig(out=str(out), model=model, **run_fields, params=params)
    check_params(model, params)
    return cfg


#: the RunConfig fields a config.json may hold as null
_NULLABLE = ("data_dir", "dataset", "image_size", "limit", "val_split", "recipe")


def config_from_dict(raw: Any, path: str | os.PathLike[str], out: str) -> RunConfig:
    """A RunConfig from the JSON object ``raw`` read from ``path`` (the file may be
    hostile): every field and every estimator parameter checked by its setting
    (:mod:`.settings`: type and range, bools are not numbers), every parameter one the model
    takes, and the training settings valid. RunDirError naming ``path`` otherwise."""

    def bad(problem: str) -> RunDirError:
        return RunDirError(path, f"not a valid run configuration ({problem})")

    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    names = [f.name for f in fields(RunConfig)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise bad(f"unknown fields {unknown[:5]}")
    if raw.get("val_split") == 0 and isinstance(raw["val_split"], float):
        raw = {**raw, "val_split": None}  # written before 0 meant "none": the default then
    values: dict[str, Any] = {}
    try:
        for s in RUN_SETTINGS:
            if s.name in EXPANDED:
                continue
            v = raw.get(s.param)
            if v is not None or s.param not in raw:
                values[s.param] = None if v is None else s(v)
            elif s.param not in _NULLABLE:
                raise SettingError(s.flag, "null: expected a value")
    except SettingError as e:
        raise bad(f"{_field(e)}") from None
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise bad(f"params must be an object, got {short_repr(params)}")
    model = values["model"] or "mlp"
    taken = accepts(model)
    by_param = {s.param: s for s in SETTINGS.values() if not s.run}
    checked: dict[str, Any] = {}
    for k, v in params.items():
        if k not in taken:
            raise bad(f"params.{k} is not a parameter of {ESTIMATORS[model].__name__}")
        try:
            checked[k] = by_param[k](v)
        except SettingError as e:
            raise bad(f"params.{k}: {e.problem}") from None
    given = {k: v for k, v in values.items() if v is not None}
    try:
        cfg = RunConfig(**{**given, "params": checked, "out": out})
        check_params(model, checked)
    except ValueError as e:
        raise bad(str(e)) from None
    return cfg


def _field(e: SettingError) -> str:
    """A setting's error in terms of config.json's field (``seed: 'x': expected …``)."""
    by_flag = {s.flag: s.param for s in RUN_SETTINGS}
    return f"{by_flag.get(e.flag, e.flag)}: {e.problem}" if e.flag else e.problem
