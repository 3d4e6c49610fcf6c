"""vedere's tensor files: safetensors with JSON fields in the header, read as untrusted.

A file holds named tensors and, in its header's ``__metadata__``, a format name and version
(``vedere.model`` for models, :mod:`vedere.nn.io`; another for training checkpoints), JSON
fields written by :func:`pack` (``vedere.NAME``) and ``vedere.sha256``, a digest of every
tensor's name, dtype, shape and bytes. Nothing is ever unpickled.

A file may come from anyone, so reading trusts nothing in it and allocates nothing the file
does not pay for, in this order:

1. only a regular file of at most :data:`MAX_FILE_BYTES` is opened (never a FIFO or a
   device such as ``/dev/zero``);
2. the header (at most :data:`MAX_HEADER` bytes) is parsed with :mod:`vedere.safejson`
   (bounded depth, integers and numbers), and so is every JSON field inside it;
3. every tensor's dtype, shape and byte range is checked against the others and against
   the file's size: the tensors must tile the data section exactly;
4. only then is the data read (once, without copies) and its digest verified
   (:meth:`TensorFile.read`) — a caller checks what the tensors must be before that.

Every refusal is a :class:`ModelFileError` that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from safetensors.numpy import save as st_save

from .. import safejson
from ..errors import VedereError

FORMAT = "vedere.model"
FORMAT_VERSION = "1"
#: cap on the JSON header of a model or checkpoint file
MAX_HEADER = 16 * 1024 * 1024
#: cap on a model or checkpoint file's size (vedere's largest models take a few tens of MB)
MAX_FILE_BYTES = 1 << 30
#: cap on the number of tensors and on the rank of each
MAX_TENSORS = 10_000
MAX_NDIM = 8

#: safetensors dtype names → NumPy dtypes (little-endian, as the format specifies)
DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
#: the dtypes a model's saved arrays may have: float parameters (and statistics), int64
#: counters, float16 parameters (saved with ``precision="float16"``, widened to float32 on
#: loading), so building never takes more than three times the file; int8 weights
#: (:mod:`vedere.nn.precision`) are admitted only with their scales and widen to four times
#: their bytes, within ``precision.MAX_INT8_VALUES``
STATE_DTYPES = (np.dtype("<f2"), np.dtype("<f4"), np.dtype("<f8"), np.dtype("<i8"))


class ModelFileError(VedereError):
    """A model file that cannot be used: ``ModelFileError(path, problem)``, the message
    names the file and the reason."""


def _digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.reshape(-1).view(np.uint8))  # the bytes, without a copy
    return h.hexdigest()


def pack(tensors: dict[str, np.ndarray], fields: dict[str, Any], fmt: str = FORMAT) -> bytes:
    """Safetensors bytes: ``tensors`` plus each of ``fields`` as JSON in the header, the
    format name and version, and a SHA-256 of the tensors."""
    # reshape: ascontiguousarray makes 0-d arrays (BatchNorm's num_batches_tracked) 1-d
    tensors = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in tensors.items()}
    meta = {f"vedere.{k}": json.dumps(v, sort_keys=True) for k, v in fields.items()}
    meta.update(format=fmt, format_version=FORMAT_VERSION)
    meta["vedere.sha256"] = _digest(tensors)
    return st_save(tensors, metadata=meta)


# -- reading: layout first, data last ----------------------------------------------------
@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header declares it: dtype, shape and byte range in the data section."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Layout:
    """A safetensors file's header, validated against the file's size; no data read yet."""

    path: Path
    data_start: int
    data_size: int
    tensors: dict[str, TensorInfo]
    meta: dict[str, str]


def _open_regular(path: Path, max_bytes: int) -> tuple[BinaryIO, int]:
    """Open ``path`` for reading if it is a regular file of at most ``max_bytes`` bytes.

    Opened non-blocking and checked with fstat, so a FIFO never blocks and a file swapped
    for a device between the check and the open is still refused."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") from None
    except OSError as e:
        raise ModelFileError(path, f"cannot read ({e.strerror})") from None
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise ModelFileError(path, "is a directory, not a model file")
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ModelFileError(path, "not a regular file (a device, FIFO or socket)")
    if st.st_size > max_bytes:
        os.close(fd)
        raise ModelFileError(path, f"file of {st.st_size:,} bytes (at most {max_bytes:,})")
    return os.fdopen(fd, "rb"), st.st_size


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def _tensor_info(path: Path, name: str, entry: Any) -> TensorInfo:
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(path, f"corrupt header: tensor {name[:80]!r} {problem}")

    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise bad("needs exactly dtype, shape and data_offsets")
    dtype = DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    if dtype is None:
        raise bad(f"has an unsupported dtype {str(entry['dtype'])[:20]!r}")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(type(d) is int and 0 <= d <= MAX_FILE_BYTES for d in shape)
    ):
        raise bad(f"has an invalid shape (a list of at most {MAX_NDIM} sizes)")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and 0 <= o <= MAX_FILE_BYTES for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise bad("has invalid data_offsets")
    nbytes = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise bad(
            f"of shape {tuple(shape)} {entry['dtype']} needs {nbytes:,} bytes, "
            f"its data_offsets give {offsets[1] - offsets[0]:,}"
        )
    return TensorInfo(name, dtype, tuple(shape), offsets[0], offsets[1])


def _read_layout(path: Path, f: BinaryIO, size: int) -> Layout:
    """The header of the open file ``f`` (``size`` bytes), validated; see the module docstring."""
    prefix = _read_exactly(f, 8)
    if len(prefix) < 8:
        raise ModelFileError(path, f"file is truncated ({size} bytes; not a safetensors file)")
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER or 8 + n > size:
        raise ModelFileError(
            path,
            f"file is truncated or not a safetensors file (header claims {n} bytes, "
            f"file has {size})",
        )
    raw = _read_exactly(f, n)
    if len(raw) != n:
        raise ModelFileError(path, "file is truncated (it shrank while being read)")
    try:
        header = safejson.loads(raw, max_bytes=MAX_HEADER)
    except safejson.JSONError as e:
        raise ModelFileError(path, f"corrupt header ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "corrupt header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(path, "corrupt header (__metadata__ must map names to strings)")
    if len(header) > MAX_TENSORS:
        raise ModelFileError(path, f"corrupt header ({len(header):,} tensors)")
    tensors = {name: _tensor_info(path, name, entry) for name, entry in header.items()}
    # the tensors must tile the data section exactly: no gaps, no overlaps, nothing beyond
    data_size = size - 8 - n
    end = 0
    for t in sorted(tensors.values(), key=lambda t: (t.start, t.end)):
        if t.start != end:
            raise ModelFileError(
                path, f"corrupt header: tensor {t.name[:80]!r} overlaps another or leaves a gap"
            )
        end = t.end
    if end != data_size:
        raise ModelFileError(
            path,
            f"file is truncated or corrupt: the tensors declare {end:,} bytes of data, "
            f"the file holds {data_size:,}",
        )
    return Layout(path, 8 + n, data_size, tensors, meta)


def _read_data(layout: Layout, f: BinaryIO) -> dict[str, np.ndarray]:
    """The tensors of ``layout``, read in one piece (the file's size, already checked) as
    read-only views of it."""
    f.seek(layout.data_start)
    buf = _read_exactly(f, layout.data_size)
    if len(buf) != layout.data_size:
        raise ModelFileError(layout.path, "file is truncated (it shrank while being read)")
    return {
        name: np.frombuffer(buf, dtype=t.dtype, count=math.prod(t.shape), offset=t.start).reshape(
            t.shape
        )
        for name, t in layout.tensors.items()
    }


def _check_format(layout: Layout, fmt: str) -> None:
    meta = layout.meta
    if meta.get("format") != fmt:
        what = "model" if fmt == FORMAT else "checkpoint"
        got = meta.get("format")
        raise ModelFileError(
            layout.path,
            f"not a vedere {what} file (format {got[:40] if got else got!r})",
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            layout.path, f"unsupported format version {str(meta.get('format_version'))[:20]!r}"
        )


def _verified(layout: Layout, f: BinaryIO) -> dict[str, np.ndarray]:
    tensors = _read_data(layout, f)
    if _digest(tensors) != layout.meta.get("vedere.sha256"):
        raise ModelFileError(layout.path, "checksum mismatch: the weights were modified or damaged")
    return tensors


class TensorFile:
    """A tensor file open for reading, its layout checked (steps 1 to 3 of the module's
    docstring) and its format ``fmt``, no data read yet: a context manager.

    ``tensors``: what the header declares, by name (:class:`TensorInfo`); :meth:`field` a
    JSON field of the header; :meth:`read` every tensor, read and verified."""

    def __init__(self, path: str | os.PathLike[str], fmt: str = FORMAT) -> None:
        self.path = Path(path)
        self._f, size = _open_regular(self.path, MAX_FILE_BYTES)
        try:
            self.layout = _read_layout(self.path, self._f, size)
            _check_format(self.layout, fmt)
        except BaseException:
            self._f.close()
            raise
        self.tensors = self.layout.tensors
        self.meta = self.layout.meta

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def field(self, key: str, allow_nan: bool = False) -> Any:
        """The header's field ``key`` parsed as bounded JSON (NaN and ±Infinity only with
        ``allow_nan``); ModelFileError when it is missing or not JSON."""
        return _json_field(self.path, self.meta, key, allow_nan)

    def read(self) -> dict[str, np.ndarray]:
        """Every tensor (read-only arrays), read in one piece, its digest verified."""
        return _verified(self.layout, self._f)


def read_tensors(
    path: str | os.PathLike[str], fmt: str = FORMAT
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors (read-only arrays) and the string metadata of a safetensors file of
    format ``fmt``, with the layout and the digest verified."""
    with TensorFile(path, fmt) as tf:
        return tf.read(), tf.meta


def unpack(path: str | os.PathLike[str], fmt: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Tensors and the JSON fields written by :func:`pack`, verified.

    The fields may hold NaN and ±Infinity (``json.dumps`` writes them; a training history
    has them), but are otherwise as bounded as :mod:`vedere.safejson`'s."""
    path = Path(path)
    tensors, meta = read_tensors(path, fmt)
    fields = {
        k[len("vedere.") :]: _json_field(path, meta, k, allow_nan=True)
        for k in meta
        if k.startswith("vedere.") and k != "vedere.sha256"
    }
    return tensors, fields


def _loads_with_non_finite(text: str) -> Any:
    """``safejson.loads`` that lets NaN and ±Infinity through (as floats)."""
    if len(text) > MAX_HEADER:
        raise safejson.JSONError(f"JSON document of {len(text):,} bytes")

    def bounded_int(s: str) -> int:
        if len(s.lstrip("-")) > safejson.MAX_INT_DIGITS:
            raise safejson.JSONError(f"integer with {len(s)} digits")
        return int(s)

    try:
        doc = json.loads(text, parse_int=bounded_int)
    except RecursionError:
        raise safejson.JSONError("JSON nested too deeply") from None
    except safejson.JSONError:
        raise
    except ValueError as e:
        raise safejson.JSONError(f"malformed JSON ({e})") from None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)):
            if depth > safejson.MAX_DEPTH:
                raise safejson.JSONError(f"JSON nested deeper than {safejson.MAX_DEPTH} levels")
            stack.extend((c, depth + 1) for c in children)
    return doc


def _json_field(path: Path, meta: dict[str, str], key: str, allow_nan: bool = False) -> Any:
    if key not in meta:
        raise ModelFileError(path, f"metadata field {key!r} is missing")
    text = meta[key]
    try:
        if allow_nan:
            return _loads_with_non_finite(text)
        return safejson.loads(text, max_bytes=MAX_HEADER)
    except safejson.JSONError as e:
        raise ModelFileError(path, f"metadata field {key!r} is not valid JSON ({e})") from None
