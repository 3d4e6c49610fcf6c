"""Saved figures keep every label inside the canvas and have a sensible size: measured with
matplotlib's renderer on the figure as saved, and on the PNG itself."""

from __future__ import annotations

import numpy as np
import pytest

from tests.viz.capture import captured_figures, inside, overflow_px, png_size
from vedere.viz.confusion import plot_confusion
from vedere.viz.figure import new_figure, save_png
from vedere.viz.templates import plot_templates

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.parametrize(
    "classes, title",
    [
        (CIFAR, "softmax — validation confusion matrix"),
        (["not-cat", "cat"], "logistic — validation confusion matrix"),
    ],
)
def test_confusion_matrix_keeps_its_labels_inside_the_canvas(tmp_path, classes, title):
    k = len(classes)
    cm = np.random.default_rng(0).integers(0, 500, (k, k))
    with captured_figures() as figs:
        path = plot_confusion(cm, classes, tmp_path / "confusion.png", title=title)
    fig = figs["confusion.png"]
    ax = fig.axes[0]
    assert ax.get_ylabel() == "true" and inside(fig, ax.yaxis.label)  # was cut at x = -9 px
    assert ax.get_xlabel() == "predicted" and inside(fig, ax.xaxis.label)
    assert ax.get_title() == title and inside(fig, ax.title)
    assert overflow_px(fig) == 0
    w, h = fig.get_size_inches() * fig.dpi
    assert png_size(path) == (round(w), round(h))  # the PNG is that canvas


def test_save_png_grows_a_figure_whose_title_would_be_cut(tmp_path):
    fig = new_figure(1.6, 2.2)
    fig.subplots().plot([0, 1], [0, 1])
    title = fig.suptitle("a title far wider than one and a half inches of canvas")
    assert overflow_px(fig) > 50  # the situation before saving
    path = save_png(fig, tmp_path / "f.png")
    assert inside(fig, title) and overflow_px(fig) == 0
    assert png_size(path)[0] > 300


def test_one_template_gets_a_readable_figure_with_its_full_title(tmp_path):
    w = np.random.default_rng(1).normal(size=(1, 32 * 32 * 3))
    title = "logistic — learned weight templates"
    with captured_figures() as figs:
        path = plot_templates(w, (32, 32, 3), ["cat"], tmp_path / "templates.png", title=title)
    fig = figs["templates.png"]
    assert fig._suptitle.get_text() == title and inside(fig, fig._suptitle)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["cat"]
    assert overflow_px(fig) == 0
    width, height = png_size(path)
    assert width >= 300 and height >= 300  # was 160 × 220 with the title cut


def test_templates_refuse_a_name_count_that_does_not_match(tmp_path):
    with pytest.raises(ValueError, match="1 templates but 2 class names"):
        plot_templates(np.zeros((1, 12)), (2, 2, 3), ["not-cat", "cat"], tmp_path / "t.png")


@pytest.mark.parametrize("positive", ["cat", "truck"])
def test_logistic_run_shows_the_positive_class_template(tmp_path, monkeypatch, positive):
    """``--model logistic --positive-class cat``: one template, titled "cat", and it *is* the
    cat template: images drawn along it score higher for the positive class than images
    drawn against it (the model's single output is positive for classes_[1], which sorts
    as "not-cat" for cat and as "truck" for truck)."""
    import vedere.viz as viz
    from vedere.classify.run import RunConfig, train

    shown = {}
    original = viz.plot_templates

    def record(weight, shape, classes, path, title=""):
        shown.update(weight=np.array(weight), classes=list(classes), title=title)
        return original(weight, shape, classes, path, title)

    monkeypatch.setattr(viz, "plot_templates", record)
    cfg = RunConfig(
        out=str(tmp_path / "run"),
        model="logistic",
        positive_class=positive,
        params={"epochs": 2},
    )
    res = train(cfg, progress=False)
    assert shown["classes"] == [positive]
    assert shown["title"] == "logistic — learned weight templates"
    est = res.estimator
    t = shown["weight"].reshape(32, 32, 3)
    t = t / np.abs(t).max()
    along = np.clip(128 + 60 * t, 0, 255).astype(np.uint8)[None]
    against = np.clip(128 - 60 * t, 0, 255).astype(np.uint8)[None]
    col = [str(c) for c in est.classes_].index(positive)
    assert est.predict_proba(along)[0, col] > est.predict_proba(against)[0, col]
    assert png_size(tmp_path / "run" / "templates.png")[0] >= 300
