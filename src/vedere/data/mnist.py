"""MNIST and Fashion-MNIST from their four official IDX files, gzipped or not.

A folder is recognised by content: it holds IDX files (see :mod:`vedere.data.idx`) — images
(N, 28, 28) and labels (N,) — for the training split (names starting ``train``) and the test
split (``t10k`` or ``test``), whatever else they are called (``train-images-idx3-ubyte.gz``,
``train-images.idx3-ubyte``, …). Images become (N, 28, 28, 1) uint8: greyscale, one channel.

Integrity: a gzipped file of exactly the size of a published one must have its published MD5
(``verify=False``, ``--no-checksum``, reads other copies), and a match tells MNIST from
Fashion-MNIST (their class names differ); the uncompressed files have no published sums and
are checked for their structure only, as are other sizes (a subset, generated test data).
Without a matching sum a folder whose name contains "fashion" gets Fashion-MNIST's names,
any other the digits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import idx
from .download import download, md5sum
from .errors import DataError
from .imageset import ImageSet

DIGITS = [str(d) for d in range(10)]
FASHION = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
#: the published gzipped files: dataset → file name → (bytes, MD5)
PUBLISHED = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte.gz": (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": (29515, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": (4422102, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": (5148, "bb300cfdad3c16e7a12a480ee83cd310"),
    },
}
URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
#: at most this many files in a folder are looked at
MAX_FILES = 64


def _split_of(name: str) -> str | None:
    low = name.lower()
    if low.startswith("train"):
        return "train"
    if low.startswith(("t10k", "test")):
        return "test"
    return None


def find_files(folder: Path) -> dict[tuple[str, str], Path]:
    """The IDX files of ``folder`` by (split, "images" | "labels"), told apart by their
    headers (3 or 1 dimensions) and their names' first word (the split); {} if none."""
    found: dict[tuple[str, str], Path] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return {}
    entries = [e for e in entries if e.is_file(follow_symlinks=False)][:MAX_FILES]
    for e in entries:
        split = _split_of(e.name)
        if split is None:
            continue
        try:
            with open(e.path, "rb") as f:
                head = f.read(64)
        except OSError:
            continue
        if head[:2] == idx.GZIP_MAGIC:  # the gzip header is small: the first 64 KiB suffice
            try:
                with open(e.path, "rb") as f:
                    head = f.read(1 << 16)
            except OSError:
                continue
        header = idx.peek(head, e.path)
        if header is None or len(header[1]) not in (1, 3):
            continue
        kind = "images" if len(header[1]) == 3 else "labels"
        if (split, kind) in found:
            raise DataError(
                folder,
                f"two {split} {kind} files ({found[(split, kind)].name}, {e.name}); keep one",
            )
        found[(split, kind)] = Path(e.path)
    return found


def detect(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a folder holding MNIST-style IDX files."""
    p = Path(source)
    return p.is_dir() and bool(find_files(p))


def _identify(path: Path, data: bytes, verify: bool) -> str | None:
    """The dataset whose published file has ``data``'s size and MD5 (None: no published
    file has this size). A file of a published size with another MD5 is refused."""
    sizes = [
        (name, ds, md5)
        for ds, files in PUBLISHED.items()
        for name, (size, md5) in files.items()
        if size == len(data)
    ]
    if not sizes or data[:2] != idx.GZIP_MAGIC:
        return None
    import hashlib

    got = hashlib.md5(data, usedforsecurity=False).hexdigest()
    for _, ds, md5 in sizes:
        if got == md5:
            return ds
    if verify:
        names = ", ".join(sorted({f"{ds} {name}" for name, ds, _ in sizes}))
        raise DataError(
            path,
            f"MD5 mismatch: the size of the published {names} but MD5 {got}: truncated, "
            "tampered or not the official file (--no-checksum reads it anyway)",
        )
    return None


def load_mnist(
    source: str | os.PathLike[str], split: str = "train", verify: bool = True
) -> ImageSet:
    """The ``train`` or ``test`` split of an MNIST or Fashion-MNIST folder (module docstring):
    images (N, 28, 28, 1) uint8 and labels 0-9."""
    if split not in ("train", "test"):
        raise ValueError(f"MNIST has splits 'train' and 'test', not {split!r}")
    folder = Path(source)
    files = find_files(folder)
    missing = [k for k in ("images", "labels") if (split, k) not in files]
    if missing:
        raise DataError(folder, f"no IDX {' or '.join(missing)} file for the {split} split")
    arrays, datasets = {}, set()
    for kind in ("images", "labels"):
        path = files[(split, kind)]
        data = idx.read_bytes(path)
        ds = _identify(path, data, verify)
        if ds is not None:
            datasets.add(ds)
        arrays[kind] = idx.parse(data, str(path), 3 if kind == "images" else 1)
    images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    if len(images) != len(labels):
        raise DataError(
            folder, f"{len(images):,} {split} images but {len(labels):,} labels: not a pair"
        )
    if len(labels) and labels.max() > 9:
        raise DataError(files[(split, "labels")], f"label {labels.max()} outside 0-9")
    if len(datasets) > 1:
        raise DataError(folder, "files of MNIST and of Fashion-MNIST mixed in one folder")
    if datasets:
        name = datasets.pop()
    else:
        name = "fashion-mnist" if "fashion" in folder.resolve().name.lower() else "mnist"
    classes = FASHION if name == "fashion-mnist" else DIGITS
    return ImageSet(
        np.ascontiguousarray(images[..., None]),
        labels,
        list(classes),
        str(source),
        split,
        {"format": f"{name}-idx"},
    )


def fetch(root: str | os.PathLike[str], name: str = "mnist", progress: bool = True) -> Path:
    """The folder ``root`` with the four published files of ``name`` ("mnist" or
    "fashion-mnist"), each downloaded (atomically, its MD5 checked) if absent."""
    root = Path(root)
    for file, (_, md5) in PUBLISHED[name].items():
        dest = root / file
        if dest.exists() and md5sum(dest) == md5:
            continue
        download(URLS[name] + file, dest, md5=md5, progress=progress)
    return root
