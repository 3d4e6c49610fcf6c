"""``vedere predict``: class probabilities of images, highest first (``cat  0.90``)."""

from __future__ import annotations

import json

import click

from .escape import printable


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", type=click.IntRange(1), help="show only the K most probable classes")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def predict(model: str, images: tuple[str, ...], top_k: int | None, as_json: bool) -> None:
    """Print each class's probability for every IMAGE (any size, mode or common format).

    One image: one line per class, most probable first. Several images, or a directory (its
    image files, sorted by name): one line per image, its path, then its classes. Class names
    and paths are printed with control characters escaped (``\\n``)."""
    from ..classify import run

    results = run.predict(model, list(images), top_k)
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
