"""``viola-jones``: the first features AdaBoost picked for vedere's frontal-face cascade, drawn
over an average face, and the cascade's stage-by-stage rejection of the windows of a photo —
how few features an average window costs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..detect.detector import CompiledCascade, detect, pyramid, scan_level
from ..detect.library import resolve_cascade
from ..detect.resize import resize_linear
from ..viz.figure import new_figure, save_png
from ..viz.haar_features import plot_first_features
from .base import Context, Report, figure_path


def photo(path: str | None) -> tuple[np.ndarray, str]:
    """The grey photo to scan: ``path``, else scikit-image's astronaut (if installed)."""
    from ..detect.samples import read_gray, to_gray

    if path:
        return read_gray(path), str(path)
    try:
        from skimage import data
    except ImportError:
        raise ValueError(
            "the viola-jones experiment needs --image PHOTO (or scikit-image for its astronaut)"
        ) from None
    return to_gray(data.astronaut()), "scikit-image's astronaut"


def stage_survivors(gray: np.ndarray, cascade) -> tuple[list[int], int]:
    """Windows alive before each stage (index 0: all windows examined) over the pyramid."""
    counts = np.zeros(cascade.n_stages + 1, dtype=np.int64)
    total = 0
    compiled = [CompiledCascade(cascade.truncated(k)) for k in range(1, cascade.n_stages + 1)]
    for _, level, step in pyramid(gray, cascade.window, 1.25):
        n_x = (level.shape[1] - cascade.window[1]) // step + 1
        n_y = (level.shape[0] - cascade.window[0]) // step + 1
        total += n_x * n_y
        for k, c in enumerate(compiled, start=1):
            counts[k] += len(scan_level(level, c, step, skip_rejected=False)[0])
    counts[0] = total
    return counts.tolist(), total


def run(ctx: Context, image: str | None = None) -> dict[str, Any]:
    cascade = resolve_cascade("frontalface")
    gray, label = photo(image)
    # the face the features are drawn over: the average training face the cascade keeps
    # (else the first face it finds in the photo)
    found = detect(gray, cascade, 1.1, 3, raw_window=True)  # crops the window, not the head
    if "mean_face" in cascade.meta:
        face = np.asarray(cascade.meta["mean_face"], dtype=np.uint8)
    elif len(found):
        x, y, w, h = found.boxes[0]
        face = resize_linear(np.ascontiguousarray(gray[y : y + h, x : x + w]), 24, 24)
    else:
        face = np.full(cascade.window, 128, np.uint8)
    p_feat = plot_first_features(cascade, face, figure_path(ctx, "first_features"), count=4)
    survivors, total = stage_survivors(gray, cascade)
    sizes = np.diff(np.r_[0, cascade.stage_ends])
    evaluated = sum(s * n for s, n in zip(survivors[:-1], sizes, strict=True))
    per_window = evaluated / max(total, 1)
    fig = new_figure(6, 3.6)
    ax = fig.subplots()
    ax.semilogy(range(len(survivors)), np.maximum(survivors, 0.5), marker="o")
    ax.set_xlabel("stages passed")
    ax.set_ylabel("windows still alive")
    ax.set_title(f"{total:,} windows of {label}", fontsize=9)
    p_rej = save_png(fig, figure_path(ctx, "rejection"))
    rep = Report(
        ctx,
        "Viola–Jones: the features AdaBoost chose and the attentional cascade at work",
        f"vedere's shipped frontal-face cascade ({cascade.n_stages} stages, "
        f"{len(cascade.feature)} features) on {label} ({gray.shape[1]}×{gray.shape[0]}, "
        "pyramid scale 1.25).",
    )
    rep.table(
        ["stage", "features in stage", "windows entering", "fraction of all windows"],
        [
            [s + 1, int(sizes[s]), survivors[s], survivors[s] / max(total, 1)]
            for s in range(cascade.n_stages)
        ]
        + [["accepted", "", survivors[-1], survivors[-1] / max(total, 1)]],
    )
    rep.text(
        f"Features evaluated per window on average: **{per_window:.2f}** of {len(cascade.feature)}."
    )
    rep.figure(p_feat, "first features over a face")
    rep.figure(p_rej, "windows alive after each stage")
    rep.reading(
        "The first stage, a handful of features, throws away most windows; only a tiny "
        "fraction ever reaches the later, larger stages — so an average window costs a few "
        "features, not hundreds, which is what makes the detector fast."
    )
    rep.write()
    return {
        "survivors": survivors,
        "total": total,
        "features_per_window": per_window,
        "stages": cascade.n_stages,
    }
