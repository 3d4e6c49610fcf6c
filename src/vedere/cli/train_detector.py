"""``vedere train-detector``: train a Viola–Jones cascade from folders of windows and
face-free background photos."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command("train-detector")
@click.option(
    "--faces", required=True, type=click.Path(exists=True), help="folder or .tar.gz of face windows"
)
@click.option(
    "--nonfaces", type=click.Path(exists=True), help="folder or .tar.gz of non-face windows"
)
@click.option(
    "--backgrounds",
    required=True,
    type=click.Path(exists=True),
    help="folder or .tar.gz of photos without faces (mined for hard negatives)",
)
@click.option(
    "--out", required=True, type=click.Path(), help="cascade file: .json (vedere) or .xml (OpenCV)"
)
@click.option("--stages", type=click.IntRange(1), default=20, show_default=True)
@click.option(
    "--window",
    type=click.IntRange(8),
    default=24,
    show_default=True,
    help="window side; windows are resized to it",
)
@click.option(
    "--min-detection", type=click.FloatRange(0, 1, min_open=True), default=0.995, show_default=True
)
@click.option(
    "--max-false-positive",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
)
@click.option(
    "--max-weak",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="most stumps per stage",
)
@click.option(
    "--max-features", type=click.IntRange(1), help="random subset of the Haar features (faster)"
)
@click.option(
    "--negatives", type=click.IntRange(10), help="negatives per stage (default: as many as faces)"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--figure",
    type=click.Path(),
    help="PNG of the first features over the mean face (default: next to --out)",
)
def train_detector(
    faces: str,
    nonfaces: str | None,
    backgrounds: str,
    out: str,
    stages: int,
    window: int,
    min_detection: float,
    max_false_positive: float,
    max_weak: int,
    max_features: int | None,
    negatives: int | None,
    seed: int,
    figure: str | None,
) -> None:
    """Train a cascade: one line per stage (features, detection and false-positive rates on
    validation data, time), then the cascade file and a figure of its first features.

    --faces and --nonfaces may be folders (or .tar.gz archives) holding the windows directly
    or in subfolders named face and nonface (the layout of faces24-train.tar.gz)."""
    import numpy as np

    from ..detect.samples import load_backgrounds, load_windows
    from ..detect.training import TrainParams, train_cascade
    from ..viz.haar_features import plot_first_features

    def windows(src: str, sub: str):
        try:
            return load_windows(src, sub, size=window)
        except ValueError:
            return load_windows(src, None, size=window)

    face_w = windows(faces, "face")
    non_w = windows(nonfaces, "nonface") if nonfaces else None
    bgs = load_backgrounds(backgrounds)
    click.echo(
        f"{len(face_w)} faces, {0 if non_w is None else len(non_w)} non-face windows, "
        f"{len(bgs)} background images"
    )
    params = TrainParams(
        stages=stages,
        min_detection=min_detection,
        max_false_positive=max_false_positive,
        max_weak=max_weak,
        max_features=max_features,
        negatives=negatives,
        seed=seed,
    )
    t0 = time.perf_counter()
    cascade, _reports = train_cascade(face_w, non_w, bgs, params, log=click.echo)
    click.echo(
        f"trained {cascade.n_stages} stages, {len(cascade.feature)} features "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    path = cascade.save(out)
    click.echo(f"wrote {path}")
    fig = Path(figure) if figure else path.with_name(path.stem + "_features.png")
    mean_face = np.rint(face_w.astype(np.float64).mean(axis=0)).astype(np.uint8)
    plot_first_features(cascade, mean_face, fig)
    click.echo(f"wrote {fig}")
