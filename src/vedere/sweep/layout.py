"""The sweep folder's layout (:mod:`.study` writes it, :mod:`.report` reads it)."""

from __future__ import annotations

from pathlib import Path

#: Optuna's journal of every trial, and the specification the sweep was started with
JOURNAL = "study.journal"
SPEC_JSON = "spec.json"
TRIALS = "trials"


def trial_dir(out: Path, number: int) -> Path:
    """The run directory of trial ``number``: ``out/trials/NNNN`` (the only place a trial
    writes)."""
    return out / TRIALS / f"{number:04d}"
