"""One entry point for every image source: ``load_split(source, split)``.

``source`` may be

- an official CIFAR-10 archive or extracted folder (python or binary version);
- MNIST or Fashion-MNIST (a folder of their IDX files, gzipped or not), CIFAR-100 (python or
  binary version, archive or folder) or SVHN (a folder of ``train_32x32.mat`` /
  ``test_32x32.mat``), told apart by content (:mod:`vedere.data.standard`);
- an image-folder tree ``<split>/<class>/<image>`` or a ``.tar.gz`` of one;
- ``None``: the small CIFAR-10 sample shipped inside vedere (1,200 training and 300 test
  images, 32×32, taken from CIFAR-10's training set), so that everything runs on a fresh
  machine with no dataset and no network. A path is always a path: a folder named
  ``sample`` is that folder (the sample is asked for by name only where a command offers
  it, ``vedere train --dataset sample``).

Decoded images are cached (see :mod:`vedere.data.cache`).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from . import cifar10, standard
from .cache import cached
from .folder import load_folder
from .imageset import ImageSet


def sample_path() -> Path:
    """Path of the embedded CIFAR-10 sample archive."""
    return Path(str(files("vedere.data") / "sample" / "cifar10-sample.tar.gz"))


def resolve(source: str | os.PathLike[str] | None) -> Path:
    """The path behind a source (``None`` → the embedded sample)."""
    return sample_path() if source is None else Path(source)


def is_sample(source: str | os.PathLike[str] | None) -> bool:
    """Whether ``source`` is the embedded sample (only ``None`` is)."""
    return source is None


def load_split(
    source: str | os.PathLike[str] | None,
    split: str = "train",
    size: tuple[int, int] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    progress: bool = True,
    labels: str = "fine",
) -> ImageSet:
    """The images and labels of ``split`` from ``source`` (see the module docstring);
    ``labels`` picks CIFAR-100's ``fine`` (100) or ``coarse`` (20) classes."""
    path = resolve(source)
    kind = standard.detect(path)
    if kind is not None:
        return cached(
            path,
            split,
            f"{kind}|verify={verify}|labels={labels}|size={size}",
            lambda: standard.load(path, split, kind, size, verify=verify, labels=labels),
            cache_dir,
        )
    if labels != "fine":
        raise ValueError(f"--labels {labels} applies to CIFAR-100 only, not to {path}")
    if cifar10.detect(path) is not None:
        return cached(
            path,
            split,
            f"cifar10|verify={verify}",
            lambda: cifar10.load_cifar10(path, split, verify=verify),
            cache_dir,
        )
    key = f"folder|size={size}"
    return cached(path, split, key, lambda: load_folder(path, split, size, progress), cache_dir)
