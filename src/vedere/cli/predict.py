"""``vedere predict``: class probabilities of images, highest first (``cat  0.90``)."""

from __future__ import annotations

import json

import click

from ..escape import printable
from ..fileio import check_outputs


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", type=click.IntRange(1), help="show only the K most probable classes")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="FILE.jsonl: one JSON line per image, streamed (folders are searched recursively, "
    "globs expanded; images already in it are skipped; unreadable ones get an error line)",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="with --out: images at once on a local Dask cluster of this many processes",
)
@click.option("--scheduler", metavar="ADDR", help="with --out: an existing Dask cluster")
def predict(
    model: str,
    images: tuple[str, ...],
    top_k: int | None,
    as_json: bool,
    out: str | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Print each class's probability for every IMAGE (any size, mode or common format).

    One image: one line per class, most probable first. Several images, or a directory (its
    image files, sorted by name): one line per image, its path, then its classes. Class names
    and paths are printed with control characters escaped (``\\n``)."""
    from ..classify import prediction

    if out is not None:
        _batch(model, images, top_k, out, workers, scheduler)
        return
    if workers is not None or scheduler:
        raise click.UsageError("--workers and --scheduler need --out FILE.jsonl")
    results = prediction.predict(model, list(images), top_k)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "image": r["image"],
                        "top": [{"class": c, "probability": p} for c, p in r["top"]],
                    }
                    for r in results
                ],
                indent=1,
            )
        )
        return
    if len(results) == 1:
        top = [(printable(c), p) for c, p in results[0]["top"]]
        width = max(len(c) for c, _ in top)
        for c, p in top:
            click.echo(f"{c:<{width}}  {p:.2f}")
        return
    for r in results:
        classes = "  ".join(f"{printable(c)} {p:.2f}" for c, p in r["top"])
        click.echo(f"{printable(r['image'])}  {classes}")


def _batch(
    model: str,
    images: tuple[str, ...],
    top_k: int | None,
    out: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    from ..batch import predict_chunk, run_batch
    from ..classify.prediction import load_image_classifier, model_path
    from .executors import open_executor

    if not out.endswith(".jsonl"):
        raise click.UsageError("--out must name a .jsonl file")
    load_image_classifier(model)  # a bad model is one error here, not one per image
    path = str(model_path(model).resolve())
    check_outputs([out], [path])
    with open_executor(workers, scheduler) as ex:
        stats = run_batch(images, predict_chunk, (path, top_k), out, ex)
    click.echo(printable(stats.summary(out)))
