"""``--workers K`` / ``--scheduler ADDR``: the executor of the commands that fan out work."""

from __future__ import annotations

from typing import Any

import click


def open_executor(workers: int | None, scheduler: str | None) -> Any:
    """:func:`vedere.executor.make_executor` for the two options (a usage error if both)."""
    from ..executor import make_executor

    if workers is not None and scheduler:
        raise click.UsageError("give --workers or --scheduler, not both")
    return make_executor(workers, scheduler)
