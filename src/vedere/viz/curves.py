"""Curves against epochs: a run's loss and accuracy (training against validation), and several
runs' losses side by side with the diverged ones clipped and marked.

Plain data in, figures out: a history is a mapping of column name to one value per epoch
(``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``; ``None`` or NaN where a
value is missing), so viz knows nothing of the trainer that produced it."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .figure import new_figure, save_png

Values = Sequence[float | None]


def epoch_axis(ax: Axes, label: str = "epoch") -> None:
    """Label the x axis and put its ticks on whole epochs only (never 1.5)."""
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _floats(values: Values) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def plot_history(
    history: Mapping[str, Values],
    path: str | os.PathLike[str],
    title: str = "",
    best_epoch: int | None = None,
) -> Path:
    """Two panels — loss and accuracy against epoch — for the training and validation sets
    (validation only where it has a value); a dotted line at ``best_epoch``."""
    fig = new_figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = _floats(history["epoch"])
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, _floats(history[f"train_{key}"]), "o-", ms=3, label="training")
        val = _floats(history.get(f"val_{key}", [None] * len(epochs)))
        if np.isfinite(val).any():
            ax.plot(epochs, val, "s-", ms=3, label="validation")
        epoch_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if best_epoch:
        ax_loss.axvline(best_epoch, color="grey", ls=":", label="best")
    for ax in (ax_loss, ax_acc):
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def _limits(values: list[np.ndarray], log: bool) -> tuple[float, float] | None:
    """y-limits that hold every finite value of ``values`` (positive ones on a log axis),
    with a margin: 5 % of the range, or a factor (hi / lo)^0.05 ≥ 1.1 on a log axis."""
    v = np.concatenate([a[np.isfinite(a)] for a in values]) if values else np.zeros(0)
    if log:
        v = v[v > 0]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if log:
        f = max((hi / lo) ** 0.05, 1.1)
        return lo / f, hi * f
    pad = 0.05 * (hi - lo) or 0.05 * max(abs(hi), 1.0)
    return lo - pad, hi + pad


def exit_point(x: np.ndarray, y: np.ndarray, top: float, log: bool) -> tuple[float, float] | None:
    """Where the curve (x, y) first leaves the axes through ``top``: the crossing of the
    segment that goes above ``top`` (or to a non-finite value), interpolated linearly (in
    log y on a log axis); None if it stays below."""
    bad = ~np.isfinite(y) | (y > top)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    if i == 0 or not np.isfinite(y[i]):
        return float(x[i]), top
    f = np.log10 if log else (lambda a: a)
    t = (f(top) - f(y[i - 1])) / (f(y[i]) - f(y[i - 1]))
    return float(x[i - 1] + t * (x[i] - x[i - 1])), top


def plot_curves(
    ax: Axes,
    curves: Mapping[str, tuple[Values, Values]],
    diverged: Collection[str] = (),
    log: bool = False,
    **style: object,
) -> None:
    """One line per ``label: (x, y)`` on ``ax``. The y-limits come from the curves that did
    not diverge, so a diverged one (``label`` in ``diverged``) cannot squash them: it is drawn
    clipped, marked with an × where it leaves the axes (where it ended, if the run stopped
    before it did: one x step later) and called "label (diverged)" in the legend."""
    data = {k: (_floats(x), _floats(y)) for k, (x, y) in curves.items()}
    stable = [y for k, (_, y) in data.items() if k not in diverged]
    lim = _limits(stable, log) or _limits([y for _, y in data.values()], log)
    if log:
        ax.set_yscale("log")
    xs = [x for x, _ in data.values() if x.size]
    x_first = min(float(x.min()) for x in xs) if xs else 1.0
    marks: list[tuple[float, float]] = []
    for label, (x, y) in data.items():
        gone = label in diverged
        line = ax.plot(x, y, label=f"{label} (diverged)" if gone else label, **style)[0]
        if not gone or lim is None:
            continue
        top = lim[1]
        mark = exit_point(x, y, top, log)
        if mark is None:  # stopped (NaN/inf) before the next value was recorded
            step = float(x[-1] - x[-2]) if x.size > 1 else 1.0
            mark = (float(x[-1]) + step, top) if x.size else (x_first, top)
        # runs leaving at the same point: nested crosses, the later ones smaller, on top
        size = max(12 - 4 * marks.count(mark), 4)
        marks.append(mark)
        ax.plot(*mark, "x", ms=size, mew=2, color=line.get_color(), clip_on=False, zorder=3)
    if lim is not None:
        ax.set_ylim(*lim)
