"""A matplotlib Figure that is not tied to any GUI backend, saved atomically as PNG.

:func:`save_png` guarantees that nothing is cut off: before rendering it measures every
artist (titles, axis labels, tick labels, legends, colour bars) with the renderer and, where
they reach past the canvas, enlarges the figure by the overflow so that the constrained layout
can place them inside it."""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..fileio import atomic_write_bytes

#: margin (inches) kept between the outermost artist and the canvas edge
PAD = 0.04


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A fresh Figure with an Agg canvas (thread-safe: no pyplot global state)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def overflow(fig: Figure) -> tuple[float, float, float, float]:
    """How far (inches) the figure's artists reach past its left, bottom, right and top edges
    (0 where they stay inside), measured after a layout pass with the Agg renderer."""
    fig.canvas.draw()
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    return (max(0.0, -bb.x0), max(0.0, -bb.y0), max(0.0, bb.x1 - w), max(0.0, bb.y1 - h))


def fit_to_canvas(fig: Figure, rounds: int = 4) -> Figure:
    """Enlarge ``fig`` until every artist lies inside the canvas (at most ``rounds`` passes;
    the constrained layout then re-places the axes in the larger figure)."""
    for _ in range(rounds):
        left, bottom, right, top = overflow(fig)
        if max(left, bottom, right, top) <= 1e-3:
            break
        w, h = fig.get_size_inches()
        grow_w = left + right + (PAD if left + right else 0.0)
        grow_h = bottom + top + (PAD if bottom + top else 0.0)
        fig.set_size_inches(w + grow_w, h + grow_h)
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Render ``fig`` to PNG (grown first where text would be cut off, see
    :func:`fit_to_canvas`) and write it to ``path`` atomically."""
    fit_to_canvas(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
