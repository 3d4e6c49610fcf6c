"""Errors of the data layer: each message names the file and what is wrong with it."""

from __future__ import annotations

from ..errors import VedereError


class DataError(VedereError):
    """A dataset that cannot be read: ``DataError(path, problem)``; ``str(e)`` is one line
    naming the file and the problem."""
