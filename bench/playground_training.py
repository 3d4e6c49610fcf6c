"""What the two scripts that train the playground's shipped models share: CIFAR-10's training
images minus the embedded sample (so the sample's test images stay unseen by the shipped
model), a stratified 5,000-image hold-out, and the fit → measure → save → report steps.

Imported by ``bench/train_playground_model.py`` (the MLP) and ``bench/train_playground_cnn.py``
(the CNN), run as ``python bench/<script>.py`` (the script's folder is then on sys.path).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from vedere.classify import metrics
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"
MODELS = REPO / "src" / "vedere" / "web" / "models"


def _digests(images: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(im.tobytes()).digest() for im in images]


def unseen(data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``data``'s training images that are not in the embedded sample, their class names, and
    the training / 5,000 held-out indices into them (stratified, seed 0)."""
    full = load_split(data, "train")
    sample = {d for s in ("train", "test") for d in _digests(load_split(None, s).images)}
    keep = np.array([d not in sample for d in _digests(full.images)])
    print(f"{len(full)} images, {int((~keep).sum())} of them in the embedded sample: left out")
    images, labels = full.images[keep], full.labels[keep]
    tr, va = stratified_split(labels, 5000, seed=0)
    return images, np.asarray(full.classes)[labels], tr, va


def held_out_accuracy(est: Any, images: np.ndarray, names: np.ndarray, va: np.ndarray) -> float:
    return float(metrics.accuracy(names[va], est.predict(images[va])))


def save_measured(est: Any, images: np.ndarray, names: np.ndarray, va: np.ndarray,
                  out: str | Path, precision: str) -> Path:  # fmt: skip
    """Measure ``est`` on the held-out images ``va``, store that accuracy in the file, save."""
    acc = held_out_accuracy(est, images, names, va)
    extra = {
        "trained_on": "CIFAR-10 training images minus the embedded sample",
        "held_out_accuracy": round(acc, 4),
    }
    path = est.save(out, extra=extra, precision=precision)
    print(
        f"held-out accuracy {acc:.2%} on 5,000 images; "
        f"{path.stat().st_size / 1e3:,.0f} KB written to {path}"
    )
    return path


def train_unseen(est: Any, data: str, out: str | Path, precision: str = "float32") -> Path:
    """Fit ``est`` on ``data``'s training images that are not in the embedded sample (5,000 of
    them held out, stratified, seed 0), print and store the held-out accuracy, save to ``out``
    (``precision``: see :mod:`vedere.nn.precision`)."""
    images, names, tr, va = unseen(data)
    t0 = time.perf_counter()
    est.fit(images[tr], names[tr])
    print(f"trained in {time.perf_counter() - t0:.0f} s")
    return save_measured(est, images, names, va, out, precision)
