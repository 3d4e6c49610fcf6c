"""Small text helpers shared by every layer: a value shortened for an error message, and
whether a stream is a terminal (progress bars only there)."""

from __future__ import annotations

from typing import Any


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters (the last three ``...``): a hostile
    file's value named in a one-line error without flooding it."""
    try:
        r = repr(value)
    except ValueError:  # an int of more than sys.get_int_max_str_digits() digits
        return "a huge integer"
    return r if len(r) <= limit else r[: max(0, limit - 3)] + "..."


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; False for anything without a working ``isatty``
    (closed files, pytest's capture, a Dask worker's log)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
