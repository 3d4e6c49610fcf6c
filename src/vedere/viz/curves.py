"""Loss and accuracy per epoch, training against validation."""

from __future__ import annotations

import math
import os
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from ..classify.history import History
from .figure import new_figure, save_png


def plot_history(history: History, path: str | os.PathLike[str], title: str = "") -> Path:
    """Two panels — loss and accuracy against epoch — for the training and validation sets."""
    fig = new_figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = history.column("epoch")
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, history.column(f"train_{key}"), "o-", ms=3, label="training")
        val = history.column(f"val_{key}")
        if any(v is not None and not math.isnan(v) for v in val):
            ax.plot(epochs, val, "s-", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if history.best_epoch:
        ax_loss.axvline(history.best_epoch, color="grey", ls=":", label="best")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
