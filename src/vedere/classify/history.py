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


@dataclass
class History:
    """Rows of per-epoch measures, plus why training stopped."""

    rows: list[dict[str, float]] = field(default_factory=list)
    stopped: str = ""  # "", "epochs", "early_stopping", "converged", "diverged", "interrupted"
    message: str = ""
    best_epoch: int | None = None

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)

    def column(self, name: str) -> list[float]:
        return [r.get(name, math.nan) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.rows,
            "stopped": self.stopped,
            "message": self.message,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(
            list(d.get("epochs", [])),
            d.get("stopped", ""),
            d.get("message", ""),
            d.get("best_epoch"),
        )

    def to_csv(self) -> str:
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
