"""Errors of the data layer: each message names the file and what is wrong with it."""

from __future__ import annotations

import os


class DataError(ValueError):
    """A dataset that cannot be read; ``str(e)`` is one line naming the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
