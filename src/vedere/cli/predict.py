"""``vedere predict``: class probabilities of images, highest first (``cat  0.90``)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", type=click.IntRange(1), help="show only the K most probable classes")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def predict(model: str, images: tuple[str, ...], top_k: int | None, as_json: bool) -> None:
    """Print each class's probability for every IMAGE (any size, mode or common format)."""
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
    width = max(len(c) for r in results for c, _ in r["top"])
    for i, r in enumerate(results):
        if len(results) > 1:
            click.echo(("\n" if i else "") + f"{r['image']}:")
        for c, p in r["top"]:
            click.echo(f"{c:<{width}}  {p:.2f}")
