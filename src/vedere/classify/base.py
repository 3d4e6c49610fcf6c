"""What every vedere classifier shares: scikit-learn's estimator contract on the engine.

The constructor only stores parameters; ``fit`` learns attributes ending in ``_``
(``classes_``, ``n_features_in_``, ``network_``, ``history_``, ``preprocess_``);
``predict_proba`` rows sum to 1; ``get_params`` / ``set_params`` work, so the estimators drop
into scikit-learn pipelines and grid searches (scikit-learn itself is not needed to use them).

``X`` is either a 2-D array of features (N, D), standardised per feature with statistics
fitted on the training data, or a batch of images (N, H, W, C) ``uint8``, normalised per
channel (and, with ``augment=True``, flipped and shifted while training).
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..data.split import stratified_split
from ..data.transforms import Normalizer, augment
from ..errors import not_fitted, warn_data_conversion
from ..nn.losses import Loss
from .history import History
from .train_config import TrainConfig
from .trainer import Trainer

#: cap on the values in one input sample (a 2048×2048×3 image has 12.6 million)
MAX_INPUT_SIZE = 1 << 24
_FLOAT32_MAX = float(np.finfo(np.float32).max)

TRAIN_PARAMS = tuple(f for f in TrainConfig.__dataclass_fields__ if f != "eval_batch_size")


class Standardizer:
    """Per-feature standardisation x' = (x - μ) / σ (σ = 1 where a feature is constant)."""

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean, self.std = mean, std

    def fit(self, x: np.ndarray) -> Standardizer:
        """Learn each feature's mean and standard deviation from ``x`` (N, D); a constant feature
        gets std 1."""
        self.mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = x.std(axis=0, dtype=np.float64)
        self.std = np.where(std > 1e-12, std, 1.0).astype(np.float32)
        return self

    def __call__(self, x: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        out = np.asarray(x, dtype=dtype) - self.mean
        out /= self.std
        return out


class Preprocess:
    """Raw X → float32 network input: images (normaliser + optional augmentation) or vectors."""

    def __init__(
        self,
        kind: str,
        shape: tuple[int, ...],
        scaler: Normalizer | Standardizer,
        do_augment: bool = False,
        pad: int = 4,
    ) -> None:
        self.kind, self.shape, self.scaler = kind, tuple(shape), scaler
        self.do_augment, self.pad = do_augment, pad

    def __call__(self, raw: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        raw = np.asarray(raw)
        if self.kind == "image" and self.do_augment and rng is not None:
            raw = augment(raw, rng, pad=self.pad)  # training only (rng given)
        return self.scaler(raw)

    def to_dict(self) -> dict[str, Any]:
        """The preprocessing (input kind, shape, normalisation) as JSON-ready values for the model
        file."""
        d = {"kind": self.kind, "shape": list(self.shape)}
        if self.kind == "image":
            d.update(self.scaler.to_dict())  # type: ignore[union-attr]
        else:
            d["mean"] = self.scaler.mean.tolist()  # type: ignore[union-attr]
            d["std"] = self.scaler.std.tolist()  # type: ignore[union-attr]
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Preprocess:
        """Rebuild from :meth:`to_dict`'s output, which may come from a hostile file: every
        field is checked (ValueError saying which) before any array is made."""
        if not isinstance(d, dict):
            raise ValueError("preprocess must be an object")
        kind = d.get("kind")
        if kind not in ("image", "vector"):
            raise ValueError(f"unknown input kind {str(kind)[:40]!r}")
        shape = d.get("shape")
        rank = 3 if kind == "image" else 1
        if (
            not isinstance(shape, list)
            or len(shape) != rank
            or not all(type(v) is int and 1 <= v <= MAX_INPUT_SIZE for v in shape)
            or math.prod(shape) > MAX_INPUT_SIZE
        ):
            what = "[height, width, channels]" if kind == "image" else "[features]"
            raise ValueError(
                f"preprocess shape must be {what} of positive integers "
                f"(at most {MAX_INPUT_SIZE:,} values in all), got {str(shape)[:80]}"
            )
        n = shape[-1]  # per channel (images) or per feature (vectors)
        stats = {}
        for key in ("mean", "std"):
            v = d.get(key)
            if (
                not isinstance(v, list)
                or len(v) != n
                or not all(type(x) in (int, float) and math.isfinite(x) for x in v)
            ):
                raise ValueError(f"preprocess {key} must be {n} finite numbers")
            if max(map(abs, v)) > _FLOAT32_MAX:
                raise ValueError(f"preprocess {key} must be finite in float32")
            stats[key] = np.asarray(v, np.float32)
        if not (stats["std"] > 0).all():
            raise ValueError("preprocess std must be positive")
        if kind == "image":
            return cls(kind, tuple(shape), Normalizer(stats["mean"], stats["std"]))
        return cls(kind, tuple(shape), Standardizer(stats["mean"], stats["std"]))


def check_X(X: Any, name: str = "X") -> np.ndarray:
    """A 2-D numeric array or a 4-D uint8 image batch, finite, with at least one sample."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array")
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype == object or X.dtype.kind in "USV":
        try:
            X = X.astype(np.float64)
        except ValueError:
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}") from None
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead: {name} has shape {X.shape}. Reshape your "
            "data with X.reshape(-1, 1) (one feature) or X.reshape(1, -1) (one sample)"
        )
    if X.ndim not in (2, 4):
        raise ValueError(
            f"{name} must be (N, D) features or (N, H, W, C) images, got shape {X.shape}"
        )
    if X.ndim == 4 and X.dtype != np.uint8:
        raise ValueError(f"images in {name} must be uint8 (N, H, W, C), got {X.dtype}")
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if X.ndim == 2 and X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return X


def _label_vector(y: Any, n: int) -> np.ndarray:
    """``y`` as one label per sample (N,) for ``n`` samples, as scikit-learn takes it: a
    column (N, 1) is raveled with a DataConversionWarning; any other shape, or a length
    other than ``n``, is a ValueError (an (N, 1) column would broadcast to N × N)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warn_data_conversion(
            "A column-vector y was passed when a 1d array was expected; it was raveled"
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {n}, y has {len(y)}"
        )
    return y


def _class_indices(y: Any, n: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """(classes, index of each label in classes) of the targets ``y`` of ``n`` samples,
    checked as scikit-learn checks them (1-D, finite, discrete, at least two classes)."""
    if y is None:
        raise ValueError(f"{who} requires y to be passed, but the target y is None")
    y = _label_vector(y, n)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("Input y contains NaN or infinity.")
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise ValueError("Unknown label type: continuous targets; a classifier needs class labels")
    classes, y_idx = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{who} needs samples of at least 2 classes; got 1 class")
    return classes, y_idx


def _indices_of(y_val: Any, classes: np.ndarray) -> np.ndarray:
    """The index in ``classes`` of each validation label (a label not in it: ValueError)."""
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    try:
        return np.array([lookup[v] for v in np.asarray(y_val).tolist()], dtype=np.int64)
    except KeyError as e:
        raise ValueError(f"y_val holds a class not seen in y: {e.args[0]!r}") from None


class BaseClassifier:
    """Shared fit / predict / predict_proba / score / save of the course's classifiers."""

    _estimator_type = "classifier"

    # -- scikit-learn's parameter protocol ------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def _store(self, arguments: dict[str, Any]) -> None:
        """Keep each constructor argument as an attribute of the same name, unchanged
        (scikit-learn's rule: the constructor only stores its parameters)."""
        for name in self._param_names():
            setattr(self, name, arguments[name])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their values (scikit-learn's estimator API)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseClassifier:
        """Set constructor parameters by name; ValueError naming an unknown one (scikit-learn's
        API)."""
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(
                    f"Invalid parameter {k!r} for estimator {type(self).__name__}; valid: {valid}"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if sig.parameters[k].default is inspect.Parameter.empty
            or sig.parameters[k].default != v
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:  # only called by scikit-learn, so import it lazily
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(),
        )

    # -- what subclasses define -------------------------------------------------------------
    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        raise NotImplementedError

    def _make_loss(self, n_classes: int) -> Loss:
        raise NotImplementedError

    def _adapt_preprocess(self, pre: Preprocess, x_train: np.ndarray | None = None) -> Preprocess:
        """The preprocessing ``fit`` uses (``x_train``: the samples it trains on); a subclass
        may wrap it (the CNN's NCHW layout)."""
        return pre

    def _prepare_network(self, network: nn.Module, x_train: np.ndarray) -> None:
        """Initialise what depends on the training data once the network is built (the
        CNN's whitening stem); ``self.preprocess_`` is set. Nothing by default."""

    def _param_groups(self, network: nn.Module, lr: float) -> list[nn.optim.ParamGroup] | None:
        """The optimiser's parameter groups (None: one group of every parameter)."""
        return None

    def _target(self, n_classes: int) -> Any:
        return None

    def _indices(self, out: np.ndarray) -> np.ndarray:
        return out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0).astype(np.int64)

    def _proba(self, out: np.ndarray) -> np.ndarray:
        return nn.functional.softmax(out.astype(np.float64), axis=1)

    # -- fitting -------------------------------------------------------------------------------
    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` ``fit`` trains with (its checks run: a ValueError for
        training settings that cannot be used together)."""
        return self._train_config()

    def _train_config(self) -> TrainConfig:
        return TrainConfig(**{k: getattr(self, k) for k in TRAIN_PARAMS if hasattr(self, k)})

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        resume: bool = False,
        history_dir: str | os.PathLike[str] | None = None,
        callback: Any = None,
    ) -> BaseClassifier:
        """Train on (X, y); (X_val, y_val), or a stratified ``validation_split`` of X, is used
        for the per-epoch validation measures and early stopping."""
        X = check_X(X)
        classes, y_idx = _class_indices(y, X.shape[0], type(self).__name__)
        self.classes_ = classes
        cfg = self.train_config()
        if X_val is None and getattr(self, "validation_split", 0):
            tr, va = stratified_split(y_idx, self.validation_split, seed=cfg.seed)
            X, X_val, y_idx, yv_idx = X[tr], X[va], y_idx[tr], y_idx[va]
        elif X_val is not None:
            X_val = check_X(X_val, "X_val")
            yv_idx = _indices_of(y_val, classes)
        else:
            yv_idx = None
        pre = self._adapt_preprocess(self._preprocess_for(X), X)
        if X_val is not None and X_val.shape[1:] != X.shape[1:]:
            raise ValueError(f"X_val has samples of shape {X_val.shape[1:]}, X has {X.shape[1:]}")
        self.preprocess_ = pre
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        n_classes = len(classes)
        self.network_ = self._build(
            self.n_features_in_, n_classes, np.random.default_rng([cfg.seed, 0])
        )
        self._prepare_network(self.network_, X)
        trainer = Trainer(
            self.network_,
            self._make_loss(n_classes),
            cfg,
            transform=pre,
            target=self._target(n_classes),
            predict=self._indices,
            checkpoint=checkpoint,
            progress=bool(getattr(self, "verbose", False)),
            callback=callback,
            history_dir=history_dir,
            param_groups=self._param_groups(self.network_, cfg.lr),
        )
        try:
            self.history_: History = trainer.fit(X, y_idx, X_val, yv_idx, resume=resume)
        finally:
            self.network_.eval()
        return self

    def _preprocess_for(self, X: np.ndarray) -> Preprocess:
        """The preprocessing fitted on the training inputs: per-channel normalisation (and
        augmentation settings) for images, per-feature standardisation for vectors."""
        if X.ndim == 4:
            return Preprocess(
                "image",
                X.shape[1:],
                Normalizer().fit(X),
                bool(getattr(self, "augment", False)),
                int(getattr(self, "crop_padding", 4)),
            )
        return Preprocess("vector", X.shape[1:], Standardizer().fit(X))

    # -- prediction ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise not_fitted(
                f"This {type(self).__name__} instance is not fitted yet. "
                "Call 'fit' with appropriate arguments first."
            )

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores: (N, K) for K > 2 classes; for two classes one score per sample (N,),
        positive for ``classes_[1]`` (scikit-learn's convention)."""
        out = self._scores(X)
        if out.shape[1] == 1:
            return out[:, 0]
        if out.shape[1] == 2:
            return out[:, 1] - out[:, 0]
        return out

    def _scores(self, X: Any, batch_size: int = 4096) -> np.ndarray:
        """The network's raw outputs (N, K), or (N, 1) for a binary model with one output."""
        self._check_fitted()
        X = check_X(X)
        if X.shape[1:] != self.preprocess_.shape:
            want = "x".join(map(str, self.preprocess_.shape))
            got = "x".join(map(str, X.shape[1:]))
            what = "images" if self.preprocess_.kind == "image" else "features"
            raise ValueError(
                f"X has {got} {what}, but {type(self).__name__} is expecting {want} {what} as input"
            )
        self.network_.eval()
        outs = [
            self.network_.forward(self.preprocess_(X[i : i + batch_size], None))
            for i in range(0, X.shape[0], batch_size)
        ]
        return np.concatenate(outs)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, K), rows summing to 1, columns in the order of ``classes_``."""
        return self._proba(self._scores(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as labels from ``classes_``."""
        indices = self._indices(self._scores(X))
        return self.classes_[indices]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on (X, y): the fraction of samples whose predicted label equals y.

        ``y`` holds one label per sample, (N,); a column (N, 1) is raveled with a
        DataConversionWarning, as scikit-learn does; any other shape is a ValueError
        (comparing (N,) predictions with an (N, 1) column would broadcast to N × N)."""
        pred = self.predict(X)
        return float(np.mean(pred == _label_vector(y, len(pred))))

    # -- files -----------------------------------------------------------------------------------
    def save(
        self,
        path: str | os.PathLike[str],
        extra: dict[str, Any] | None = None,
        precision: str = "float32",
    ) -> Path:
        """Write the fitted classifier (network, classes, preprocessing, parameters) to ``path``;
        ``precision`` ``"float16"`` (half the bytes) or ``"int8"`` (a quarter) stores the
        weights in fewer bytes (:mod:`vedere.nn.precision`)."""
        self._check_fitted()
        meta = {
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str,
            "preprocess": self.preprocess_.to_dict(),
            **(extra or {}),
        }
        json.dumps(meta)  # fail early on anything not JSON-serialisable
        return nn.save(self.network_, path, extra=meta, precision=precision)
