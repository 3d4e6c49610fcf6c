"""``vedere detect``: find faces (or whatever a cascade was trained on) in images."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..detect.limits import DEFAULT_MAX_PIXELS, MIN_SCALE_FACTOR
from ..escape import printable
from ..fileio import check_outputs


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option(
    "--cascade",
    default="frontalface",
    show_default=True,
    help="frontalface (vedere's own), opencv:NAME (OpenCV's stock Haar or LBP cascade, e.g. "
    "opencv:frontalface_default, opencv:eye, opencv:lbpcascade_frontalface; `vedere cascades` "
    "lists them) or a .json / .xml cascade file",
)
@click.option(
    "--scale-factor",
    type=click.FloatRange(MIN_SCALE_FACTOR),
    default=1.1,
    show_default=True,
    help=f"ratio between pyramid levels (at least {MIN_SCALE_FACTOR})",
)
@click.option("--min-neighbors", type=click.IntRange(0), default=3, show_default=True)
@click.option("--min-size", type=click.IntRange(1), help="smallest box side in pixels")
@click.option("--max-size", type=click.IntRange(1), help="largest box side in pixels")
@click.option(
    "--grouping",
    type=click.Choice(["opencv", "nms", "none"]),
    default="opencv",
    show_default=True,
    help="merge overlapping windows by OpenCV's minNeighbors clustering or by NMS",
)
@click.option("--mirror", is_flag=True, help="also scan the mirrored image (profile cascades)")
@click.option(
    "--raw-window",
    is_flag=True,
    help="report the detection windows themselves, not the face boxes the cascade maps them "
    "to (frontalface's windows cover brows to mouth; OpenCV's cascades: no difference)",
)
@click.option(
    "--out",
    type=click.Path(),
    help="annotated PNG (one image), a folder for one PNG per image, an annotated video "
    "(.mp4, .mkv, .webm, .avi, .mov) for a video, or FILE.jsonl: one JSON line per image "
    "(or frame), streamed (images already in it are skipped)",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="with --out FILE.jsonl: images at once on a local Dask cluster of this many processes",
)
@click.option("--scheduler", metavar="ADDR", help="with --out FILE.jsonl: an existing Dask cluster")
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="larger images are scanned shrunk to this many pixels (boxes are given in the "
    "image's own pixels; --min-size/--max-size apply to the shrunk image)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON (a video: one line per frame)")
@click.option("--boxes", type=click.Path(), help="a video: write one JSON line per frame here")
@click.option("--track", is_flag=True, help="a video: smooth boxes over frames (IoU tracks)")
def detect(
    images: tuple[str, ...],
    cascade: str,
    scale_factor: float,
    min_neighbors: int,
    min_size: int | None,
    max_size: int | None,
    grouping: str,
    mirror: bool,
    raw_window: bool,
    out: str | None,
    max_pixels: int,
    as_json: bool,
    boxes: str | None,
    track: bool,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Print one line per box found in each IMAGE (any size or mode: RGB, RGBA, grey,
    16-bit): x y w h and how many windows agreed. Boxes cover the whole face, as OpenCV's
    do (the cascade's window-to-face map; --raw-window: the windows). Images smaller than the
    cascade's window give no boxes. Images above --max-pixels are scanned shrunk. A VIDEO
    (.mp4, .mkv, .webm, .avi, .mov, .y4m) gives one line per frame. Folders and glob patterns
    name every image under them; with --out FILE.jsonl they are streamed (--workers/--scheduler:
    on Dask)."""
    from ..batch import expand_inputs
    from ..detect.library import resolve_cascade
    from ..detect.video_file import is_video

    c = resolve_cascade(cascade)
    options = {
        "max_pixels": max_pixels,
        "scale_factor": scale_factor,
        "min_neighbors": min_neighbors,
        "min_size": (min_size, min_size) if min_size else None,
        "max_size": (max_size, max_size) if max_size else None,
        "grouping": grouping,
        "mirror": mirror,
        "raw_window": raw_window,
    }
    if any(is_video(i) for i in images) or boxes or track:
        if len(images) != 1 or not is_video(images[0]):
            raise click.UsageError("a video must be the only input (--boxes, --track: videos)")
        if workers is not None or scheduler:
            raise click.UsageError("--workers and --scheduler are for images, not a video")
        from .detect_video import detect_video_cli

        detect_video_cli(images[0], c, out, boxes, as_json, track, options)
        return
    images = tuple(expand_inputs(images))
    if out is not None and out.endswith(".jsonl"):
        _batch(images, cascade, options, out, workers, scheduler)
        return
    if workers is not None or scheduler:
        raise click.UsageError("--workers and --scheduler need --out FILE.jsonl")
    results = _detect_images(images, c, options, _annotated_targets(images, out))
    if as_json:
        click.echo(json.dumps(results, indent=1))
        return
    for r in results:
        n = len(r["boxes"])
        name = printable(r["image"])
        click.echo(f"{name}: {n} {'box' if n == 1 else 'boxes'} ({r['width']}x{r['height']})")
        for b in r["boxes"]:
            click.echo(f"  x={b['x']} y={b['y']} w={b['w']} h={b['h']} neighbors={b['neighbors']}")


def _annotated_targets(images: tuple[str, ...], out: str | None) -> dict[str, Path]:
    """The annotated PNG each image is drawn to (none without --out): ``out`` itself for one
    image, ``out/STEM.png`` for several. Checked before any work (no input replaced, no
    output written twice); the folder is made."""
    if out is None:
        return {}
    out_dir = None
    if len(images) > 1:
        out_dir = Path(out)
        if out_dir.suffix.lower() == ".png":
            raise click.UsageError("--out must be a folder when several images are given")
    targets = {i: out_dir / f"{Path(i).stem}.png" if out_dir else Path(out) for i in images}
    check_outputs(targets.values(), images)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    return targets


def _detect_images(
    images: tuple[str, ...], c: object, options: dict[str, object], targets: dict[str, Path]
) -> list[dict[str, object]]:
    """Each image's record (:func:`vedere.batch.detect_image`), its boxes drawn to its target
    when it has one (on the image's own colours, not on the grey levels scanned)."""
    from ..batch import detect_image
    from ..data.images import decode
    from ..viz.boxes import save_annotated

    results = []
    for image in images:
        record, found = detect_image(image, c, options)
        results.append(record)
        if image in targets:
            labels = [f"{int(n)}" for n in found.neighbors]
            save_annotated(targets[image], decode(image), found.boxes, labels)
    return results


def _batch(
    images: tuple[str, ...],
    cascade: str,
    options: dict[str, object],
    out: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    from ..batch import detect_chunk, run_batch
    from .executors import open_executor

    with open_executor(workers, scheduler) as ex:
        stats = run_batch(images, detect_chunk, (cascade, options), out, ex)
    click.echo(printable(stats.summary(out)))
