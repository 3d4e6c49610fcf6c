"""``vedere evaluate``: accuracy, per-class precision and recall, confusion matrix."""

from __future__ import annotations

import json

import click

from ..classify.cnn import MAX_TTA_SHIFT
from ..escape import printable


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option(
    "--data-dir", type=click.Path(), help="data to evaluate on [default: the embedded sample]"
)
@click.option(
    "--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True
)
@click.option(
    "--no-checksum", is_flag=True, help="do not check official CIFAR-10 files against their MD5"
)
@click.option(
    "--tta-shift",
    type=click.IntRange(0, MAX_TTA_SHIFT),
    help="CNN models: predict with flip averaging and the image also shifted this many "
    "pixels both ways (0 = flips only) [default: the model's own setting]",
)
@click.option(
    "--labels",
    type=click.Choice(["fine", "coarse"]),
    help="CIFAR-100: fine or coarse classes [default: those the model was trained on]",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--quiet", is_flag=True, help="no progress bars")
def evaluate(
    model: str,
    data_dir: str | None,
    split: str,
    no_checksum: bool,
    tta_shift: int | None,
    labels: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Evaluate MODEL (a run directory or model file) on a split of a dataset.

    ``--split val`` without ``--data-dir`` on a run directory: the images that run held out
    for validation (recomputed from its config.json: same data, seed and split)."""
    from ..classify import evaluation

    rep = evaluation.evaluate(
        model,
        data_dir,
        split,
        verify=not no_checksum,
        progress=not quiet,
        tta_shift=tta_shift,
        labels=labels,
    )
    if as_json:
        click.echo(json.dumps(rep, indent=1))
        return
    click.echo(
        f"accuracy  {rep['accuracy']:.4f}  ({rep['n']} images, split {split} "
        f"of {printable(rep['source'])})"
    )
    if "roc_auc" in rep:
        click.echo(f"ROC-AUC   {rep['roc_auc']:.4f}")
    classes = [printable(c) for c in rep["classes"]]
    width = max(len(c) for c in classes)
    click.echo(f"\n{'class':<{width}}  precision  recall")
    for c, p, r in zip(classes, rep["precision"], rep["recall"], strict=True):
        click.echo(f"{c:<{width}}  {p:9.3f}  {r:6.3f}")
    click.echo("\nconfusion matrix (rows: true, columns: predicted)")
    short = [c[:5] for c in classes]
    click.echo(" " * (width + 1) + " ".join(f"{s:>5}" for s in short))
    for c, row in zip(classes, rep["confusion_matrix"], strict=True):
        click.echo(f"{c:<{width}} " + " ".join(f"{v:5d}" for v in row))
