"""The first features a cascade uses, drawn over a face (Viola–Jones, figure 3): rectangles
whose pixels are subtracted in black, added in white; tilted ones (Lienhart & Maydt) turned
45° as the rotated integral image sums them (:func:`rect_outline`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.patches import Polygon

from .figure import new_figure, save_png


def rect_outline(x: int, y: int, w: int, h: int, tilted: bool = False) -> np.ndarray:
    """The (4, 2) corners (x, y in image coordinates, pixel centres at integers) of the
    outline around exactly the pixels a feature rectangle sums.

    Upright: the pixels x ≤ px < x + w, y ≤ py < y + h. Tilted (top corner (x, y), w down-right,
    h down-left; :mod:`vedere.detect.integral`): in a = px + py, b = py − px the pixels with
    x + y − 2 < a ≤ x + y + 2w − 2 and y − x < b ≤ y − x + 2h — a square turned 45° whose
    sides lie half a step beyond the outermost a and b, mapped back by px = (a − b)/2,
    py = (a + b)/2."""
    if not tilted:
        x0, y0 = x - 0.5, y - 0.5
        return np.array([(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)], dtype=float)
    a_lo, a_hi = x + y - 1.5, x + y + 2 * w - 1.5
    b_lo, b_hi = y - x + 0.5, y - x + 2 * h + 0.5
    ab = np.array([(a_lo, b_lo), (a_hi, b_lo), (a_hi, b_hi), (a_lo, b_hi)])
    return np.stack([(ab[:, 0] - ab[:, 1]) / 2, (ab[:, 0] + ab[:, 1]) / 2], axis=1)


def plot_first_features(
    cascade,
    face: np.ndarray,
    path: str | os.PathLike[str],
    count: int = 4,
) -> Path:
    """Panels: the face, then the face under each of the first ``count`` stumps' features, in
    the order AdaBoost chose them, with their weight α (the stump's leaf). Haar cascades
    only (upright and tilted features); an LBP cascade raises ValueError."""
    if cascade.is_lbp:
        raise ValueError("an LBP cascade has no Haar rectangles to draw")
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
        feats = cascade.features
        rects, weights, tilted = feats.rects[f], feats.weights[f], bool(feats.tilted[f])
        for (x, y, w, h), wt in zip(rects, weights, strict=True):
            if wt == 0:
                continue
            colour = "white" if wt > 0 else "black"
            corners = rect_outline(int(x), int(y), int(w), int(h), tilted)
            ax.add_patch(Polygon(corners, facecolor=colour, edgecolor="red", alpha=0.75))
        alpha = max(abs(float(cascade.left[k])), abs(float(cascade.right[k])))
        ax.set_title(f"feature {k + 1}\nα = {alpha:.2f}", fontsize=9)
    return save_png(fig, path)
