"""A training run end to end: data → split → estimator → training → model, history, figures.

This is what ``vedere train`` calls. A run directory receives

- ``config.json``     the run's settings (enough to resume it)
- ``model.safetensors`` the trained classifier (weights + JSON metadata)
- ``history.json`` / ``history.csv``  per-epoch loss, accuracy, learning rate, seconds
- ``checkpoint.safetensors``  the full training state (for ``--resume``), while training;
  removed at the end unless ``keep_checkpoint``
- ``metrics.json``    validation accuracy, per-class precision/recall, confusion matrix
- ``curves.png``, ``confusion.png`` and, for linear models, ``templates.png``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import safejson
from ..data import cifar10
from ..data.cache import default_cache_dir
from ..data.dataset import is_sample, load_split
from ..data.errors import DataError
from ..data.images import check_image_size
from ..data.imageset import ImageSet
from ..data.split import stratified_split
from ..fileio import atomic_write_text
from . import metrics
from .base import BaseClassifier
from .estimators import ESTIMATORS, load_classifier

LINEAR = ("perceptron", "logistic", "softmax", "svm")
RUN_FILES = (
    "config.json",
    "model.safetensors",
    "checkpoint.safetensors",
    "history.json",
    "history.csv",
    "metrics.json",
    "curves.png",
    "confusion.png",
    "templates.png",
)


@dataclass
class RunConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run directory."""

    out: str
    model: str = "mlp"
    data_dir: str | None = None  # None: the embedded sample
    dataset: str | None = None  # "cifar10" (downloaded into the cache) or "sample"
    download: bool = False
    verify: bool = True
    image_size: int | None = None
    limit: int | None = None
    val_split: int | float | None = None  # see val_count; None: 5,000 for >= 20,000, else 10%
    positive_class: str = "cat"
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    keep_checkpoint: bool = False  # keep checkpoint.safetensors after a finished run
    overwrite: bool = False  # replace a run already in ``out``

    def __post_init__(self) -> None:
        if self.model not in ESTIMATORS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.data_dir and self.dataset:
            raise ValueError("give either --data-dir or --dataset, not both")
        if self.dataset not in (None, "cifar10", "sample"):
            raise ValueError(f"unknown dataset {self.dataset!r}; choose cifar10 or sample")
        if self.image_size is not None:
            check_image_size(self.image_size)
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"--limit must be at least 2, got {self.limit}")
        check_val_split(self.val_split)


@dataclass
class RunResult:
    run_dir: Path
    estimator: BaseClassifier
    report: dict[str, Any]
    n_train: int
    n_val: int
    used_sample: bool
    stopped: str
    message: str
    source: str = "sample"  # the data trained on: "sample" or the path of --data-dir


def source_of(cfg: RunConfig, progress: bool = True) -> str | None:
    """The data source path for a run (downloading CIFAR-10 when asked)."""
    if cfg.data_dir:
        return cfg.data_dir
    if cfg.dataset == "cifar10":
        root = default_cache_dir() / "cifar10"
        path = root / "cifar-10-python.tar.gz"
        if not path.exists() and not cfg.download:
            raise DataError(path, "CIFAR-10 is not downloaded; add --download, or give --data-dir")
        return str(cifar10.fetch(root, "python", progress=progress))
    return None  # the embedded sample


def binarize(labels: np.ndarray, classes: list[str], positive: str) -> tuple[np.ndarray, list[str]]:
    """Class indices → 1 for ``positive``, 0 otherwise; the class names become
    [f"not-{positive}", positive]."""
    if positive not in classes:
        raise ValueError(f"--positive-class {positive!r} is not one of the classes {classes}")
    return (labels == classes.index(positive)).astype(np.int64), [f"not-{positive}", positive]


def _size(cfg: RunConfig) -> tuple[int, int] | None:
    return (cfg.image_size, cfg.image_size) if cfg.image_size else None


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


def _split(data: ImageSet, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    labels = data.labels
    idx = np.arange(len(labels))
    if cfg.limit is not None and cfg.limit < len(labels):
        _, idx = stratified_split(labels, cfg.limit, seed=cfg.seed)
    tr, va = stratified_split(labels[idx], val_count(cfg.val_split, len(idx)), seed=cfg.seed)
    return idx[tr], idx[va]


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> RunResult:
    """Run (or, with ``resume``, continue) the training run described by ``cfg``.

    A directory that already holds a run is refused unless ``cfg.overwrite`` (its run files
    are then removed first) or ``resume``."""
    run_dir = Path(cfg.out)
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing and not resume:
        if not cfg.overwrite:
            raise DataError(
                run_dir,
                "already holds a run; add --overwrite to replace it or --resume to continue it",
            )
        for f in existing:
            (run_dir / f).unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    source = source_of(cfg, progress)
    data = load_split(source, "train", _size(cfg), verify=cfg.verify, progress=progress)
    tr, va = _split(data, cfg)
    labels, classes = data.labels, list(data.classes)
    if cfg.model == "logistic":
        labels, classes = binarize(labels, classes, cfg.positive_class)
    params = {"seed": cfg.seed, "verbose": progress, **cfg.params}
    est = ESTIMATORS[cfg.model](**params)
    atomic_write_text(run_dir / "config.json", json.dumps(asdict(cfg), indent=1))
    names = np.asarray(classes)
    x_train = np.asarray(data.images[tr])
    x_val = np.asarray(data.images[va])
    # a Diverged exception (naming the learning rate) propagates: nothing is saved but the
    # config, the history and the checkpoint of the last completed epoch
    est.fit(
        x_train,
        names[labels[tr]],
        x_val if len(va) else None,  # --val-split 0: no validation
        names[labels[va]] if len(va) else None,
        checkpoint=run_dir / "checkpoint.safetensors",
        resume=resume,
        history_dir=run_dir,
    )
    stopped, message = est.history_.stopped, est.history_.message
    extra = {
        "image_classes": classes,
        "source": "sample" if is_sample(source) else str(source),
        "positive_class": cfg.positive_class if cfg.model == "logistic" else None,
    }
    est.save(run_dir / "model.safetensors", extra={"run": extra})
    report: dict[str, Any] = {"classes": classes, "n": 0}
    if len(va):
        report = evaluate_arrays(est, x_val, names[labels[va]])
        atomic_write_text(run_dir / "metrics.json", json.dumps(report, indent=1))
    _figures(est, cfg, run_dir, report)
    if not cfg.keep_checkpoint:
        (run_dir / "checkpoint.safetensors").unlink(missing_ok=True)
    return RunResult(
        run_dir,
        est,
        report,
        len(tr),
        len(va),
        is_sample(source),
        stopped,
        message,
        extra["source"],
    )


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


def _figures(est: BaseClassifier, cfg: RunConfig, run_dir: Path, report: dict[str, Any]) -> None:
    from ..viz import plot_confusion, plot_history, plot_templates

    if len(est.history_):
        plot_history(est.history_, run_dir / "curves.png", title=f"{cfg.model} — training curves")
    if "confusion_matrix" in report:
        plot_confusion(
            np.asarray(report["confusion_matrix"]),
            report["classes"],
            run_dir / "confusion.png",
            title=f"{cfg.model} — validation confusion matrix",
        )
    if cfg.model in LINEAR and est.preprocess_.kind == "image":
        w = est.network_.parameters()[0].data
        names = (
            [str(c) for c in est.classes_]
            if w.shape[0] == len(est.classes_)
            else [str(est.classes_[1])]
        )
        plot_templates(
            w,
            est.preprocess_.shape,
            names,
            run_dir / "templates.png",
            title=f"{cfg.model} — learned weight templates",
        )


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
    "keep_checkpoint": (bool,),
    "overwrite": (bool,),
}


def load_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """The RunConfig saved in a run directory (read as untrusted JSON: bounded size, known
    keys, each of its type; DataError naming the file otherwise)."""
    path = Path(run_dir) / "config.json"
    try:
        doc = safejson.read(path, max_bytes=1 << 20)
    except FileNotFoundError:
        raise DataError(path, "no such file: not a run directory (nothing to resume)") from None
    except (OSError, safejson.JSONError) as e:
        raise DataError(path, f"not a valid run configuration ({e})") from None
    if not isinstance(doc, dict):
        raise DataError(path, "not a valid run configuration (not a JSON object)")
    for key, value in doc.items():
        types = _CONFIG_TYPES.get(key)
        if types is None:
            raise DataError(path, f"not a valid run configuration (unknown key {key!r})")
        bad_bool = isinstance(value, bool) and bool not in types
        if not isinstance(value, types) or bad_bool:
            raise DataError(path, f"not a valid run configuration ({key} = {value!r:.40})")
    if isinstance(doc.get("seed"), int) and not 0 <= doc["seed"] < 2**63:
        raise DataError(path, f"not a valid run configuration (seed = {doc['seed']})")
    try:
        return RunConfig(**doc)
    except (TypeError, ValueError) as e:
        raise DataError(path, f"not a valid run configuration ({e})") from None


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


def held_out(
    run_dir: str | os.PathLike[str],
    size: tuple[int, int] | None,
    verify: bool = True,
    progress: bool = True,
) -> tuple[ImageSet, str]:
    """The validation images a run held out, recomputed from its ``config.json`` (the same
    source, limit, seed and split), decoded at ``size`` (the model's), and their source."""
    cfg = load_config(run_dir)
    source = source_of(replace(cfg, download=False), progress)  # evaluating never downloads
    data = load_split(source, "train", size, verify=cfg.verify and verify, progress=progress)
    _, va = _split(data, cfg)
    if len(va) == 0:
        raise DataError(Path(run_dir) / "config.json", "the run held out no validation images")
    return data.subset(va), "sample" if is_sample(source) else str(source)


def evaluate(
    model: str | os.PathLike[str],
    source: str | None,
    split: str = "test",
    verify: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a saved classifier on ``split`` of ``source`` (a data directory or archive).

    ``split="val"`` with no ``source`` and a run directory as ``model``: the images that run
    held out for validation (see :func:`held_out`)."""
    path, est = load_image_classifier(model)
    pre = est.preprocess_
    h, w, c = pre.shape
    if split == "val" and source is None and Path(model).is_dir():
        data, name = held_out(model, (h, w), verify=verify, progress=progress)
    else:
        data = load_split(source, split, (h, w), verify=verify, progress=progress)
        name = str(source or "sample")
    if data.image_shape != pre.shape:
        raise DataError(
            path,
            f"model expects {h}x{w}x{c} images, the data has "
            f"{'x'.join(map(str, data.image_shape))}",
        )
    run = getattr(est, "run_meta_", None) or {}
    labels = data.labels
    names = list(data.classes)
    positive = run.get("positive_class")
    if positive:
        labels, names = binarize(labels, names, positive)
    known = {str(c) for c in est.classes_}
    unknown = sorted(set(np.asarray(names)[np.unique(labels)]) - known)
    if unknown:
        raise DataError(
            source or "sample",
            f"classes {unknown} are unknown to the model {path} (it knows {sorted(known)})",
        )
    rep = evaluate_arrays(est, np.asarray(data.images), np.asarray(names)[labels])
    rep.update(model=str(path), split=split, source=name)
    return rep


PREDICT_BATCH = 256


def image_files(paths: list[str]) -> list[str]:
    """``paths`` with each directory replaced by the image files directly in it, sorted by
    name (a directory without images raises DataError naming it)."""
    from ..data.images import is_image_name

    out: list[str] = []
    for p in paths:
        if not Path(p).is_dir():
            out.append(p)
            continue
        found = sorted(
            str(Path(p) / e.name) for e in os.scandir(p) if e.is_file() and is_image_name(e.name)
        )
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
    h, w, _ = est.preprocess_.shape
    files = image_files(images)
    out: list[dict[str, Any]] = []
    for i in range(0, len(files), PREDICT_BATCH):
        chunk = files[i : i + PREDICT_BATCH]
        batch = np.stack([decode(Path(f), f, (h, w)) for f in chunk])
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


def stop_reason(n_epochs: int, stopped: str, message: str = "") -> str:
    """Why training ended, in words: "ran all 25 epochs", "stopped early after 9 epochs: …"."""
    if stopped == "epochs":
        return f"ran all {n_epochs} epochs"
    if stopped == "early_stopping":
        return f"stopped early after {n_epochs} epochs: {message}"
    if stopped == "converged":
        return f"converged after {n_epochs} epochs: {message}"
    if stopped == "diverged":
        return f"diverged after {n_epochs} epochs"
    if stopped == "interrupted":
        return f"interrupted after {n_epochs} epochs"
    return f"{n_epochs} epochs"


def describe(result: RunResult) -> str:
    """The summary ``vedere train`` prints."""
    r = result.report
    if result.used_sample:
        data = "the embedded CIFAR-10 sample (no --data-dir given)"
    else:
        data = result.source
    history = result.estimator.history_
    lines = [
        f"data            {data}",
        f"model           {type(result.estimator).__name__}",
        f"images          {result.n_train} training, {result.n_val} validation",
        f"epochs          {stop_reason(len(history), result.stopped, result.message)}",
    ]
    if result.n_val:
        lines.append(f"val accuracy    {r['accuracy']:.1%}")
    if "roc_auc" in r:
        lines.append(f"val ROC-AUC     {r['roc_auc']:.3f}")
    lines.append(f"saved to        {result.run_dir}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `vedere train` command")
