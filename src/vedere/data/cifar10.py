"""CIFAR-10 from its official archives: the python and the binary versions, packed or not.

Layouts read (https://www.cs.toronto.edu/~kriz/cifar.html):

- python: ``cifar-10-python.tar.gz`` → ``cifar-10-batches-py/{data_batch_1..5, test_batch,
  batches.meta}``, each a pickle of a dict ``{b"data": uint8 (10000, 3072), b"labels": [...],
  ...}``, rows stored channel-major (R plane, G plane, B plane of 32×32);
- binary: ``cifar-10-binary.tar.gz`` → ``cifar-10-batches-bin/{data_batch_1..5.bin,
  test_batch.bin, batches.meta.txt}``, records of 1 label byte + 3072 pixel bytes.

Integrity is checked by content, never by file name: every python batch (packed or
extracted) against its published MD5 sum, and a binary archive, for whose batches no sums
are published, against the official archive's sum. An extracted binary folder cannot be
verified (only its record structure is checked). The pickles are
read with :class:`RestrictedUnpickler`, which admits only what these files contain (NumPy's
array reconstruction, dicts, lists, bytes, ints): a tampered pickle that names any other
callable is refused before anything runs.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import archive
from .download import download, md5sum
from .errors import DataError
from .imageset import ImageSet

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
URLS = {
    "python": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "binary": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
}
ARCHIVE_MD5 = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
}
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
SPLIT_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
RECORD = 1 + 3072


#: the most elements an array in a batch pickle may declare (10,000 × 3,072 in the official ones)
MAX_BATCH_ELEMENTS = 10_000 * 3072
#: dtypes an array in a batch pickle may have
BATCH_DTYPES = frozenset({"u1", "|u1", "uint8", "i8", "<i8", "int64"})


def _reconstruct(cls: object, shape: object, dtype_code: object) -> np.ndarray:
    """NumPy's ``_reconstruct`` for the empty array a pickle fills in afterwards (BUILD),
    refusing a declared shape larger than a batch before anything is allocated."""
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("refused: _reconstruct of something other than ndarray")
    if (
        not isinstance(shape, tuple)
        or len(shape) > 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)
        or math.prod(shape) > MAX_BATCH_ELEMENTS
    ):
        raise pickle.UnpicklingError(f"refused: array of declared shape {shape!r}")
    if not isinstance(dtype_code, bytes) or len(dtype_code) > 8:
        raise pickle.UnpicklingError("refused: array with an odd type code")
    return np.ndarray.__new__(np.ndarray, shape, np.uint8)


def _dtype(spec: object, align: object = False, copy: object = True) -> np.dtype:
    """``numpy.dtype`` limited to the plain types of CIFAR-10's batches."""
    if not isinstance(spec, str) or spec not in BATCH_DTYPES:
        raise pickle.UnpicklingError(f"refused: dtype {spec!r}")
    return np.dtype(spec)


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes in protocol 2: a str of at most a batch's
    size, latin-1 only. Any other codec (``hex``, ``base64``, nested) could expand a small
    pickle into gigabytes, so it is refused."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused: _codecs.encode with {encoding!r}")
    if len(text) > MAX_BATCH_ELEMENTS:
        raise pickle.UnpicklingError(f"refused: a string of {len(text):,} characters")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only CIFAR-10's batches: NumPy arrays of plain dtypes, dicts, lists, bytes.

    The few callables a batch names are replaced by checked versions: an array's declared
    shape, dtype and every string turned into bytes are bounded before they are built, so a
    tampered batch can neither run code nor allocate more than a real batch would.
    """

    ALLOWED: ClassVar[dict[tuple[str, str], object]] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _dtype,
        ("_codecs", "encode"): _latin1,  # how Python 3 writes bytes in protocol 2
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return self.ALLOWED[(module, name)]


def unpickle_dict(
    data: bytes,
    name: str,
    what: str = "CIFAR-10 batch",
    unpickler: type[pickle.Unpickler] | None = None,
) -> dict:
    """The plain dict (keys decoded to str) a python-version CIFAR file holds, read with
    ``unpickler`` (default :class:`RestrictedUnpickler`: only plain arrays, lists and
    bytes); DataError naming ``name`` as ``what`` when it is tampered, truncated or not a
    dict."""
    try:
        d = (unpickler or RestrictedUnpickler)(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(name, f"tampered or not a {what} ({e})") from None
    except Exception as e:  # truncated or garbage pickles raise many different errors
        raise DataError(name, f"corrupt {what} ({e.__class__.__name__}: {e})") from None
    if not isinstance(d, dict):
        raise DataError(name, f"not a {what} (not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def read_batch_pickle(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,)) from one python-version batch file."""
    d = unpickle_dict(data, name)
    x, y = d.get("data"), d.get("labels")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(name, "not a CIFAR-10 batch (data is not a uint8 (N, 3072) array)")
    if not isinstance(y, list) or len(y) != x.shape[0] or not all(isinstance(v, int) for v in y):
        raise DataError(name, "not a CIFAR-10 batch (labels are not a list of N ints)")
    labels = np.asarray(y, dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(name, "labels outside 0..9")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def read_batch_binary(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from one binary-version batch: records of label byte + 3072 pixels."""
    if len(data) == 0 or len(data) % RECORD:
        raise DataError(name, f"size {len(data)} is not a whole number of {RECORD}-byte records")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(name, "labels outside 0..9 (not a CIFAR-10 binary batch)")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


#: largest batch file read (the official ones are 30.7–31.1 MB)
MAX_BATCH_BYTES = 40 * 2**20


def _check_md5(label: str | os.PathLike[str], data: bytes, expected: str, verify: bool) -> None:
    if verify:
        got = hashlib.md5(data).hexdigest()
        if got != expected:
            raise DataError(
                label,
                f"MD5 mismatch (expected {expected}, got {got}): truncated, tampered "
                "or not the official file (--no-checksum reads it anyway)",
            )


def _check_archive_md5(path: Path, verify: bool) -> None:
    """The binary version publishes no per-batch sums: its archive as a whole must be the
    official one (whatever its file name)."""
    if verify:
        got = md5sum(path)
        if got != ARCHIVE_MD5["cifar-10-binary.tar.gz"]:
            raise DataError(
                path,
                f"MD5 mismatch (expected {ARCHIVE_MD5['cifar-10-binary.tar.gz']}, got {got}): "
                "not the official binary archive (--no-checksum reads it anyway)",
            )


def _read_batch_file(f: Path) -> bytes:
    size = f.stat().st_size
    if not f.is_file() or size > MAX_BATCH_BYTES:
        raise DataError(f, f"not a CIFAR-10 batch (a file of at most {MAX_BATCH_BYTES:,} bytes)")
    return f.read_bytes()


def detect(source: str | os.PathLike[str]) -> str | None:
    """'python' or 'binary' if ``source`` is an official CIFAR-10 archive or extracted
    folder (by name and content), else None."""
    p = Path(source)
    name = p.name
    if (
        name.startswith("cifar-10-python")
        or (p / "cifar-10-batches-py").is_dir()
        or name == "cifar-10-batches-py"
    ):
        return "python"
    if (
        name.startswith("cifar-10-binary")
        or (p / "cifar-10-batches-bin").is_dir()
        or name == "cifar-10-batches-bin"
    ):
        return "binary"
    return None


def load_cifar10(
    source: str | os.PathLike[str],
    split: str = "train",
    verify: bool = True,
) -> ImageSet:
    """The ``train`` (50,000) or ``test`` (10,000) split from an official archive (.tar.gz)
    or its extracted folder (either the ``cifar-10-batches-*`` folder or its parent)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"CIFAR-10 has splits 'train' and 'test', not {split!r}")
    source = Path(source)
    kind = detect(source)
    if kind is None:
        raise DataError(source, "not an official CIFAR-10 archive or folder")
    if not source.exists():
        raise DataError(source, "no such file or directory")
    wanted = SPLIT_FILES[split]
    suffix = ".bin" if kind == "binary" else ""
    parts: dict[str, bytes] = {}
    if archive.is_tar(source):
        if kind == "binary":
            _check_archive_md5(source, verify)
        for rel, data in archive.iter_files(source, max_member=MAX_BATCH_BYTES):
            stem = rel.name[: -len(suffix)] if suffix and rel.name.endswith(suffix) else rel.name
            if stem in wanted and data is not None:
                if kind == "python":  # checked by content: each batch against its own sum
                    _check_md5(f"{source}:{rel}", data, BATCH_MD5[stem], verify)
                parts[stem] = data
    else:
        folder = (
            source
            if source.name.startswith("cifar-10-batches")
            else source / f"cifar-10-batches-{'py' if kind == 'python' else 'bin'}"
        )
        for stem in wanted:
            f = folder / (stem + suffix)
            if f.exists():
                data = _read_batch_file(f)
                if kind == "python":
                    _check_md5(f, data, BATCH_MD5[stem], verify)
                parts[stem] = data
    missing = [s + suffix for s in wanted if s not in parts]
    if missing:
        raise DataError(source, f"missing {', '.join(missing)} for the {split} split")
    reader = read_batch_pickle if kind == "python" else read_batch_binary
    xs, ys = zip(*(reader(parts[s], f"{source}:{s}{suffix}") for s in wanted), strict=True)
    return ImageSet(
        np.concatenate(xs),
        np.concatenate(ys),
        list(CLASSES),
        str(source),
        split,
        {"format": f"cifar10-{kind}"},
    )


def fetch(root: str | os.PathLike[str], kind: str = "python", progress: bool = True) -> Path:
    """The official archive under ``root``, downloaded (with its MD5 checked) if absent."""
    name = f"cifar-10-{kind}.tar.gz"
    dest = Path(root) / name
    if dest.exists():
        return dest
    return download(URLS[kind], dest, md5=ARCHIVE_MD5[name], progress=progress)
