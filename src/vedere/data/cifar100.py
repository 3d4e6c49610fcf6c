"""CIFAR-100 from its official archives: the python and the binary versions, packed or not.

Layouts (https://www.cs.toronto.edu/~kriz/cifar.html):

- python: ``cifar-100-python.tar.gz`` → ``cifar-100-python/{train, test, meta}``; ``train``
  and ``test`` are pickles of ``{b"data": uint8 (N, 3072), b"fine_labels": [...],
  b"coarse_labels": [...], b"filenames": [...], b"batch_label": ...}`` (rows channel-major),
  ``meta`` of ``{b"fine_label_names": [...], b"coarse_label_names": [...]}``;
- binary: ``cifar-100-binary.tar.gz`` → ``cifar-100-binary/{train.bin, test.bin,
  fine_label_names.txt, coarse_label_names.txt}``, records of a coarse label byte, a fine
  label byte and 3072 pixel bytes.

``labels="fine"`` gives the 100 classes, ``"coarse"`` the 20 superclasses. The pickles go
through the same restricted unpickler as CIFAR-10's (:mod:`vedere.data.cifar10`: only
NumPy's array reconstruction, lists, dicts, bytes and latin-1 strings; declared shapes
capped at one file's 50,000 × 3,072 before anything is allocated) — never real pickle.
Integrity, by content: each python file against its published MD5, a binary archive
against the official archive's; an extracted binary folder only by its record structure.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import archive, cifar10
from .download import download
from .errors import DataError
from .imageset import ImageSet

URLS = {
    "python": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "binary": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}
ARCHIVE_MD5 = {
    "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
    "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
}
FILE_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
RECORD = 2 + 3072
LABELS = ("fine", "coarse")
N_CLASSES = {"fine": 100, "coarse": 20}
#: the largest file read: the training set (50,000 images; 155 MB pickled, 154 MB binary)
MAX_FILE_BYTES = 200 * 2**20
MAX_ELEMENTS = 50_000 * 3072
MAX_NAME = 64


def _reconstruct(cls: object, shape: object, dtype_code: object) -> np.ndarray:
    """:func:`vedere.data.cifar10._reconstruct` with CIFAR-100's larger cap (one file of
    50,000 images) checked first."""
    if (
        isinstance(shape, tuple)
        and len(shape) <= 4
        and all(type(v) is int and v >= 0 for v in shape)
    ):
        if math.prod(shape) > MAX_ELEMENTS:
            raise pickle.UnpicklingError(f"refused: array of declared shape {shape!r}")
        if cls is np.ndarray and isinstance(dtype_code, bytes) and len(dtype_code) <= 8:
            return np.ndarray.__new__(np.ndarray, shape, np.uint8)
    return cifar10._reconstruct(cls, shape, dtype_code)


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    if isinstance(text, str) and len(text) > MAX_ELEMENTS:
        raise pickle.UnpicklingError(f"refused: a string of {len(text):,} characters")
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused: _codecs.encode with {encoding!r}")
    return text.encode("latin1")


class RestrictedUnpickler(cifar10.RestrictedUnpickler):
    """CIFAR-10's restricted unpickler with the caps of CIFAR-100's larger files."""

    ALLOWED: ClassVar[dict[tuple[str, str], object]] = {
        **cifar10.RestrictedUnpickler.ALLOWED,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("_codecs", "encode"): _latin1,
    }


def _unpickle(data: bytes, name: str) -> dict:
    return cifar10.unpickle_dict(data, name, "CIFAR-100 file", RestrictedUnpickler)


def _labels(v: object, n: int, top: int, name: str, key: str) -> np.ndarray:
    if not isinstance(v, list) or len(v) != n or not all(type(x) is int for x in v):
        raise DataError(name, f"not a CIFAR-100 file ({key} is not a list of {n:,} ints)")
    a = np.asarray(v, dtype=np.int64)
    if n and (a.min() < 0 or a.max() >= top):
        raise DataError(name, f"{key} outside 0-{top - 1}")
    return a


def read_pickle(data: bytes, name: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,)) from the python version's train or test."""
    d = _unpickle(data, name)
    x = d.get("data")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(name, "not a CIFAR-100 file (data is not a uint8 (N, 3072) array)")
    y = _labels(d.get(f"{labels}_labels"), x.shape[0], N_CLASSES[labels], name, f"{labels}_labels")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), y


def _names(v: object, n: int, name: str, key: str) -> list[str]:
    if (
        not isinstance(v, list)
        or len(v) != n
        or not all(isinstance(s, (bytes, str)) and 0 < len(s) <= MAX_NAME for s in v)
    ):
        raise DataError(name, f"not CIFAR-100's meta file ({key} is not {n} short names)")
    out = [s.decode("latin1") if isinstance(s, bytes) else s for s in v]
    if any(not s.isprintable() for s in out):
        raise DataError(name, f"{key} holds control characters")
    return out


def read_meta(data: bytes, name: str, labels: str) -> list[str]:
    """The class names of the python version's ``meta`` file."""
    d = _unpickle(data, name)
    key = f"{labels}_label_names"
    return _names(d.get(key), N_CLASSES[labels], name, key)


def read_binary(data: bytes, name: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the binary version: records of coarse, fine label and 3072 pixels."""
    if len(data) == 0 or len(data) % RECORD:
        raise DataError(name, f"size {len(data):,} is not a whole number of {RECORD}-byte records")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    col = 0 if labels == "coarse" else 1
    y = rec[:, col].astype(np.int64)
    if rec[:, 0].max() >= 20 or rec[:, 1].max() >= 100:
        raise DataError(name, "labels outside 0-19 (coarse) / 0-99 (fine): not CIFAR-100 binary")
    return rec[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), y


def read_names_txt(data: bytes, name: str, labels: str) -> list[str]:
    """The class names of a binary-version names file (one a line), checked against the label set's
    class count; DataError naming ``name`` otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(name, "class names are not UTF-8 text") from None
    return _names([s.strip() for s in text.splitlines() if s.strip()], N_CLASSES[labels], name, "")


def detect(source: str | os.PathLike[str]) -> str | None:
    """'python' or 'binary' if ``source`` is an official CIFAR-100 archive (by name) or
    extracted folder (by the files it holds), else None."""
    p = Path(source)
    name = p.name
    if name.startswith("cifar-100-python") and archive.is_tar(p):
        return "python"
    if name.startswith("cifar-100-binary") and archive.is_tar(p):
        return "binary"
    if not p.is_dir():
        return None
    for folder in (p, p / "cifar-100-python", p / "cifar-100-binary"):
        if all((folder / f).is_file() for f in ("train", "test", "meta")):
            return "python"
        if (folder / "train.bin").is_file() and (folder / "test.bin").is_file():
            return "binary"
    return None


def _folder(p: Path, kind: str) -> Path:
    for folder in (p, p / f"cifar-100-{kind}"):
        if kind == "python" and (folder / "meta").is_file():
            return folder
        if kind == "binary" and (folder / "train.bin").is_file():
            return folder
    raise DataError(p, f"no CIFAR-100 {kind} files found")


def _read_file(f: Path) -> bytes:
    from .images import read_regular_file

    return read_regular_file(f, MAX_FILE_BYTES, str(f))


def load_cifar100(
    source: str | os.PathLike[str],
    split: str = "train",
    verify: bool = True,
    labels: str = "fine",
) -> ImageSet:
    """The ``train`` (50,000) or ``test`` (10,000) split, with ``fine`` (100) or ``coarse``
    (20) labels, from an official archive or its extracted folder."""
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-100 has splits 'train' and 'test', not {split!r}")
    if labels not in LABELS:
        raise ValueError(f"--labels must be fine or coarse, not {labels!r}")
    source = Path(source)
    kind = detect(source)
    if kind is None:
        raise DataError(source, "not an official CIFAR-100 archive or folder")
    if kind == "python":
        want = {split: split, "meta": "meta"}
    else:
        want = {split: f"{split}.bin", "meta": f"{labels}_label_names.txt"}
    parts: dict[str, bytes] = {}
    if archive.is_tar(source):
        if kind == "binary":
            _check_archive(source, verify)
        for rel, data in archive.iter_files(source, max_member=MAX_FILE_BYTES):
            for key, file in want.items():
                if rel.name == file and data is not None:
                    parts[key] = data
    else:
        folder = _folder(source, kind)
        for key, file in want.items():
            if (folder / file).exists():
                parts[key] = _read_file(folder / file)
    missing = [want[k] for k in want if k not in parts]
    if missing:
        raise DataError(source, f"missing {', '.join(missing)} for the {split} split")
    label = f"{source}:{want[split]}"
    if kind == "python":
        for key in (split, "meta"):
            cifar10._check_md5(f"{source}:{want[key]}", parts[key], FILE_MD5[key], verify)
        images, y = read_pickle(parts[split], label, labels)
        classes = read_meta(parts["meta"], f"{source}:meta", labels)
    else:
        images, y = read_binary(parts[split], label, labels)
        classes = read_names_txt(parts["meta"], f"{source}:{want['meta']}", labels)
    return ImageSet(
        images, y, classes, str(source), split, {"format": f"cifar100-{kind}", "labels": labels}
    )


def _check_archive(path: Path, verify: bool) -> None:
    if verify:
        from .download import md5sum

        got = md5sum(path)
        want = ARCHIVE_MD5["cifar-100-binary.tar.gz"]
        if got != want:
            raise DataError(
                path,
                f"MD5 mismatch (expected {want}, got {got}): not the official binary archive "
                "(--no-checksum reads it anyway)",
            )


def fetch(root: str | os.PathLike[str], kind: str = "python", progress: bool = True) -> Path:
    """The official archive under ``root``, downloaded (atomically, MD5 checked) if absent."""
    name = f"cifar-100-{kind}.tar.gz"
    dest = Path(root) / name
    if dest.exists():
        return dest
    return download(URLS[kind], dest, md5=ARCHIVE_MD5[name], progress=progress)
