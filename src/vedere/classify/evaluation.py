"""Measuring a classifier: :func:`evaluate_arrays` (accuracy, per-class precision and recall,
confusion matrix, ROC-AUC for two classes) and :func:`evaluate`, what ``vedere evaluate``
calls on a saved model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import standard
from ..data.dataset import load_split
from ..data.errors import DataError
from ..escape import printable
from . import metrics
from .base import BaseClassifier
from .cnn import CNNClassifier
from .prediction import load_image_classifier
from .run_data import binarize, held_out


def evaluate_arrays(est: BaseClassifier, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall, confusion matrix (and ROC-AUC for binary models)."""
    classes = [str(c) for c in est.classes_]
    lookup = {c: i for i, c in enumerate(classes)}
    y_idx = np.array([lookup[str(v)] for v in y], dtype=np.int64)
    proba = est.predict_proba(x)
    rep = metrics.report(y_idx, proba.argmax(axis=1), classes)
    if len(classes) == 2 and len(np.unique(y_idx)) == 2:
        rep["roc_auc"] = metrics.roc_auc(y_idx == 1, proba[:, 1])
    return rep


def evaluate(
    model: str | os.PathLike[str],
    source: str | None,
    split: str = "test",
    verify: bool = True,
    progress: bool = True,
    tta_shift: int | None = None,
    labels: str | None = None,
) -> dict[str, Any]:
    """Evaluate a saved classifier on ``split`` of ``source`` (a data directory or archive);
    ``labels`` (CIFAR-100: fine or coarse) defaults to the label set the model was trained on.

    ``split="val"`` with no ``source`` and a run directory as ``model``: the images that run
    held out for validation (see :func:`held_out`). ``tta_shift`` (CNN models only): predict
    with flip averaging and this test-time translation instead of the model's own setting."""
    path, est = load_image_classifier(model)
    if tta_shift is not None:
        if not isinstance(est, CNNClassifier):
            raise ValueError(
                f"--tta-shift applies to CNN models only; {path} is a {type(est).__name__}"
            )
        est.set_params(tta=True, tta_shift=int(tta_shift))
    pre = est.preprocess_
    h, w, c = pre.shape
    run = getattr(est, "run_meta_", None) or {}
    if labels is None:
        labels = run.get("labels") if run.get("labels") in standard.LABELS else "fine"
    if split == "val" and source is None and Path(model).is_dir():
        data, name = held_out(model, (h, w), verify=verify, progress=progress)
    else:
        data = load_split(source, split, (h, w), verify=verify, progress=progress, labels=labels)
        name = str(source or "sample")
    if data.image_shape != pre.shape:
        raise DataError(
            path,
            f"model expects {h}x{w}x{c} images, the data has "
            f"{'x'.join(map(str, data.image_shape))}",
        )
    labels = data.labels
    names = list(data.classes)
    positive = run.get("positive_class")
    if positive:
        labels, names = binarize(labels, names, positive)
    known = {str(c) for c in est.classes_}
    unknown = sorted({str(c) for c in np.asarray(names)[np.unique(labels)]} - known)
    if unknown:

        def listed(items: list[str]) -> str:
            shown = ", ".join(printable(c) for c in items[:20])
            return shown + (f" and {len(items) - 20} more" if len(items) > 20 else "")

        raise DataError(
            path,
            f"the data ({source or 'the embedded CIFAR-10 sample'}) has classes the model "
            f"does not know: {listed(unknown)} (it knows {listed(sorted(known))})",
        )
    rep = evaluate_arrays(est, np.asarray(data.images), np.asarray(names)[labels])
    rep.update(model=str(path), split=split, source=name)
    return rep
