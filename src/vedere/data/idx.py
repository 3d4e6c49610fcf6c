"""IDX files (LeCun's format of MNIST and Fashion-MNIST), plain or gzipped, read defensively.

Layout (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number ``00 00 T D`` — T the
element type (``08``: unsigned byte, the only one these datasets use), D the number of
dimensions — then D sizes as big-endian 32-bit unsigned integers, then the elements in
row-major order. Images are ``idx3`` (N, rows, columns), labels ``idx1`` (N,).

A file may be hostile, so: only a regular file of at most :data:`MAX_FILE_BYTES` is read;
the declared sizes are checked (count, sides) and their product against the bytes the file
really holds *before* anything is allocated; a gzipped file is inflated only up to the size
its header declares (so a decompression bomb stops there), and a truncated stream, trailing
bytes or a size mismatch is one :class:`~vedere.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from .errors import DataError
from .images import read_regular_file

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
#: cap on an IDX file as stored (the largest official file, MNIST's training images, has
#: 47 MB raw and 9.9 MB gzipped)
MAX_FILE_BYTES = 256 * 2**20
#: caps on what a header may declare: items, image sides and the elements in all
MAX_ITEMS = 1_000_000
MAX_SIDE = 512
MAX_ELEMENTS = 256 * 2**20


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A regular file's bytes (capped); DataError naming it otherwise."""
    return read_regular_file(path, MAX_FILE_BYTES, str(path))


def _inflate(label: str, data: bytes, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of gzip ``data`` and whether the stream ended by then."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit)
    except zlib.error as e:
        raise DataError(label, f"corrupt gzip stream ({e})") from None
    return out, d.eof and not d.unconsumed_tail


def peek(data: bytes, label: str) -> tuple[int, tuple[int, ...]] | None:
    """(element type, declared sizes) of IDX ``data`` (gzipped or not), or None if the
    bytes do not start like an IDX file. Reads only the header."""
    head = data[:64]
    if data[:2] == GZIP_MAGIC:
        try:
            head, _ = _inflate(label, data, 4 + 4 * 4)
        except DataError:
            return None
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or not 1 <= head[3] <= 4:
        return None
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    return head[2], dims


def parse(data: bytes, label: str, ndim: int) -> np.ndarray:
    """The uint8 array of IDX ``data`` (gzipped or not) with ``ndim`` dimensions, its sizes
    checked before it is allocated: (N,) labels or (N, rows, cols) images."""
    header = peek(data, label)
    if header is None:
        raise DataError(label, "not an IDX file (no 00 00 08 0D magic number)")
    kind, dims = header
    if kind != UBYTE:
        raise DataError(
            label, f"IDX element type 0x{kind:02x}; only unsigned bytes (0x08) are read"
        )
    if len(dims) != ndim:
        what = "labels (idx1)" if ndim == 1 else "images (idx3)"
        raise DataError(label, f"IDX file of {len(dims)} dimensions, expected {what}")
    if dims[0] > MAX_ITEMS:
        raise DataError(label, f"IDX header declares {dims[0]:,} items (at most {MAX_ITEMS:,})")
    if any(not 1 <= d <= MAX_SIDE for d in dims[1:]):
        raise DataError(label, f"IDX header declares images of {dims[1:]} (sides 1-{MAX_SIDE})")
    n = math.prod(dims)
    if n > MAX_ELEMENTS:
        raise DataError(label, f"IDX header declares {n:,} bytes (at most {MAX_ELEMENTS:,})")
    start = 4 + 4 * ndim
    want = start + n
    if data[:2] == GZIP_MAGIC:  # inflate no more than the header pays for, plus one byte
        raw, ended = _inflate(label, data, want + 1)
        if len(raw) > want:
            raise DataError(label, f"IDX data longer than its header's {dims} declares")
        if len(raw) < want:
            raise DataError(
                label,
                f"truncated: its header declares {dims} ({want:,} bytes), it holds {len(raw):,}",
            )
        if not ended:
            raise DataError(label, "truncated or damaged gzip stream (no end after the data)")
    else:
        raw = data
        if len(raw) != want:
            raise DataError(
                label,
                f"{'truncated' if len(raw) < want else 'trailing bytes'}: its header declares "
                f"{dims} ({want:,} bytes), the file has {len(raw):,}",
            )
    return np.frombuffer(raw, dtype=np.uint8, count=n, offset=start).reshape(dims)


def encode(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (the inverse of :func:`parse`; tests and tools)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, UBYTE, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
