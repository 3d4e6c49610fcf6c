"""A matplotlib Figure that is not tied to any GUI backend, saved atomically as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..fileio import atomic_write_bytes


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A fresh Figure with an Agg canvas (thread-safe: no pyplot global state)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Render ``fig`` to PNG and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
