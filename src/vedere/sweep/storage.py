"""Where a sweep's study lives: an Optuna journal file in the sweep's folder.

A journal is an append-only log of every trial event, written under a file lock, so that a
sweep killed at any moment loses at most the trials that were running, and workers on other
processes (or machines sharing the folder) can report to the same study.
"""

from __future__ import annotations

import os
from typing import Any


def open_storage(path: str | os.PathLike[str]) -> Any:
    """An Optuna JournalStorage on the journal file ``path`` (created if absent)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = str(path)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
