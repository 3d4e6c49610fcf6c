"""Figures as vedere saved them: every ``save_png`` call, recorded by file name, so that tests
can measure the saved figure with matplotlib's renderer (text extents, limits, ticks, lines)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image


@contextmanager
def captured_figures() -> Iterator[dict[str, Figure]]:
    """Inside the block, each figure saved by ``vedere.viz.figure.save_png`` (whichever
    module calls it) is recorded as ``{file name: Figure}``."""
    import vedere.viz.figure as vf

    original = vf.save_png
    figures: dict[str, Figure] = {}

    def recording(fig: Figure, path, *args, **kwargs):
        out = original(fig, path, *args, **kwargs)
        figures[Path(path).name] = fig
        return out

    patched = []
    for mod in list(sys.modules.values()):
        name = getattr(mod, "__name__", "")
        if name.startswith("vedere") and getattr(mod, "save_png", None) is original:
            patched.append(mod)
            mod.save_png = recording
    try:
        yield figures
    finally:
        for mod in patched:
            mod.save_png = original


def overflow_px(fig: Figure) -> float:
    """How many pixels the drawn artists of ``fig`` reach past its canvas (0: none)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    bb = fig.get_tightbbox(r).transformed(fig.dpi_scale_trans)
    w, h = fig.bbox.width, fig.bbox.height
    return max(0.0, -bb.x0, -bb.y0, bb.x1 - w, bb.y1 - h)


def inside(fig: Figure, artist) -> bool:
    """True when ``artist``'s extent, as last drawn (saving draws), lies within the canvas
    (half a pixel slack)."""
    bb = artist.get_window_extent(fig.canvas.get_renderer())
    return (
        bb.x0 >= -0.5 and bb.y0 >= -0.5 and bb.x1 <= fig.bbox.width + 0.5
    ) and bb.y1 <= fig.bbox.height + 0.5


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size
