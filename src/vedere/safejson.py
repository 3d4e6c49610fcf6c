"""JSON from files and requests that may be hostile: bounded size, depth, numbers and strings.

``json.loads`` alone turns a 100,000-deep nesting into a RecursionError, a 5,000-digit
integer into a ValueError about "int string conversion", ``1e400`` into ``inf`` and
``NaN``/``Infinity`` into floats no one asked for. :func:`loads` and :func:`read` refuse all
of them with a :class:`JSONError` (a ValueError) whose message says what was wrong, and
check the size before parsing anything.

Regular files only: :func:`read` refuses FIFOs, devices and directories before opening them
(``/dev/zero`` given as a config would otherwise be read until memory runs out).
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from .errors import VedereError

#: default cap on a JSON document's size in bytes
MAX_BYTES = 16 * 1024 * 1024
#: default cap on nesting depth (objects and arrays)
MAX_DEPTH = 64
#: cap on the digits of an integer literal (int64 needs 19)
MAX_INT_DIGITS = 40


class JSONError(VedereError):
    """A JSON document that is too large, too deep, malformed or holds a non-finite number."""


def _parse_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONError(f"integer with {len(s)} digits (at most {MAX_INT_DIGITS})")
    return int(s)


def _parse_float(s: str) -> float:
    if len(s) > 400:
        raise JSONError(f"number literal of {len(s)} characters")
    v = float(s)
    if not math.isfinite(v):
        raise JSONError(f"number {s[:40]} is out of range")
    return v


def _parse_constant(s: str) -> float:
    raise JSONError(f"{s} is not allowed (only finite numbers)")


def _depth_ok(doc: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return False
        stack.extend((c, depth + 1) for c in children)
    return True


def loads(data: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` like ``json.loads``, refusing what a hostile document could abuse.

    Raises JSONError for: more than ``max_bytes`` bytes, nesting deeper than ``max_depth``,
    integers of more than ``MAX_INT_DIGITS`` digits, numbers outside float64's range,
    NaN/Infinity, malformed JSON or text that is not UTF-8.
    """
    if len(data) > max_bytes:
        raise JSONError(f"JSON document of {len(data):,} bytes (at most {max_bytes:,})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        doc = json.loads(
            data,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise JSONError(f"JSON nested too deeply (at most {max_depth} levels)") from None
    except JSONError:
        raise
    except ValueError as e:  # json.JSONDecodeError and int conversion limits
        raise JSONError(f"malformed JSON ({e})") from None
    if not _depth_ok(doc, max_depth):
        raise JSONError(f"JSON nested too deeply (at most {max_depth} levels)")
    return doc


def read_regular_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, refusing other file types and files over
    ``max_bytes`` before reading (OSError for missing files, ValueError for the rest).

    A symbolic link is followed, but what it points at must be a regular file.
    """
    path = Path(path)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise JSONError("not a regular file")
    if st.st_size > max_bytes:
        raise JSONError(f"file of {st.st_size:,} bytes (at most {max_bytes:,})")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise JSONError(f"file grew past {max_bytes:,} bytes while being read")
    return data


def read(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse the JSON file ``path`` with the checks of :func:`loads` (and regular files only).

    Raises OSError if it cannot be read and JSONError for everything else; callers add the
    file name to the message.
    """
    return loads(read_regular_bytes(path, max_bytes), max_bytes=max_bytes, max_depth=max_depth)
