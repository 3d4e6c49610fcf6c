"""A training run end to end: data → split → estimator → training → model, history, figures.

This is what ``vedere train`` calls. A run directory receives

- ``config.json``     the run's settings (enough to resume it)
- ``model.safetensors`` the trained classifier (weights + JSON metadata)
- ``history.json`` / ``history.csv``  per-epoch loss, accuracy, learning rate, seconds
- ``checkpoint.safetensors``  the full training state (for ``--resume``), while training;
  removed when the run ends unless ``keep_checkpoint``
- ``metrics.json``    validation accuracy, per-class precision/recall, confusion matrix
- ``curves.png``, ``confusion.png`` and, for linear models, ``templates.png``.

The directory itself (create, lock, overwrite, resume in place, finish) is
:mod:`vedere.classify.rundir`'s; the settings :mod:`.run_config`'s; the images
:mod:`.run_data`'s. A run that diverges keeps its history and curves and no model:
:func:`train` raises :class:`Diverged` naming the learning rate the user gave.

The names that lived here before the split (evaluation, prediction, the run's settings)
are re-exported.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import is_sample, load_split
from ..fileio import atomic_write_text
from ..text import isatty
from .base import BaseClassifier
from .estimators import ESTIMATORS
from .evaluation import evaluate, evaluate_arrays
from .history import History
from .prediction import (
    PREDICT_BATCH,
    image_files,
    load_image_classifier,
    model_path,
    predict,
    top_classes,
)
from .run_config import (
    MAX_HIDDEN,
    VAL_SPLIT_RULE,
    RunConfig,
    check_val_split,
    config_from_dict,
    load_config,
    val_count,
)
from .run_data import binarize, held_out, image_size, source_of, split
from .rundir import CURVES, EVALUATION, MODEL, RunDir, RunDirError
from .stops import Diverged, Interrupted

__all__ = [
    "MAX_HIDDEN",
    "PREDICT_BATCH",
    "VAL_SPLIT_RULE",
    "Diverged",
    "Interrupted",
    "RunConfig",
    "RunDirError",
    "RunResult",
    "binarize",
    "check_val_split",
    "config_from_dict",
    "evaluate",
    "evaluate_arrays",
    "held_out",
    "image_files",
    "load_config",
    "load_image_classifier",
    "model_path",
    "predict",
    "source_of",
    "top_classes",
    "train",
    "val_count",
]

LINEAR = ("perceptron", "logistic", "softmax", "svm")


@dataclass
class RunResult:
    run_dir: Path
    estimator: BaseClassifier
    report: dict[str, Any]
    n_train: int
    n_val: int
    used_sample: bool
    stopped: str  # History.stopped: "epochs", "early_stopping", "converged"
    message: str
    reason: str = ""  # History.stop_reason(): why training stopped, in words
    source: str = "sample"  # the data trained on: "sample" or the path of --data-dir


def train(
    cfg: RunConfig,
    resume: bool = False,
    progress: bool = True,
    *,
    overwrite: bool = False,
    keep_checkpoint: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run (or, with ``resume``, continue) the training run described by ``cfg`` in the run
    directory ``cfg.out``, locked while it trains (:mod:`vedere.classify.rundir`).

    A new run refuses a directory holding a run unless ``overwrite``; the checkpoint is
    removed when the run ends unless ``keep_checkpoint``. Raises :class:`RunDirError` (a
    ValueError) for a locked or occupied directory, :class:`Diverged` (``.user_lr``) when
    training diverged — then the run directory keeps the history and curves of the epochs
    that finished and no model — and :class:`Interrupted` (a KeyboardInterrupt) on Ctrl-C,
    with the checkpoint kept for ``resume``.

    ``callback(epoch, step)`` runs after every update (0-based epoch, steps done in it); an
    exception it raises stops training and propagates (a sweep's pruner does this)."""
    rd = RunDir(cfg.out)
    with rd.resume() if resume else rd.create(overwrite=overwrite):
        bars = progress and isatty(sys.stderr)  # no progress bars in logs
        source = source_of(cfg, bars)
        data = load_split(
            source, "train", image_size(cfg), verify=cfg.verify, progress=bars, labels=cfg.labels
        )
        tr, va = split(data, cfg)
        labels, classes = data.labels, list(data.classes)
        if cfg.model == "logistic":
            labels, classes = binarize(labels, classes, cfg.positive_class)
        params = {"seed": cfg.seed, "verbose": progress, **cfg.params}
        est = ESTIMATORS[cfg.model](**params)
        atomic_write_text(rd.config_path, json.dumps(asdict(cfg), indent=1))
        names = np.asarray(classes)
        x_train = np.asarray(data.images[tr])
        x_val = np.asarray(data.images[va])
        try:
            est.fit(
                x_train,
                names[labels[tr]],
                x_val if len(va) else None,  # --val-split 0: no validation
                names[labels[va]] if len(va) else None,
                checkpoint=rd.checkpoint_path,
                resume=resume,
                history_dir=rd.path,
                callback=callback,
            )
        except Diverged as e:
            raise _diverged(rd, cfg, e, keep_checkpoint) from None
        history = est.history_
        extra = {
            "image_classes": classes,
            "source": "sample" if is_sample(source) else str(source),
            "positive_class": cfg.positive_class if cfg.model == "logistic" else None,
            "labels": cfg.labels,
        }
        est.save(rd.model_path, extra={"run": extra})
        report: dict[str, Any] = {"classes": classes, "n": 0}
        if len(va):
            report = evaluate_arrays(est, x_val, names[labels[va]])
            atomic_write_text(rd / "metrics.json", json.dumps(report, indent=1))
        _figures(est, cfg, rd.path, report)
        rd.finish(keep_checkpoint)
    return RunResult(
        rd.path,
        est,
        report,
        len(tr),
        len(va),
        is_sample(source),
        history.stopped,
        history.message,
        history.stop_reason(),
        extra["source"],
    )


def _diverged(rd: RunDir, cfg: RunConfig, e: Diverged, keep_checkpoint: bool) -> Diverged:
    """Leave the run directory of a diverged run honest: history and curves of the epochs
    that finished, no model (nor its metrics and figures, also not a model from before a
    resume), no checkpoint unless kept; and the error to raise, naming the user's rate."""
    from ..viz import plot_history

    rd.remove(MODEL, *EVALUATION, CURVES)
    finished = len(e.history)
    if finished:
        plot_history(
            _columns(e.history), rd / CURVES, title=f"{cfg.model} — training curves (diverged)"
        )
    rd.finish(keep_checkpoint)
    lr = e.user_lr if e.user_lr is not None else math.nan
    curves = (
        f"; {CURVES} and history.json show the {finished} epoch{'s' if finished != 1 else ''} "
        "that finished"
        if finished
        else ""
    )
    return Diverged(
        f"{rd.path}: training diverged {e.where} ({e.reason}): the learning rate --lr {lr:g} "
        f"is probably too high, try --lr {lr / 10:g}. No model was saved{curves}",
        user_lr=e.user_lr,
        lr=e.lr,
        epoch=e.epoch,
        step=e.step,
        reason=e.reason,
        where=e.where,
        history=e.history,
    )


def _columns(h: History) -> dict[str, list[float]]:
    """The history's columns that :func:`vedere.viz.plot_history` draws (viz knows nothing
    of the classify History)."""
    return {c: h.column(c) for c in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")}


def _figures(est: BaseClassifier, cfg: RunConfig, run_dir: Path, report: dict[str, Any]) -> None:
    from ..viz import plot_confusion, plot_history, plot_templates

    h = est.history_
    if len(h):
        plot_history(
            _columns(h),
            run_dir / "curves.png",
            title=f"{cfg.model} — training curves",
            best_epoch=h.best_epoch,
        )
    if "confusion_matrix" in report:  # not with --val-split 0
        plot_confusion(
            np.asarray(report["confusion_matrix"]),
            report["classes"],
            run_dir / "confusion.png",
            title=f"{cfg.model} — validation confusion matrix",
        )
    if cfg.model in LINEAR and est.preprocess_.kind == "image":
        w = est.network_.parameters()[0].data
        names = [str(c) for c in est.classes_]
        if w.shape[0] == 1:
            # one output, positive for classes_[1] (sorted: "cat" < "not-cat"); the template
            # shown is the positive class's, so w's sign flips when classes_[1] is not it
            positive = cfg.positive_class if cfg.model == "logistic" else names[1]
            w = w if names[1] == positive else -w
            names = [positive]
        plot_templates(
            w,
            est.preprocess_.shape,
            names,
            run_dir / "templates.png",
            title=f"{cfg.model} — learned weight templates",
        )
