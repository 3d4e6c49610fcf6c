"""The standard datasets beside CIFAR-10: MNIST, Fashion-MNIST, CIFAR-100 and SVHN.

:func:`detect` tells, by what a path holds, which of them it is; :func:`load` reads a split
of it at its own size (or resized to ``size``); :func:`fetch` downloads a named one into a
folder (``vedere train --dataset NAME --download``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import cifar100, mnist, svhn
from .errors import DataError
from .imageset import ImageSet

#: the datasets ``--dataset`` names (besides cifar10 and sample)
NAMES = ("mnist", "fashion-mnist", "cifar100", "svhn")
#: the label sets of ``--labels`` (CIFAR-100's fine classes or coarse superclasses)
LABELS = cifar100.LABELS


def detect(source: str | os.PathLike[str]) -> str | None:
    """ "mnist" (MNIST or Fashion-MNIST IDX files), "cifar100" or "svhn", or None."""
    p = Path(source)
    if cifar100.detect(p) is not None:
        return "cifar100"
    if svhn.detect(p):
        return "svhn"
    if mnist.detect(p):
        return "mnist"
    return None


def load(
    source: str | os.PathLike[str],
    split: str,
    kind: str,
    size: tuple[int, int] | None = None,
    verify: bool = True,
    labels: str = "fine",
) -> ImageSet:
    """``split`` of the dataset ``kind`` (from :func:`detect`) at ``source``; ``labels``
    picks CIFAR-100's fine or coarse classes (other datasets have one label set)."""
    if labels not in LABELS:
        raise ValueError(f"--labels must be fine or coarse, not {labels!r}")
    if kind == "cifar100":
        data = cifar100.load_cifar100(source, split, verify=verify, labels=labels)
    elif labels != "fine":
        raise ValueError(f"--labels {labels} applies to CIFAR-100 only; {source} is {kind}")
    elif kind == "svhn":
        data = svhn.load_svhn(source, split, verify=verify)
    elif kind == "mnist":
        data = mnist.load_mnist(source, split, verify=verify)
    else:
        raise DataError(source, f"unknown dataset kind {kind!r}")
    if size is not None and tuple(size) != data.images.shape[1:3]:
        data = resized(data, size)
    return data


def resized(data: ImageSet, size: tuple[int, int]) -> ImageSet:
    """``data`` with every image resized (bilinear, as the image-folder loader does)."""
    from PIL import Image

    from .folder import MAX_DECODED_BYTES

    h, w = size
    c = data.images.shape[3]
    if len(data) * h * w * c > MAX_DECODED_BYTES:
        raise DataError(data.source, f"{len(data):,} images of {h}x{w} exceed the memory cap")
    out = np.empty((len(data), h, w, c), np.uint8)
    for i, img in enumerate(data.images):
        pil = Image.fromarray(img[..., 0] if c == 1 else img)
        a = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))
        out[i] = a[..., None] if c == 1 else a
    return ImageSet(out, data.labels, data.classes, data.source, data.split, dict(data.meta))


def fetch(name: str, root: str | os.PathLike[str], progress: bool = True) -> Path:
    """The path of dataset ``name`` (one of :data:`NAMES`) under ``root``, downloaded first
    where its files are absent (atomically, each checked against its published MD5)."""
    root = Path(root)
    if name in ("mnist", "fashion-mnist"):
        return mnist.fetch(root / name, name, progress)
    if name == "cifar100":
        return cifar100.fetch(root / name, "python", progress)
    if name == "svhn":
        return svhn.fetch(root / name, progress)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")


def fetched_path(name: str, root: str | os.PathLike[str]) -> Path:
    """Where :func:`fetch` puts dataset ``name`` under ``root`` (it may not exist yet)."""
    root = Path(root) / name
    return root / "cifar-100-python.tar.gz" if name == "cifar100" else root


def is_fetched(name: str, root: str | os.PathLike[str]) -> bool:
    """Whether every file of dataset ``name`` is under ``root`` (no download needed)."""
    p = fetched_path(name, root)
    if name in ("mnist", "fashion-mnist"):
        return all((p / f).is_file() for f in mnist.PUBLISHED[name])
    if name == "svhn":
        return all((p / f).is_file() for f in svhn.PUBLISHED)
    return p.is_file()
