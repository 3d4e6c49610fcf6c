"""SVHN's cropped digits (format 2): ``train_32x32.mat`` and ``test_32x32.mat``.

Each file is MATLAB v5, read with SciPy's loader (``scipy.io.loadmat``; no pickle anywhere),
holding ``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1) with labels 1 … 10, where 10 stands for
the digit 0 (http://ufldl.stanford.edu/housenumbers/). Images become (N, 32, 32, 3) uint8
and labels 0 … 9 (label 10 → 0), classes "0" … "9".

A ``.mat`` file may be hostile, so before SciPy parses it: only a regular file of at most
:data:`MAX_FILE_BYTES` (the training file has 182 MB; ``extra_32x32.mat``, 1.3 GB, is
refused), a v5 header, and top-level elements that are plain (uncompressed) matrices tiling
the file exactly — a compressed element could inflate without bound; then its variables are
listed (``whosmat``, headers only) and must be exactly ``X`` and ``y`` with the shapes and
types above, N at most :data:`MAX_IMAGES`. A file of the published size must have the
published MD5 (``verify=False`` skips that). Every refusal is one
:class:`~vedere.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import numpy as np

from .download import download, md5sum
from .errors import DataError
from .imageset import ImageSet

URL = "http://ufldl.stanford.edu/housenumbers/"
#: the published files: name → (bytes, MD5)
PUBLISHED = {
    "train_32x32.mat": (182040794, "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test_32x32.mat": (64275384, "eb5a983be6a315427106f1b164d9cef3"),
}
CLASSES = [str(d) for d in range(10)]
MAX_FILE_BYTES = 256 * 2**20
MAX_IMAGES = 200_000
MAX_ELEMENTS = 64
MI_MATRIX, MI_COMPRESSED = 14, 15
#: MATLAB classes ``y`` may have (the labels are small integers in any of them)
LABEL_CLASSES = {"double", "single", "uint8", "int8", "uint16", "int16", "int32", "uint32", "int64"}


def _check_structure(path: Path) -> None:
    """Regular file, size cap, MATLAB v5 header, top-level plain matrices tiling the file."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(path, f"cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(path, "not a regular file (a FIFO, device or socket); refused")
    if st.st_size > MAX_FILE_BYTES:
        raise DataError(
            path, f"file of {st.st_size:,} bytes; .mat files are read up to {MAX_FILE_BYTES:,}"
        )
    with open(path, "rb") as f:
        header = f.read(128)
        if len(header) < 128 or not header.startswith(b"MATLAB 5.0 MAT-file"):
            raise DataError(path, "not a MATLAB v5 .mat file (v7.3/HDF5 files are not read)")
        if header[126:128] not in (b"IM", b"MI"):
            raise DataError(path, "corrupt .mat header (no endian indicator)")
        order = "<" if header[126:128] == b"IM" else ">"
        pos, count = 128, 0
        while pos < st.st_size:
            count += 1
            if count > MAX_ELEMENTS:
                raise DataError(path, f"more than {MAX_ELEMENTS} variables; not an SVHN file")
            f.seek(pos)
            tag = f.read(8)
            if len(tag) < 8:
                raise DataError(path, "truncated .mat file (a cut element tag)")
            kind, nbytes = struct.unpack(order + "II", tag)
            if kind == MI_COMPRESSED:
                raise DataError(path, "compressed .mat variables are refused (SVHN's are plain)")
            if kind != MI_MATRIX:
                raise DataError(path, f"corrupt .mat file (top-level element of type {kind})")
            pos += 8 + nbytes + (-nbytes % 8)
        if pos != st.st_size:
            raise DataError(path, "truncated .mat file (its last variable is cut)")


def _check_md5(path: Path, verify: bool) -> None:
    size = path.stat().st_size
    for name, (published, md5) in PUBLISHED.items():
        if size == published and verify:
            got = md5sum(path)
            if got != md5:
                raise DataError(
                    path,
                    f"MD5 mismatch: the size of the published {name} but MD5 {got}: truncated, "
                    "tampered or not the official file (--no-checksum reads it anyway)",
                )


def read_mat(path: str | os.PathLike[str], verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,) 0-9) of one SVHN ``.mat`` file."""
    import scipy.io

    path = Path(path)
    _check_structure(path)
    _check_md5(path, verify)
    try:
        listing = {name: (tuple(shape), cls) for name, shape, cls in scipy.io.whosmat(str(path))}
    except Exception as e:  # SciPy raises many kinds on a damaged file
        raise DataError(path, f"corrupt .mat file ({e.__class__.__name__}: {e})") from None
    if set(listing) != {"X", "y"}:
        names = ", ".join(sorted(listing)[:8])
        raise DataError(path, f"an SVHN file holds exactly X and y, this one {names or 'nothing'}")
    (xs, xc), (ys, yc) = listing["X"], listing["y"]
    if len(xs) != 4 or xs[:3] != (32, 32, 3) or xc != "uint8":
        raise DataError(path, f"X must be uint8 (32, 32, 3, N), it is {xc} {xs}")
    n = xs[3]
    if n > MAX_IMAGES:
        raise DataError(path, f"{n:,} images (at most {MAX_IMAGES:,})")
    if ys not in ((n, 1), (1, n)) or yc not in LABEL_CLASSES:
        raise DataError(path, f"y must be ({n}, 1) labels, it is {yc} {ys}")
    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:
        raise DataError(path, f"corrupt .mat file ({e.__class__.__name__}: {e})") from None
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.shape != (32, 32, 3, n):
        raise DataError(path, "X is not the uint8 (32, 32, 3, N) array its header declares")
    if not isinstance(y, np.ndarray) or y.size != n or y.dtype.kind not in "fiu":
        raise DataError(path, "y is not the N labels its header declares")
    y = y.reshape(-1)
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or y.min() < 1 or y.max() > 10:
        raise DataError(path, "labels outside 1-10 (SVHN's labels; 10 is the digit 0)")
    labels = y.astype(np.int64) % 10  # 10 → 0
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), labels


def _split_file(source: Path, split: str) -> Path | None:
    if source.is_file():
        return source if source.name.lower().startswith(split) else None
    found = sorted(
        e.path
        for e in os.scandir(source)
        if e.name.lower().startswith(split)
        and e.name.lower().endswith(".mat")
        and e.is_file(follow_symlinks=False)
    )
    if len(found) > 1:
        raise DataError(source, f"several {split} .mat files ({', '.join(found[:3])}); keep one")
    return Path(found[0]) if found else None


def _is_mat(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(19) == b"MATLAB 5.0 MAT-file"
    except OSError:
        return False


def detect(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a v5 ``.mat`` file, or a folder with a train*/test* one."""
    p = Path(source)
    if p.is_file():
        return p.name.lower().endswith(".mat") and _is_mat(p)
    if not p.is_dir():
        return False
    try:
        return any(
            f is not None and _is_mat(f) for f in (_split_file(p, s) for s in ("train", "test"))
        )
    except (OSError, DataError):
        return False


def load_svhn(
    source: str | os.PathLike[str], split: str = "train", verify: bool = True
) -> ImageSet:
    """The ``train`` or ``test`` split of SVHN from a folder holding ``train_32x32.mat`` /
    ``test_32x32.mat`` (any names starting with the split), or from one such file."""
    if split not in ("train", "test"):
        raise ValueError(f"SVHN has splits 'train' and 'test', not {split!r}")
    source = Path(source)
    f = _split_file(source, split)
    if f is None:
        raise DataError(source, f"no {split}*.mat file for the {split} split")
    images, labels = read_mat(f, verify)
    return ImageSet(images, labels, list(CLASSES), str(source), split, {"format": "svhn-mat"})


def fetch(root: str | os.PathLike[str], progress: bool = True) -> Path:
    """The folder ``root`` with the published train and test files (downloaded atomically,
    MD5 checked, if absent)."""
    root = Path(root)
    for name, (_, md5) in PUBLISHED.items():
        dest = root / name
        if not dest.exists():
            download(URL + name, dest, md5=md5, progress=progress)
    return root
