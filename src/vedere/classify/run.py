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
:mod:`vedere.classify.rundir`'s. A run that diverges keeps its history and curves and no
model: :func:`train` raises :class:`Diverged` naming the learning rate the user gave.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

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
from .cnn import CNNClassifier
from .estimators import ESTIMATORS, load_classifier
from .history import History
from .rundir import CURVES, EVALUATION, MODEL, RunDir, RunDirError
from .trainer import Diverged, Interrupted  # noqa: F401 (Interrupted: for the CLI)

LINEAR = ("perceptron", "logistic", "softmax", "svm")


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
    stopped: str  # History.stopped: "epochs", "early_stopping", "converged"
    message: str
    reason: str = ""  # History.stop_reason(): why training stopped, in words
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
        bars = progress and _isatty(sys.stderr)  # no progress bars in logs
        source = source_of(cfg, bars)
        data = load_split(source, "train", _size(cfg), verify=cfg.verify, progress=bars)
        tr, va = _split(data, cfg)
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


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


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
}
MAX_HIDDEN = 1 << 16


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
            raise bad(f"{k} must be {' or '.join(t.__name__ for t in types)}, got {_show(v)}")
    if raw.get("model", "mlp") not in ESTIMATORS:
        raise bad(f"unknown model {_show(raw.get('model'))}")
    for k, lo, hi in (("image_size", 4, 4096), ("limit", 2, 10**9), ("seed", 0, 2**63 - 1)):
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
        else:
            ok = v is None or isinstance(v, (int, float, str))
        if not ok:
            raise bad(f"params.{k} = {_show(v)} is not like its default {d!r}")
    try:
        cfg = RunConfig(**{**raw, "params": params, "out": out})
        est = cls(**params)
        est._train_config()  # the training settings' own checks
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    return cfg


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


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
    tta_shift: int | None = None,
) -> dict[str, Any]:
    """Evaluate a saved classifier on ``split`` of ``source`` (a data directory or archive).

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


def describe(result: RunResult) -> str:
    """The summary ``vedere train`` prints: the data, model, images, why training stopped,
    validation accuracy (when there was validation) and where the run is."""
    r = result.report
    if result.used_sample:
        data = "the embedded CIFAR-10 sample (no --data-dir given)"
    else:
        data = result.source
    lines = [
        f"data            {data}",
        f"model           {type(result.estimator).__name__}",
        f"images          {result.n_train} training, {result.n_val} validation",
        f"training        {result.reason or result.stopped}",
    ]
    if result.n_val:
        lines.append(f"val accuracy    {r['accuracy']:.1%}")
    if "roc_auc" in r:
        lines.append(f"val ROC-AUC     {r['roc_auc']:.3f}")
    lines.append(f"saved to        {result.run_dir}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `vedere train` command")
