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
    """Row-normalised colours (recall per class) with the raw counts written in each cell."""
    cm = np.asarray(cm)
    k = len(classes)
    fig = new_figure(1.0 + 0.55 * k, 0.8 + 0.5 * k)
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
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    return save_png(fig, path)
