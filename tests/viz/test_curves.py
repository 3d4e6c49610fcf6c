"""Curve figures: plain columns in, whole-epoch ticks, diverged runs clipped and marked; and
viz imports nothing of the packages that use it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tests.viz.capture import captured_figures, overflow_px
from vedere.viz.curves import exit_point, plot_curves, plot_history
from vedere.viz.figure import new_figure

VIZ = Path(__file__).resolve().parents[2] / "src" / "vedere" / "viz"


def visible_xticks(ax) -> list[float]:
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_plot_history_takes_plain_columns_and_ticks_whole_epochs(tmp_path):
    columns = {
        "epoch": [1, 2, 3],
        "train_loss": [2.3, 1.9, 1.7],
        "train_acc": [0.1, 0.3, 0.4],
        "val_loss": [2.2, None, 1.8],
        "val_acc": [0.12, float("nan"), 0.35],
    }
    with captured_figures() as figs:
        plot_history(columns, tmp_path / "curves.png", title="run", best_epoch=3)
    fig = figs["curves.png"]
    ax_loss, ax_acc = fig.axes
    for ax in (ax_loss, ax_acc):
        ticks = visible_xticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # was 1.5, 2.5
        assert [ln.get_label() for ln in ax.get_lines()][:2] == ["training", "validation"]
    np.testing.assert_allclose(ax_loss.get_lines()[0].get_ydata(), [2.3, 1.9, 1.7])
    assert overflow_px(fig) == 0


def test_diverged_curve_is_clipped_to_the_stable_ones_and_marked():
    """The learning-rate lesson on a log axis: three stable runs and one that grows to
    2.4e6 and one to 6.5e26; the y-limits hold the stable curves only."""
    fig = new_figure()
    ax = fig.subplots()
    curves = {
        "lr 0.0001": ([1, 2, 3], [2.9, 2.6, 2.3]),
        "lr 0.01": ([1, 2, 3], [2.5, 1.2, 0.5]),
        "lr 0.1": ([1, 2, 3], [36.0, 12751.0, 2.4e6]),
        "lr 3": ([1], [6.5e26]),
    }
    plot_curves(ax, curves, diverged={"lr 0.1", "lr 3"}, log=True)
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "log"
    assert 2.9 < hi < 4 and 0.3 < lo < 0.5  # from 0.5 … 2.9 with a small margin, not 1e28
    labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert labels == ["lr 0.0001", "lr 0.01", "lr 0.1 (diverged)", "lr 3 (diverged)"]
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 2  # one × per diverged run, at the top where it leaves
    for ln in crosses:
        assert ln.get_xdata()[0] == 1 and ln.get_ydata()[0] == pytest.approx(hi)
        assert not ln.get_clip_on()


def test_exit_point_interpolates_where_the_curve_crosses_the_top():
    x = np.array([1.0, 2.0, 3.0])
    # linear: from 1.0 to 2.0 between epochs 1 and 2, top 1.84 → crossing at epoch 1.84
    assert exit_point(x, np.array([1.0, 2.0, 5.0]), 1.84, log=False) == pytest.approx((1.84, 1.84))
    # log: from 1 to 100, top 10 → halfway in log10
    assert exit_point(x, np.array([1.0, 100.0, 1e4]), 10.0, log=True) == pytest.approx((1.5, 10))
    # a NaN ends the curve: the × sits at that epoch
    assert exit_point(x, np.array([1.0, np.nan, np.nan]), 5.0, log=True) == (2.0, 5.0)
    assert exit_point(x, np.array([1.0, 2.0, 3.0]), 5.0, log=False) is None


def test_diverged_run_that_stopped_inside_the_axes_is_marked_one_epoch_later():
    fig = new_figure()
    ax = fig.subplots()
    plot_curves(ax, {"a": ([1, 2, 3], [2.0, 1.5, 1.0]), "b": ([1, 2], [1.9, 1.8])}, diverged={"b"})
    (cross,) = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert cross.get_xdata()[0] == 3 and cross.get_ydata()[0] == pytest.approx(ax.get_ylim()[1])


def test_viz_imports_nothing_from_the_packages_that_use_it():
    """Data flows one way: classify, detect, experiments, web and cli import viz, never the
    reverse (curves.py imported classify.history while classify.run imported viz). Within
    vedere, viz may import only itself and the file helpers."""
    allowed = {"fileio", "safejson", "viz"}
    seen = set()
    for path in sorted(VIZ.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    names = ["viz"]
                elif node.level >= 2:
                    names = [(node.module or "").split(".")[0]]
                elif (node.module or "").startswith("vedere"):
                    names = [(node.module or "").split(".")[1]]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("vedere.")]
            for name in names:
                seen.add(name)
                assert name in allowed, f"{path.name} imports vedere.{name}"
    assert "fileio" in seen  # the walk does see vedere imports
