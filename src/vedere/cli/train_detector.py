"""``vedere train-detector``: train a Viola–Jones cascade from folders of windows and
face-free background photos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..classify.train_config import MAX_SEED
from ..detect.samples import FEW_BACKGROUNDS
from ..escape import printable
from ..fileio import check_outputs


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
    "--max-features", type=click.IntRange(1), help="random subset of the feature pool (faster)"
)
@click.option(
    "--negatives", type=click.IntRange(10), help="negatives per stage (default: as many as faces)"
)
@click.option(
    "--features",
    type=click.Choice(["haar", "haar-extended", "lbp"]),
    default="haar",
    show_default=True,
    help="the feature pool: upright Haar features, those and the tilted (45°) ones "
    "(opencv_traincascade -mode ALL), or multi-block LBP (categorical stumps over 256 codes)",
)
@click.option(
    "--weak",
    default="stump",
    show_default=True,
    metavar="stump|tree:DEPTH",
    help="the weak classifiers: stumps, or decision trees of DEPTH levels (1 to 5; as "
    "opencv_traincascade -maxDepth, e.g. tree:2 like frontalface_alt2)",
)
@click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="0 to 2^32 - 1"
)
@click.option(
    "--cifar-sample/--no-cifar-sample",
    default=None,
    help="also mine negatives from the 1,500 CIFAR-10 images embedded in vedere, each turned "
    "and mirrored into 8 orientations (default: "
    f"when fewer than {FEW_BACKGROUNDS:,} background images are given)",
)
@click.option(
    "--face-box",
    metavar="DX,DY,SCALE",
    help="the map from window to reported face box (centre + (DX, DY) window sides, side × "
    "SCALE), e.g. frontalface's for CBCL-style crops: 0.0182,-0.0833,1.5326 (fit one with "
    "bench/calibrate_boxes.py); default: the window itself",
)
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
    features: str,
    weak: str,
    seed: int,
    cifar_sample: bool | None,
    face_box: str | None,
    figure: str | None,
) -> None:
    """Train a cascade: one line per stage (features, detection and false-positive rates on
    validation data, time), then the cascade file and a figure of its first features.

    --faces and --nonfaces may be folders (or .tar.gz archives) holding the windows directly
    or in subfolders named face and nonface (the layout of faces24-train.tar.gz)."""
    import numpy as np

    from ..detect.facebox import FaceBox
    from ..detect.training import TrainParams, train_cascade
    from ..detect.trees import parse_weak
    from ..viz.haar_features import plot_first_features

    try:
        parse_weak(weak)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--weak") from None
    box_map = _face_box(face_box) if face_box else FaceBox()
    fig = Path(figure) if figure else Path(out).with_name(Path(out).stem + "_features.png")
    check_outputs([out, fig], [faces, nonfaces, backgrounds])  # before hours of training
    face_w, non_w, bgs, given, n_sample = _training_data(
        faces, nonfaces, backgrounds, window, cifar_sample
    )
    params = TrainParams(
        stages=stages,
        min_detection=min_detection,
        max_false_positive=max_false_positive,
        max_weak=max_weak,
        max_features=max_features,
        negatives=negatives,
        seed=seed,
        features=features,
        weak=weak,
    )
    t0 = time.perf_counter()
    cascade, _reports = train_cascade(face_w, non_w, bgs, params, log=click.echo)
    click.echo(
        f"trained {cascade.n_stages} stages, {len(cascade.feature)} features "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    cascade.face_box = box_map
    cascade.meta["backgrounds"] = {"given": len(given), "cifar_sample": n_sample}
    path = cascade.save(out)
    click.echo(f"wrote {printable(str(path))}")
    if cascade.is_lbp:
        click.echo("no feature figure for LBP cascades (it draws Haar rectangles)")
        return
    mean_face = np.rint(face_w.astype(np.float64).mean(axis=0)).astype(np.uint8)
    plot_first_features(cascade, mean_face, fig)
    click.echo(f"wrote {printable(str(fig))}")


def _training_data(
    faces: str, nonfaces: str | None, backgrounds: str, window: int, cifar_sample: bool | None
) -> tuple[Any, Any, list[Any], list[Any], int]:
    """The face windows, the non-face windows (or None), every background (the given ones
    and those of the embedded sample), the given ones and how many came from the sample;
    says how many of each."""
    from ..detect.samples import load_backgrounds, load_windows, with_sample_backgrounds

    def windows(src: str, sub: str) -> Any:
        try:
            return load_windows(src, sub, size=window)
        except ValueError:
            return load_windows(src, None, size=window)

    face_w = windows(faces, "face")
    non_w = windows(nonfaces, "nonface") if nonfaces else None
    given = load_backgrounds(backgrounds)
    bgs, n_sample = with_sample_backgrounds(given, cifar_sample)
    extra = (
        f" + {n_sample:,} from the embedded CIFAR-10 sample (turned and mirrored)"
        + (f" (fewer than {FEW_BACKGROUNDS:,} given)" if cifar_sample is None else "")
        if n_sample
        else ""
    )
    click.echo(
        f"{len(face_w)} faces, {0 if non_w is None else len(non_w)} non-face windows, "
        f"{len(given)} background images{extra}"
    )
    return face_w, non_w, bgs, given, n_sample


def _face_box(text: str):
    """``DX,DY,SCALE`` as a FaceBox; ValueError naming the option otherwise (one error line)."""
    from ..detect.facebox import FaceBox

    try:
        dx, dy, scale = (float(v) for v in text.split(","))
        return FaceBox(dx, dy, scale)
    except ValueError as e:
        problem = str(e) if "face_box" in str(e) else f"must be DX,DY,SCALE, got {text[:40]!r}"
        raise ValueError(f"--face-box: {problem}") from None
