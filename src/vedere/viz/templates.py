"""A linear classifier's weights as pictures: row k of W, reshaped to the image, is the
"template" that class k's score s_k = w_k·x + b_k matches against."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .figure import new_figure, save_png


def weight_images(weight: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(K, D) weights → (K, H, W, C) images in [0, 1], each min-max scaled on its own."""
    w = np.asarray(weight, dtype=np.float64).reshape(weight.shape[0], *shape)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    return (w - lo) / np.where(hi > lo, hi - lo, 1.0)


def plot_templates(
    weight: np.ndarray,
    shape: tuple[int, int, int],
    classes: list[str],
    path: str | os.PathLike[str],
    title: str = "learned weight templates",
) -> Path:
    """One picture per row of ``weight`` (K, H·W·C), titled with ``classes[k]``, as in the
    course's linear-classifier slide. A binary model's single row (K = 1) is the template of
    its positive class. Panels are 1.6 in wide for five or more templates and larger for
    fewer; the figure is at least as wide as its title."""
    imgs = weight_images(weight, shape)
    k = len(imgs)
    if len(classes) != k:
        raise ValueError(f"{k} templates but {len(classes)} class names")
    cols = min(k, 5)
    rows = -(-k // cols)
    panel = max(1.6, 3.0 / cols)
    width = max(panel * cols, 0.11 * len(title) + 0.4)
    fig = new_figure(width, (panel + 0.2) * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img, name in zip(axes, imgs, classes, strict=False):
        ax.imshow(
            img if img.shape[-1] == 3 else img[..., 0],
            cmap=None if img.shape[-1] == 3 else "gray",
            interpolation="nearest",
        )
        ax.set_title(name, fontsize=9)
    fig.suptitle(title)
    return save_png(fig, path)
