"""``vedere train``: train a classifier and save its model, history and plots in a run directory."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ..classify.estimators import ESTIMATORS
from ..nn.activations import ACTIVATIONS
from ..nn.init import SCHEMES
from ..nn.optim import OPTIMIZERS
from ..nn.schedules import SCHEDULES

if TYPE_CHECKING:
    from ..classify.run import RunConfig


def _hidden(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated layer sizes like 512,256, got {value!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"layer sizes must be positive integers, got {value!r}")
    return sizes


def _val_split(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        v = float(value)
    except ValueError:
        raise click.BadParameter(
            f"expected a count like 5000 or a fraction like 0.1, got {value!r}"
        ) from None
    if v <= 0 or (v >= 1 and not v.is_integer()):
        raise click.BadParameter(
            f"expected a count like 5000 or a fraction like 0.1, got {value!r}"
        )
    return v


@click.command()
@click.option("--model", type=click.Choice(list(ESTIMATORS)), default="mlp", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(),
    help="CIFAR-10 archive/folder or an image-folder tree (or .tar.gz)",
)
@click.option(
    "--dataset",
    type=click.Choice(["cifar10", "sample"]),
    help="a named dataset instead of --data-dir",
)
@click.option(
    "--download", is_flag=True, help="allow downloading --dataset cifar10 if it is not cached"
)
@click.option("--hidden", callback=_hidden, help="MLP hidden layer sizes, e.g. 1024,512")
@click.option("--activation", type=click.Choice(list(ACTIVATIONS)))
@click.option("--init", type=click.Choice(list(SCHEMES)))
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)))
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="learning rate")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True))
@click.option("--schedule", type=click.Choice(list(SCHEDULES)))
@click.option("--warmup", type=click.IntRange(0), help="epochs of linear learning-rate warm-up")
@click.option("--batch-size", type=click.IntRange(0), help="1 = stochastic, 0 = full batch")
@click.option("--epochs", type=click.IntRange(1))
@click.option("--l1", type=click.FloatRange(0))
@click.option("--l2", type=click.FloatRange(0))
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True))
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True))
@click.option(
    "--clip-norm", type=click.FloatRange(0), help="clip the gradient norm to this (0 = off)"
)
@click.option(
    "--early-stopping",
    type=click.IntRange(0),
    metavar="PATIENCE",
    help="stop after PATIENCE epochs without improvement",
)
@click.option(
    "--tol",
    type=click.FloatRange(0),
    help="stop when the validation loss changes by less than this",
)
@click.option(
    "--val-split", callback=_val_split, help="validation images: a count (5000) or a fraction (0.1)"
)
@click.option("--augment/--no-augment", default=None, help="random flips and shifts while training")
@click.option(
    "--crop-padding",
    type=click.IntRange(0),
    help="random shifts of up to this many pixels with --augment (0: flips only)",
)
@click.option("--image-size", type=click.IntRange(4), help="resize images to this square size")
@click.option(
    "--limit", type=click.IntRange(2), help="train on a stratified subset of this many images"
)
@click.option(
    "--positive-class",
    default="cat",
    show_default=True,
    help="the positive class of --model logistic",
)
@click.option(
    "--no-checksum", is_flag=True, help="do not check official CIFAR-10 files against their MD5"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="continue the run in --out from its checkpoint")
@click.option("--overwrite", is_flag=True, help="replace the run already in --out")
@click.option(
    "--keep-checkpoint", is_flag=True, help="keep checkpoint.safetensors when the run ends"
)
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.option("--out", type=click.Path(file_okay=False), help="run directory [default: runs/MODEL]")
def train(**kw: object) -> None:
    """Train a classifier, evaluate it on a validation split, save model, history and plots."""
    from ..classify import run

    progress = not kw.pop("quiet")
    resume = bool(kw.pop("resume"))
    overwrite, keep_checkpoint = bool(kw.pop("overwrite")), bool(kw.pop("keep_checkpoint"))
    out = kw.pop("out") or f"runs/{kw['model']}"
    if resume:
        cfg = run.load_config(out)
        if kw.get("epochs"):
            cfg.params["epochs"] = kw["epochs"]
        click.echo(f"resuming {out} with its saved settings", err=True)
    else:
        cfg = build_config(kw, str(out))
        if cfg.data_dir is None and cfg.dataset is None:
            click.echo(
                "no --data-dir given: training on the embedded CIFAR-10 sample "
                "(1,200 training images; use --data-dir for real data)",
                err=True,
            )
    try:
        result = run.train(
            cfg,
            resume=resume,
            progress=progress,
            overwrite=overwrite,
            keep_checkpoint=keep_checkpoint,
        )
    except run.Diverged as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt as e:
        saved = getattr(e, "checkpoint_saved", False)
        click.echo(
            f"interrupted: checkpoint saved; continue with `vedere train --out {out} --resume`"
            if saved
            else f"interrupted{': ' if str(e) else ''}{e}",
            err=True,
        )
        sys.exit(130)
    click.echo(run.describe(result))
    if result.stopped == "diverged":
        click.echo(f"error: {result.message}", err=True)
        sys.exit(1)
    if result.message:
        click.echo(result.message, err=True)


def build_config(kw: dict[str, Any], out: str) -> RunConfig:
    """The RunConfig of a new run from ``vedere train``'s parsed options (``kw``)."""
    from ..classify import run

    params = {
        "hidden_sizes": kw["hidden"],
        "activation": kw["activation"],
        "init": kw["init"],
        "optimizer": kw["optimizer"],
        "lr": kw["lr"],
        "momentum": kw["momentum"],
        "schedule": kw["schedule"],
        "warmup": kw["warmup"],
        "batch_size": kw["batch_size"],
        "epochs": kw["epochs"],
        "l1": kw["l1"],
        "l2": kw["l2"],
        "dropout": kw["dropout"],
        "label_smoothing": kw["label_smoothing"],
        "clip_norm": kw["clip_norm"],
        "early_stopping": kw["early_stopping"],
        "tol": kw["tol"],
        "augment": kw["augment"],
        "crop_padding": kw["crop_padding"],
    }
    est_cls = ESTIMATORS[str(kw["model"])]
    accepted = set(est_cls._param_names())
    given = {k: v for k, v in params.items() if v is not None}
    unused = sorted(set(given) - accepted)
    if unused:
        flags = ", ".join(
            "--" + u.replace("_", "-").replace("hidden-sizes", "hidden") for u in unused
        )
        raise click.UsageError(f"{flags} do not apply to --model {kw['model']}")
    cfg = run.RunConfig(
        out=str(out),
        model=str(kw["model"]),
        data_dir=kw["data_dir"],
        dataset=kw["dataset"],
        download=bool(kw["download"]),
        verify=not kw["no_checksum"],
        image_size=kw["image_size"],
        limit=kw["limit"],
        val_split=float(kw["val_split"]),
        positive_class=str(kw["positive_class"]),
        seed=int(kw["seed"]),
        params=given,
    )
    return cfg


def config_from_argv(argv: list[str]) -> RunConfig:
    """The RunConfig that ``vedere train ARGV`` would train (a ValueError for bad arguments:
    the message is click's, naming the flag)."""
    try:
        ctx = train.make_context("train", list(argv))
    except click.exceptions.Exit:
        raise ValueError("--help is not a training run") from None
    except click.ClickException as e:
        raise ValueError(e.format_message()) from None
    kw = dict(ctx.params)
    kw.pop("quiet", None)
    if kw.pop("resume", False):
        raise ValueError("--resume is not a new run")
    out = kw.pop("out") or f"runs/{kw['model']}"
    try:
        return build_config(kw, str(out))
    except click.ClickException as e:
        raise ValueError(e.format_message()) from None
