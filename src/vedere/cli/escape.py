"""The CLI's name for :func:`vedere.escape.printable` (the one escaping function)."""

from __future__ import annotations

from ..escape import printable

__all__ = ["printable"]
