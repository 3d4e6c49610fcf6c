"""The confusion matrix as a picture: rows are true classes, columns predictions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .figure import new_figure, save_png


def plot_confusion(
    cm: np.ndarray,
    classes: list[str],
    path: str | os.PathLike[str],
    title: str = "confusion matrix",
) -> Path:
    """Row-normalised colours (recall per class) with the raw counts written in each cell.

    ``cm`` is (K, K): ``cm[i, j]`` counts images of true class i predicted as j; the colour of
    a cell is ``cm[i, j] / sum_j cm[i, j]``. The figure is sized for its longest class name
    and title, and :func:`save_png` grows it further if any text would be cut off."""
    cm = np.asarray(cm)
    k = len(classes)
    longest = max((len(str(c)) for c in classes), default=1)
    # cells of 0.5 in; class names at ~0.075 in per character; room for title and colour bar
    side = 0.5 * max(k, 3)
    width = max(side + 0.075 * longest + 2.0, 0.09 * len(title) + 1.0)
    height = side + 0.055 * longest + 1.2
    fig = new_figure(width, height)
    ax = fig.subplots()
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.9, label="fraction of the true class")
    return save_png(fig, path)
