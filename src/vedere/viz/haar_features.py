"""The first features a cascade uses, drawn over a face (Viola–Jones, figure 3): rectangles
whose pixels are subtracted in black, added in white."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from .figure import new_figure, save_png


def plot_first_features(
    cascade,
    face: np.ndarray,
    path: str | os.PathLike[str],
    count: int = 4,
) -> Path:
    """Panels: the face, then the face under each of the first ``count`` stumps' features, in
    the order AdaBoost chose them, with their weight α (the stump's leaf)."""
    face = np.asarray(face)
    n = min(count, len(cascade.feature))
    fig = new_figure(2.2 * (n + 1), 2.6)
    axes = fig.subplots(1, n + 1)
    axes = np.atleast_1d(axes)
    for ax in axes:
        ax.imshow(face, cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title("face")
    for k in range(n):
        ax = axes[k + 1]
        f = int(cascade.feature[k])
        rects, weights = cascade.features.rects[f], cascade.features.weights[f]
        for (x, y, w, h), wt in zip(rects, weights, strict=True):
            if wt == 0:
                continue
            colour = "white" if wt > 0 else "black"
            ax.add_patch(
                Rectangle((x - 0.5, y - 0.5), w, h, facecolor=colour, edgecolor="red", alpha=0.75)
            )
        alpha = max(abs(float(cascade.left[k])), abs(float(cascade.right[k])))
        ax.set_title(f"feature {k + 1}\nα = {alpha:.2f}", fontsize=9)
    return save_png(fig, path)
