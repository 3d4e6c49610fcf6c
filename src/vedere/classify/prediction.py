"""Using a saved classifier on image files: :func:`load_image_classifier`, :func:`predict`
(what ``vedere predict`` calls) and :func:`top_classes` (the playground and batch jobs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataError
from .base import BaseClassifier
from .estimators import load_classifier


def model_path(model: str | os.PathLike[str]) -> Path:
    """A run directory or a model file → the model file."""
    p = Path(model)
    return p / "model.safetensors" if p.is_dir() else p


def load_image_classifier(model: str | os.PathLike[str]) -> tuple[Path, BaseClassifier]:
    """The model file of ``model`` (run directory or file) and its classifier, which must
    have been trained on images (DataError naming the file otherwise)."""
    path = model_path(model)
    est = load_classifier(path)
    if est.preprocess_.kind != "image":
        raise DataError(path, "this model was trained on feature vectors, not images")
    return path, est


PREDICT_BATCH = 256


def image_files(paths: list[str]) -> list[str]:
    """``paths`` with each directory replaced by the image files under it, recursively, in
    sorted order — the rule of ``vedere predict DIR --out`` (:func:`vedere.batch.expand_inputs`)
    too: links to folders are not entered and a file reached twice is listed once. A
    directory without images raises DataError naming it."""
    from ..data.images import is_image_name

    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    for p in paths:
        if not Path(p).is_dir():
            out.append(p)
            continue
        found = []
        for dirpath, dirnames, filenames in os.walk(p):  # does not enter folder links
            dirnames.sort()
            for name in sorted(filenames):
                f = os.path.join(dirpath, name)
                if not is_image_name(name) or not os.path.isfile(f):
                    continue
                st = os.stat(f)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    found.append(f)
        if not found:
            raise DataError(p, "a directory without image files")
        out += found
    return out


def predict(
    model: str | os.PathLike[str], images: list[str], top_k: int | None = None
) -> list[dict[str, Any]]:
    """Top-k (class, probability) pairs, highest first, for each image file (a directory
    stands for the images in it, see :func:`image_files`); decoded in batches of 256."""
    from ..data.images import decode

    _, est = load_image_classifier(model)
    h, w, c = est.preprocess_.shape
    files = image_files(images)
    out: list[dict[str, Any]] = []
    for i in range(0, len(files), PREDICT_BATCH):
        chunk = files[i : i + PREDICT_BATCH]
        batch = np.stack([decode(Path(f), f, (h, w), channels=1 if c == 1 else 3) for f in chunk])
        tops = top_classes(est, batch, top_k)
        out += [{"image": f, "top": top} for f, top in zip(chunk, tops, strict=True)]
    return out


def top_classes(
    est: BaseClassifier, images: np.ndarray, top_k: int | None = None
) -> list[list[tuple[str, float]]]:
    """For each image of ``images`` (N, H, W, C) uint8 at the model's size, its ``top_k``
    (all if None) (class, probability) pairs, most probable first (ties: class order)."""
    proba = est.predict_proba(images)
    k = len(est.classes_) if top_k is None else max(1, min(top_k, len(est.classes_)))
    out = []
    for p in proba:
        order = np.argsort(-p, kind="stable")[:k]
        out.append([(str(est.classes_[i]), float(p[i])) for i in order])
    return out
