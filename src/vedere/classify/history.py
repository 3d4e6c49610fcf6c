"""Training history: one row per epoch, saved as JSON and CSV (atomically)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text

COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
STOPPED = ("", "epochs", "early_stopping", "converged", "diverged", "interrupted")


@dataclass
class History:
    """Rows of per-epoch measures, plus why training stopped."""

    rows: list[dict[str, float]] = field(default_factory=list)
    stopped: str = ""  # "", "epochs", "early_stopping", "converged", "diverged", "interrupted"
    message: str = ""
    best_epoch: int | None = None

    def append(self, row: dict[str, float]) -> None:
        """Add one epoch's row of measures."""
        self.rows.append(row)

    def column(self, name: str) -> list[float]:
        """One measure over the epochs (NaN where an epoch lacks it): ``column("val_loss")``."""
        return [r.get(name, math.nan) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """The rows and the stopping reason as JSON-ready values (``history.json``)."""
        return {
            "epochs": self.rows,
            "stopped": self.stopped,
            "message": self.message,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, d: Any) -> History:
        """The inverse of :meth:`to_dict`, validated (ValueError saying what is wrong): rows
        are objects of numbers (or null) under the known column names, epochs 1, 2, …"""
        if not isinstance(d, dict):
            raise ValueError("not an object")
        rows = d.get("epochs", [])
        if not isinstance(rows, list):
            raise ValueError("'epochs' is not a list")
        clean: list[dict[str, float]] = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not set(row) <= set(COLUMNS):
                raise ValueError(f"epoch row {i} is not an object of {', '.join(COLUMNS)}")
            for k, v in row.items():
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise ValueError(f"epoch row {i}: {k} is not a number")
            if row.get("epoch") != i + 1:
                raise ValueError(f"epoch row {i} is numbered {row.get('epoch')!r}, not {i + 1}")
            clean.append({k: (math.nan if v is None else v) for k, v in row.items()})
        stopped, message, best = d.get("stopped", ""), d.get("message", ""), d.get("best_epoch")
        if stopped not in STOPPED:
            raise ValueError(f"unknown stop reason {stopped!r}")
        if not isinstance(message, str):
            raise ValueError("'message' is not a string")
        if best is not None and (
            isinstance(best, bool) or not isinstance(best, int) or not 1 <= best <= len(clean)
        ):
            raise ValueError(f"best_epoch {best!r} is not one of the epochs")
        return cls(clean, stopped, message, best)

    def stop_reason(self) -> str:
        """Why training stopped, in words: "ran all 25 epochs", "stopped early: …",
        "converged: …", "diverged: …", "interrupted: …"."""
        n = len(self.rows)
        epochs = f"{n} epoch{'s' if n != 1 else ''}"
        if self.stopped == "epochs":
            return f"ran all {epochs}"
        if self.stopped == "early_stopping":
            return f"stopped early after {epochs}: {self.message}"
        if self.stopped == "converged":
            return f"converged after {epochs}: {self.message}"
        if self.stopped == "diverged":
            return f"diverged after {epochs}: {self.message}"
        if self.stopped == "interrupted":
            return f"interrupted after {epochs}: {self.message}"
        return f"{epochs} so far"

    def to_csv(self) -> str:
        """The rows as CSV text with the known columns (``history.csv``), missing values empty."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow(
                {
                    k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                    for k, v in r.items()
                }
            )
        return buf.getvalue()

    def save(self, run_dir: str | os.PathLike[str]) -> None:
        """Write ``history.json`` and ``history.csv`` into ``run_dir``."""
        run_dir = Path(run_dir)
        atomic_write_text(run_dir / "history.json", json.dumps(_clean(self.to_dict()), indent=1))
        atomic_write_text(run_dir / "history.csv", self.to_csv())


def _clean(obj: Any) -> Any:
    """NaN/inf → None so that the JSON is standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj
