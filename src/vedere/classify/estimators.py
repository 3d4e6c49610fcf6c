"""The course's classifiers, each a scikit-learn-compatible estimator on the engine.

==================  ========================================  =================================
estimator           model                                     loss
==================  ========================================  =================================
Perceptron          step(W·x + b) — Rosenblatt                perceptron criterion (SGD, lr 1)
LogisticRegression  σ(w·x + b): P(cat | x) (one-vs-rest >2)   binary cross-entropy
SoftmaxClassifier   softmax(W·x + b)                          cross-entropy (+ label smoothing)
LinearSVM           W·x + b                                   multiclass hinge
MLPClassifier       Linear → g → … → Linear, softmax          cross-entropy, dropout, L1/L2
CNNClassifier       conv → BN → g → pool … → Linear, softmax  cross-entropy (see classify.cnn)
==================  ========================================  =================================
"""

from __future__ import annotations

import itertools
import math
import os
import re
from typing import Any

import numpy as np

from .. import nn
from ..nn.io import ModelFileError, load_with_extra
from ..nn.losses import Loss
from .base import BaseClassifier, Preprocess
from .cnn import CNNClassifier


class Perceptron(BaseClassifier):
    """Rosenblatt's perceptron: ŷ = step(w·x + b), trained one sample at a time by
    w ← w + y·x on mistakes (SGD with lr 1 on the perceptron criterion), starting at zero.
    Two classes give one output; more give one output per class (the arg-max wins).
    ``predict_proba`` is the softmax of the scores: a ranking, not calibrated probabilities."""

    def __init__(
        self,
        epochs: int = 5,
        batch_size: int = 1,
        lr: float = 1.0,
        optimizer: str = "sgd",
        momentum: float = 0.0,
        schedule: str = "constant",
        warmup: int = 0,
        l1: float = 0.0,
        l2: float = 0.0,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return nn.Sequential(
            nn.Linear(n_in, 1 if n_classes == 2 else n_classes, init="zeros", rng=rng)
        )

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.PerceptronCriterion()

    def _target(self, n_classes: int) -> Any:
        if n_classes == 2:
            return lambda yb: yb.astype(np.float32)[:, None]
        return None

    def _proba(self, out: np.ndarray) -> np.ndarray:
        if out.shape[1] == 1:
            p = nn.functional.sigmoid(out[:, 0].astype(np.float64))
            return np.stack([1 - p, p], axis=1)
        return super()._proba(out)


class LogisticRegression(BaseClassifier):
    """Logistic regression: P(y = 1 | x) = σ(w·x + b), trained on binary cross-entropy —
    the course's cat-vs-not-cat. With more than two classes: one sigmoid per class
    (one-vs-rest), probabilities normalised to sum to 1."""

    def __init__(
        self,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 0.01,
        optimizer: str = "momentum",
        momentum: float = 0.9,
        schedule: str = "constant",
        warmup: int = 0,
        l1: float = 0.0,
        l2: float = 0.0,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return nn.Sequential(
            nn.Linear(n_in, 1 if n_classes == 2 else n_classes, init="zeros", rng=rng)
        )

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.BCEWithLogits()

    def _target(self, n_classes: int) -> Any:
        if n_classes == 2:
            return lambda yb: yb.astype(np.float32)[:, None]
        eye = np.eye(n_classes, dtype=np.float32)
        return lambda yb: eye[yb]

    def _proba(self, out: np.ndarray) -> np.ndarray:
        p = nn.functional.sigmoid(out.astype(np.float64))
        if out.shape[1] == 1:
            return np.hstack([1 - p, p])
        total = p.sum(axis=1, keepdims=True)
        return p / np.where(total > 0, total, 1.0)


class SoftmaxClassifier(BaseClassifier):
    """Multinomial logistic regression: P(y = k | x) = softmax(W·x + b)_k, trained on
    cross-entropy (optionally with label smoothing)."""

    def __init__(
        self,
        epochs: int = 15,
        batch_size: int = 256,
        lr: float = 0.003,
        optimizer: str = "momentum",
        momentum: float = 0.9,
        schedule: str = "cosine",
        warmup: int = 0,
        l1: float = 0.0,
        l2: float = 0.0,
        label_smoothing: float = 0.0,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        augment: bool = False,
        crop_padding: int = 4,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, n_classes, init="zeros", rng=rng))

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.SoftmaxCrossEntropy(self.label_smoothing)


class LinearSVM(BaseClassifier):
    """Linear multiclass SVM: scores W·x + b trained on the hinge loss
    Σ_{j≠y} max(0, s_j - s_y + Δ) with an L2 penalty. ``predict_proba`` is the softmax of
    the scores (a ranking, not calibrated probabilities)."""

    def __init__(
        self,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 0.001,
        optimizer: str = "momentum",
        momentum: float = 0.9,
        schedule: str = "cosine",
        warmup: int = 0,
        margin: float = 1.0,
        l1: float = 0.0,
        l2: float = 1e-3,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        augment: bool = False,
        crop_padding: int = 4,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, n_classes, init="zeros", rng=rng))

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.MulticlassHinge(self.margin)


#: the most units in one hidden layer of an MLP
MAX_HIDDEN = 1 << 16
#: the most weights and biases an MLP may have: 2**26 = 67,108,864 (256 MiB as float32; about
#: 1 GiB with their gradients and the optimiser's moments)
MAX_MLP_PARAMETERS = 1 << 26


def mlp_parameters(sizes: list[int] | tuple[int, ...]) -> int:
    """Weights and biases of the fully connected layers ``sizes[0] → sizes[1] → …``:
    Σ (sizes[i] + 1) · sizes[i+1]."""
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def check_hidden_sizes(
    hidden: Any, n_in: int = 1, n_classes: int = 2, where: str = "hidden_sizes"
) -> tuple[int, ...]:
    """``hidden`` as a tuple of layer widths, each 1 … MAX_HIDDEN, with the whole network
    (``n_in`` inputs, ``n_classes`` outputs: the smallest possible by default) at most
    MAX_MLP_PARAMETERS; a ValueError naming ``where`` before anything is allocated."""
    sizes = tuple(hidden)
    if not sizes or len(sizes) > 16:
        raise ValueError(f"{where}: 1 to 16 hidden layers, got {len(sizes)}")
    for h in sizes:
        if isinstance(h, bool) or not isinstance(h, int | np.integer) or not 1 <= h <= MAX_HIDDEN:
            raise ValueError(f"{where}: layer sizes must be 1 to {MAX_HIDDEN:,}, got {h!r}")
    n = mlp_parameters([n_in, *(int(h) for h in sizes), n_classes])
    if n > MAX_MLP_PARAMETERS:
        shape = ",".join(str(h) for h in sizes)
        on = "" if n_in == 1 else f" on {n_in:,} inputs"
        raise ValueError(
            f"{where}: {shape} makes an MLP of {n:,} parameters{on}; "
            f"at most {MAX_MLP_PARAMETERS:,} (2^26) are allowed"
        )
    return tuple(int(h) for h in sizes)


class MLPClassifier(BaseClassifier):
    """A multi-layer perceptron: Linear → activation (→ dropout) … → Linear → softmax,
    trained on cross-entropy with any optimiser, schedule, L1/L2, dropout, label smoothing
    and augmentation. The defaults are the configuration `vedere train --model mlp` uses."""

    def __init__(
        self,
        hidden_sizes: tuple[int, ...] = (1024, 512),
        activation: str = "relu",
        init: str = "he",
        dropout: float = 0.1,
        epochs: int = 25,
        batch_size: int = 128,
        lr: float = 0.02,
        optimizer: str = "nesterov",
        momentum: float = 0.9,
        schedule: str = "cosine",
        warmup: int = 1,
        l1: float = 0.0,
        l2: float = 1e-4,
        label_smoothing: float = 0.1,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        augment: bool = True,
        crop_padding: int = 0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        hidden = check_hidden_sizes(self.hidden_sizes, n_in, n_classes)  # before allocating
        sizes = [n_in, *hidden, n_classes]
        return nn.mlp(
            sizes, activation=self.activation, init=self.init, dropout=self.dropout, rng=rng
        )

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.SoftmaxCrossEntropy(self.label_smoothing)


ESTIMATORS: dict[str, type[BaseClassifier]] = {
    "perceptron": Perceptron,
    "logistic": LogisticRegression,
    "softmax": SoftmaxClassifier,
    "svm": LinearSVM,
    "mlp": MLPClassifier,
    "cnn": CNNClassifier,
}


#: cap on the characters of one class name, and on the classes_dtype string
MAX_CLASS_NAME = 1024
_CLASSES_DTYPE = re.compile(r"[<>|=]?(U[0-9]{1,4}|[iu][1248]|f[48]|b1)")


def _classes(path: str | os.PathLike[str], names: Any, dtype: Any) -> np.ndarray:
    """``classes_`` from the file's list and dtype string, both checked first."""
    if not isinstance(dtype, str) or not _CLASSES_DTYPE.fullmatch(dtype):
        raise ModelFileError(
            path,
            f"invalid classifier metadata (classes_dtype {str(dtype)[:20]!r} is not a "
            f"string, integer, float or bool dtype such as '<U{MAX_CLASS_NAME}' or '<i8')",
        )
    dt = np.dtype(dtype)
    if dt.kind == "U" and dt.itemsize // 4 > MAX_CLASS_NAME:
        raise ModelFileError(
            path,
            f"invalid classifier metadata (class names of {dt.itemsize // 4:,} characters; "
            f"at most {MAX_CLASS_NAME})",
        )
    if not isinstance(names, list) or not all(type(c) in (str, int, float, bool) for c in names):
        raise ModelFileError(path, "invalid classifier metadata (classes must be a list of labels)")
    if dt.kind == "U" and any(len(str(c)) > dt.itemsize // 4 for c in names):
        raise ModelFileError(
            path,
            f"invalid classifier metadata (a class name is longer than its dtype {dtype} holds)",
        )
    try:
        classes = np.asarray(names, dtype=dt)
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(path, f"invalid classifier metadata (classes: {e})") from None
    if len(classes) < 2 or len(np.unique(classes)) != len(classes):
        raise ModelFileError(
            path, "invalid classifier metadata (classes must be at least 2 distinct labels)"
        )
    return classes


def load_classifier(path: str | os.PathLike[str]) -> BaseClassifier:
    """A fitted classifier saved by ``save`` (network, classes, preprocessing, parameters).

    A model file without classifier metadata, or whose metadata does not match its
    network (class names, one per output; an input shape the network accepts), raises
    :class:`~vedere.nn.tensor_file.ModelFileError` naming the file.
    """
    network, extra = load_with_extra(path)
    name = extra.get("estimator")
    by_name = {cls.__name__: cls for cls in ESTIMATORS.values()}
    if not isinstance(name, str) or name not in by_name:
        raise ModelFileError(path, "not a vedere classifier (no estimator metadata)")
    params, run = extra.get("params", {}), extra.get("run") or {}
    if not isinstance(params, dict) or not isinstance(run, dict):
        raise ModelFileError(path, "invalid classifier metadata (params and run must be objects)")
    try:
        est = by_name[name](**params)
        pre = Preprocess.from_dict(extra.get("preprocess"))
    except (TypeError, ValueError) as e:
        raise ModelFileError(path, f"invalid classifier metadata ({e})") from None
    classes = _classes(path, extra.get("classes"), extra.get("classes_dtype", "<U0"))
    if isinstance(est, CNNClassifier):  # its architecture must be the one its ``arch`` builds
        pre = est._check_loaded(path, network, pre, len(classes))
    est.classes_ = classes
    est.preprocess_ = pre
    est.n_features_in_ = math.prod(pre.shape)
    est.network_ = network
    est.run_meta_ = run
    # one sample of the declared input through the network: it must fit and give one score
    # per class (or one score for two classes)
    dummy = np.zeros((1, *pre.shape), np.uint8 if pre.kind == "image" else np.float32)
    try:
        out = est._scores(dummy)
    except ValueError as e:
        raise ModelFileError(
            path, f"the network does not accept the {pre.shape} input it declares ({e})"
        ) from None
    n_out = out.shape[1] if out.ndim == 2 else -1
    if not (n_out == len(classes) or (n_out == 1 and len(classes) == 2)):
        raise ModelFileError(
            path,
            f"invalid classifier metadata ({len(classes)} class names for a network with "
            f"{n_out} outputs)",
        )
    return est
