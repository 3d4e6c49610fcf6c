"""The settings of a training run, in one table: what each ``vedere train`` flag (and each key
of a sweep spec's ``[train]`` and ``[search]`` tables) sets, its type and its range.

A *setting* is named like its flag without the dashes (``batch_size`` for ``--batch-size``,
``hidden`` for ``--hidden``). It sets either a field of :class:`~.run_config.RunConfig`
(``model``, ``data_dir``, ``val_split``, ``seed`` …) or a constructor parameter of the
estimators (``lr``, ``hidden_sizes`` …; the estimators' explicit constructors, which stay
scikit-learn's, say which model takes which). Adding a training knob is one estimator
parameter and, when it needs a range, one row of :data:`RANGES`; the command line's options
(:mod:`vedere.cli.train`), the sweep's checks and the checks of a saved ``config.json``
are generated from here.

:func:`vedere.classify.run_config.from_settings` turns a mapping of settings into a checked
RunConfig; it is how the CLI and the sweep make runs (a sweep passes settings, never
command-line text). Every problem is a :class:`SettingError` naming the flag.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..data import standard
from ..data.images import MAX_IMAGE_SIDE
from ..nn.activations import ACTIVATIONS
from ..nn.init import SCHEMES
from ..nn.optim import OPTIMIZERS
from ..nn.schedules import SCHEDULES
from . import cnn_arch
from .cnn import FLIP_MODES, LOSS_REDUCTIONS, MAX_TTA_SHIFT, PAD_MODES, RECIPES, TTA_MODES
from .estimators import ESTIMATORS, MAX_HIDDEN
from .setting_kinds import (
    MAX_INT,
    MAX_LAYERS,
    MAX_TEXT,
    VAL_SPLIT_RULE,
    NotApplicable,
    Setting,
    SettingError,
    check_val_split,
)
from .train_config import MAX_EPOCHS, MAX_SEED

__all__ = [
    "MAX_HIDDEN",
    "MAX_INT",
    "MAX_LAYERS",
    "MAX_TEXT",
    "RANGES",
    "RUN_SETTINGS",
    "SETTINGS",
    "VAL_SPLIT_RULE",
    "NotApplicable",
    "Setting",
    "SettingError",
    "accepts",
    "check_val_split",
    "command_line",
    "estimator_params",
    "estimator_setting",
]


def _arch(value: str) -> None:
    cnn_arch.parse(value)  # a bad spec: one line naming --arch


# -- the table -----------------------------------------------------------------------------
#: the settings of the run itself (RunConfig fields), in the order ``vedere train --help``
#: lists them
RUN_SETTINGS: tuple[Setting, ...] = (
    Setting("model", "choice", choices=tuple(ESTIMATORS), run=True),
    Setting(
        "data_dir",
        "text",
        "CIFAR-10 or CIFAR-100 archive/folder, a folder of MNIST/Fashion-MNIST IDX files or "
        "SVHN .mat files, or an image-folder tree (or .tar.gz)",
        run=True,
    ),
    Setting(
        "dataset",
        "choice",
        "a named dataset instead of --data-dir",
        choices=("cifar10", *standard.NAMES, "sample"),
        run=True,
    ),
    Setting("download", "flag", "allow downloading --dataset NAME if it is not cached", run=True),
    Setting(
        "labels",
        "choice",
        "CIFAR-100: the 100 fine classes or the 20 coarse superclasses",
        choices=tuple(standard.LABELS),
        run=True,
    ),
    Setting(
        "val_split",
        "val_split",
        "validation images: a count (5000; 0 = none) or a fraction in (0, 1) (0.1) "
        "[default: 5000 from 20,000 images up, else 0.1]",
        run=True,
    ),
    Setting(
        "image_size",
        "int",
        "resize images to this square size",
        low=4,
        high=MAX_IMAGE_SIDE,
        run=True,
    ),
    Setting(
        "limit",
        "int",
        "train on a stratified subset of this many images",
        low=2,
        high=MAX_INT,
        run=True,
    ),
    Setting("positive_class", "text", "the positive class of --model logistic", run=True),
    Setting(
        "no_checksum",
        "flag",
        "do not check official CIFAR-10 files against their MD5",
        target="verify",
        run=True,
    ),
    Setting("seed", "int", "0 to 2^32 - 1", low=0, high=MAX_SEED, run=True),
    Setting(
        "recipe",
        "choice",
        "CNN: a named recipe (airbench94: Jordan's 94%-on-CIFAR-10 settings, "
        "vedere.classify.cnn.AIRBENCH94); the settings given override its own, and "
        "config.json lists every resolved one",
        choices=tuple(RECIPES),
        run=True,
    ),
    Setting(
        "tta_mode",
        "choice",
        "CNN test-time views: none, flip (the image and its mirror) or multicrop "
        "(airbench94's six: flips of the image and of its 1-pixel shifts both ways); sets "
        "--tta and --tta-shift",
        choices=tuple(TTA_MODES),
        run=True,
    ),
)
#: run settings that are not RunConfig fields: :func:`~.run_config.from_settings` turns
#: them into estimator parameters (tta_mode → tta, tta_shift)
EXPANDED = ("tta_mode",)

#: estimator parameters: help text and range (an estimator parameter not listed here is
#: still a setting, checked by the type of its default: see :func:`estimator_setting`)
RANGES: tuple[Setting, ...] = (
    Setting("hidden", "sizes", "hidden layer sizes", target="hidden_sizes"),
    Setting(
        "arch",
        "text",
        "CNN architecture: a preset (tiny, small, default, wide, airbench, resnet) or a spec "
        "like c32-p-c64-p-c128-g (see vedere.classify.cnn_arch)",
        metavar="NAME|SPEC",
        check=_arch,
    ),
    Setting("activation", "choice", choices=tuple(ACTIVATIONS)),
    Setting("init", "choice", choices=tuple(SCHEMES)),
    Setting("optimizer", "choice", choices=tuple(OPTIMIZERS)),
    Setting("lr", "float", "learning rate", low=0, open="lo"),
    Setting("momentum", "float", low=0, high=1, open="hi"),
    Setting("schedule", "choice", choices=tuple(SCHEDULES)),
    Setting("warmup", "int", "epochs of linear learning-rate warm-up", low=0, high=MAX_INT),
    Setting("batch_size", "int", "1 = stochastic, 0 = full batch", low=0, high=MAX_INT),
    Setting(
        "epochs",
        "number",
        f"at most {MAX_EPOCHS:,}; may be fractional (9.9: ⌈updates per epoch × 9.9⌉ updates)",
        low=1,
        high=MAX_EPOCHS,
    ),
    Setting("l1", "float", "L1 penalty λ", low=0),
    Setting("l2", "float", "L2 penalty λ", low=0),
    Setting("dropout", "float", low=0, high=1, open="hi"),
    Setting("label_smoothing", "float", low=0, high=1, open="hi"),
    Setting("margin", "float", "SVM: the hinge's margin Δ", low=0, open="lo"),
    Setting("clip_norm", "float", "clip the gradient norm to this (0 = off)", low=0),
    Setting(
        "early_stopping",
        "int",
        "stop after PATIENCE epochs without improvement (0 = off)",
        low=0,
        high=MAX_INT,
        metavar="PATIENCE",
    ),
    Setting("tol", "float", "stop when the validation loss changes by less than this", low=0),
    Setting("augment", "bool", "random flips and shifts while training"),
    Setting(
        "crop_padding",
        "int",
        "random shifts of up to this many pixels with --augment (0: flips only)",
        low=0,
        high=MAX_INT,
    ),
    Setting("cutout", "int", "CNN: zero a random square of this side (0 = off)", low=0, high=512),
    Setting("tta", "bool", "CNN: average the predictions of each image and its mirror"),
    Setting(
        "tta_shift",
        "int",
        "CNN, with --tta: also average over the image shifted this many pixels both ways (0 = off)",
        low=0,
        high=MAX_TTA_SHIFT,
    ),
    # airbench94's ingredients (CNN; vedere.classify.cnn)
    Setting("pad_mode", "choice", "CNN: the border of random shifts", choices=PAD_MODES),
    Setting(
        "flip",
        "choice",
        "CNN: random flips, alternating (airbench94's: each image mirrored every other epoch) "
        "or none",
        choices=FLIP_MODES,
    ),
    Setting("bn_eps", "float", "CNN: BatchNorm's ε", low=0, open="lo"),
    Setting(
        "bn_momentum",
        "float",
        "CNN: BatchNorm's running-statistics momentum (the new batch's weight, PyTorch's "
        "convention: airbench94's 0.6 is 0.4)",
        low=0,
        high=1,
    ),
    Setting("bn_scale", "bool", "CNN: train BatchNorm's γ (off: held at 1)"),
    Setting("dirac", "bool", "CNN: the first C_in filters of each 3×3 conv start as identity"),
    Setting(
        "weight_decay",
        "float",
        "CNN: absolute decay per update on every parameter (each group's as wd/its rate)",
        low=0,
    ),
    Setting(
        "bn_bias_lr_scale", "float", "CNN: BatchNorm biases' rate multiplier", low=0, open="lo"
    ),
    Setting(
        "stem_bias_epochs",
        "int",
        "CNN: epochs the whitening stem's bias trains (0 = all)",
        low=0,
        high=MAX_EPOCHS,
    ),
    Setting("loss_reduction", "choice", "CNN: mean or sum over the batch", choices=LOSS_REDUCTIONS),
    Setting("lookahead", "bool", "CNN: airbench94's lookahead (weights averaged every 5 updates)"),
    Setting("drop_last", "bool", "CNN: skip each epoch's last partial batch"),
)

#: estimator parameters that are not settings of a run: the run passes its own seed and
#: verbosity, and holds out validation images itself (``val_split``)
NOT_SETTINGS = ("seed", "verbose", "validation_split")


def estimator_params() -> dict[str, Any]:
    """Every constructor parameter of the estimators (but :data:`NOT_SETTINGS`) and its
    first default, in the order the estimators list them."""
    out: dict[str, Any] = {}
    for cls in ESTIMATORS.values():
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name != "self" and name not in NOT_SETTINGS:
                out.setdefault(name, p.default)
    return out


def estimator_setting(param: str, default: Any) -> Setting:
    """The setting of an estimator parameter without a row in :data:`RANGES`: checked by the
    type of its default (a whole number 0 … 10^9, a finite number >= 0, a bool, a text)."""
    name = param
    if isinstance(default, bool):
        return Setting(name, "bool")
    if isinstance(default, int):
        return Setting(name, "int", low=0, high=MAX_INT)
    if isinstance(default, float):
        return Setting(name, "float", low=0)
    return Setting(name, "text")


def _table() -> dict[str, Setting]:
    params = estimator_params()
    table = {s.name: s for s in RUN_SETTINGS}
    table.update({s.name: s for s in RANGES if s.param in params})
    listed = {s.param for s in RANGES}
    for param, default in params.items():
        if param not in listed:
            table[param] = estimator_setting(param, default)
    return table


#: every setting by name (run settings first, then the estimators' parameters)
SETTINGS: dict[str, Setting] = _table()


def accepts(model: str) -> set[str]:
    """The estimator parameters ``--model model`` takes."""
    return set(ESTIMATORS[model]().get_params()) - set(NOT_SETTINGS)


def command_line(values: Mapping[str, Any]) -> list[str]:
    """The ``vedere train`` arguments that make the run of the (checked) settings
    ``values``, for people to read and re-run: ``--flag=value`` (so that no value is
    ever read as a flag), ``--flag``/``--no-flag`` for switches."""
    args = []
    for k, v in values.items():
        s = SETTINGS[k]
        if v is None:
            continue
        if s.kind == "flag":
            args += [s.flag] if v else []
        elif s.kind == "bool":
            args.append(s.flag if v else "--no-" + s.flag[2:])
        elif s.kind == "sizes":
            args.append(f"{s.flag}={','.join(str(u) for u in v)}")
        else:
            args.append(f"{s.flag}={v!r}" if isinstance(v, float) else f"{s.flag}={v}")
    return args
