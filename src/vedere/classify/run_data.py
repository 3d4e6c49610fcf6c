"""The images a training run learns from and the ones it holds out: the data source
(``--data-dir``, ``--dataset NAME`` or the embedded sample), the stratified split, the
two-class relabelling of ``--model logistic``, and the held-out set recomputed for
``vedere evaluate RUN --split val``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data import cifar10, standard
from ..data.cache import default_cache_dir
from ..data.dataset import is_sample, load_split
from ..data.errors import DataError
from ..data.imageset import ImageSet
from ..data.split import stratified_split
from .run_config import RunConfig, load_config, val_count


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
    if cfg.dataset in standard.NAMES:
        root = default_cache_dir()
        if not standard.is_fetched(cfg.dataset, root) and not cfg.download:
            raise DataError(
                standard.fetched_path(cfg.dataset, root),
                f"{cfg.dataset} is not downloaded; add --download, or give --data-dir",
            )
        return str(standard.fetch(cfg.dataset, root, progress=progress))
    return None  # the embedded sample


def binarize(labels: np.ndarray, classes: list[str], positive: str) -> tuple[np.ndarray, list[str]]:
    """Class indices → 1 for ``positive``, 0 otherwise; the class names become
    [f"not-{positive}", positive]."""
    if positive not in classes:
        raise ValueError(f"--positive-class {positive!r} is not one of the classes {classes}")
    return (labels == classes.index(positive)).astype(np.int64), [f"not-{positive}", positive]


def image_size(cfg: RunConfig) -> tuple[int, int] | None:
    """The (height, width) images are decoded at (None: as stored)."""
    return (cfg.image_size, cfg.image_size) if cfg.image_size else None


def split(data: ImageSet, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation images of ``data`` under ``cfg``: a stratified
    subset of ``limit`` images first (when set), then a stratified validation split of
    :func:`~.run_config.val_count` images, both drawn from ``cfg.seed``."""
    labels = data.labels
    idx = np.arange(len(labels))
    if cfg.limit is not None and cfg.limit < len(labels):
        _, idx = stratified_split(labels, cfg.limit, seed=cfg.seed)
    tr, va = stratified_split(labels[idx], val_count(cfg.val_split, len(idx)), seed=cfg.seed)
    return idx[tr], idx[va]


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
    data = load_split(
        source, "train", size, verify=cfg.verify and verify, progress=progress, labels=cfg.labels
    )
    _, va = split(data, cfg)
    if len(va) == 0:
        raise DataError(Path(run_dir) / "config.json", "the run held out no validation images")
    return data.subset(va), "sample" if is_sample(source) else str(source)
