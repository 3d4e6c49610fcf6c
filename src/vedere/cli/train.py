"""``vedere train``: train a classifier and save its model, history and plots in a run directory."""

from __future__ import annotations

import math
import re
import sys
from typing import TYPE_CHECKING, Any

import click

from ..classify import cnn_arch
from ..classify.cnn import MAX_TTA_SHIFT
from ..classify.estimators import ESTIMATORS, check_hidden_sizes
from ..classify.train_config import MAX_EPOCHS, MAX_SEED
from ..data.images import MAX_IMAGE_SIDE
from ..escape import printable
from ..nn.activations import ACTIVATIONS
from ..nn.init import SCHEMES
from ..nn.optim import OPTIMIZERS
from ..nn.schedules import SCHEDULES

if TYPE_CHECKING:
    from ..classify.run import RunResult
    from ..classify.run_config import RunConfig


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
    try:  # widths and the parameter count of the smallest network they make, before any data
        return check_hidden_sizes(sizes, where="--hidden")
    except ValueError as e:
        raise click.BadParameter(str(e).removeprefix("--hidden: ")) from None


def _val_split(ctx: click.Context, param: click.Parameter, value: str | None) -> int | float | None:
    """``--val-split`` text → an int count or a float fraction (see ``run.check_val_split``);
    errors are ValueErrors, so that ``vedere`` prints them as one ``error:`` line."""
    from ..classify.run_config import VAL_SPLIT_RULE, check_val_split

    if value is None:
        return None
    text = value.strip()
    spec: int | float
    if re.fullmatch(r"[0-9]{1,15}", text):
        spec = int(text)
    else:
        try:
            spec = float(text) if len(text) <= 40 else math.nan
        except ValueError:
            spec = math.nan
        if math.isnan(spec):
            raise ValueError(f"--val-split {value!r}: expected {VAL_SPLIT_RULE}")
    check_val_split(spec)
    return spec


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _defaults(param: str) -> str:
    """The default of estimator parameter ``param`` for every model that has one, read from
    the estimators themselves: "[default: 0.9]" or "[default: 0.02 for mlp; 1 for …]"."""
    by_value: dict[str, list[str]] = {}
    for name, cls in ESTIMATORS.items():
        params = cls().get_params()
        if param in params:
            by_value.setdefault(_show(params[param]), []).append(name)
    models = [m for ms in by_value.values() for m in ms]
    if len(by_value) == 1:
        (value,) = by_value
        only = "" if len(models) == len(ESTIMATORS) else f"; --model {', '.join(models)} only"
        return f"[default: {value}{only}]"
    return "[default: " + "; ".join(f"{v} for {', '.join(ms)}" for v, ms in by_value.items()) + "]"


def _help(text: str, param: str) -> str:
    return f"{text} {_defaults(param)}".strip()


@click.command()
@click.option("--model", type=click.Choice(list(ESTIMATORS)), default="mlp", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(),
    help="CIFAR-10 or CIFAR-100 archive/folder, a folder of MNIST/Fashion-MNIST IDX files or "
    "SVHN .mat files, or an image-folder tree (or .tar.gz)",
)
@click.option(
    "--dataset",
    type=click.Choice(["cifar10", "cifar100", "mnist", "fashion-mnist", "svhn", "sample"]),
    help="a named dataset instead of --data-dir",
)
@click.option(
    "--download", is_flag=True, help="allow downloading --dataset NAME if it is not cached"
)
@click.option(
    "--labels",
    type=click.Choice(["fine", "coarse"]),
    default="fine",
    show_default=True,
    help="CIFAR-100: the 100 fine classes or the 20 coarse superclasses",
)
@click.option("--hidden", callback=_hidden, help=_help("hidden layer sizes", "hidden_sizes"))
@click.option(
    "--arch",
    metavar="NAME|SPEC",
    help=_help(
        "CNN architecture: a preset (tiny, small, default, wide, airbench, resnet) or a spec "
        "like c32-p-c64-p-c128-g (see vedere.classify.cnn_arch)",
        "arch",
    ),
)
@click.option("--activation", type=click.Choice(list(ACTIVATIONS)), help=_help("", "activation"))
@click.option("--init", type=click.Choice(list(SCHEMES)), help=_help("", "init"))
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), help=_help("", "optimizer"))
@click.option("--lr", type=click.FloatRange(0, min_open=True), help=_help("learning rate", "lr"))
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), help=_help("", "momentum"))
@click.option("--schedule", type=click.Choice(list(SCHEDULES)), help=_help("", "schedule"))
@click.option(
    "--warmup",
    type=click.IntRange(0),
    help=_help("epochs of linear learning-rate warm-up", "warmup"),
)
@click.option(
    "--batch-size",
    type=click.IntRange(0),
    help=_help("1 = stochastic, 0 = full batch", "batch_size"),
)
@click.option(
    "--epochs", type=click.IntRange(1, MAX_EPOCHS), help=_help(f"at most {MAX_EPOCHS:,}", "epochs")
)
@click.option("--l1", type=click.FloatRange(0), help=_help("L1 penalty λ", "l1"))
@click.option("--l2", type=click.FloatRange(0), help=_help("L2 penalty λ", "l2"))
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), help=_help("", "dropout"))
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 1, max_open=True),
    help=_help("", "label_smoothing"),
)
@click.option(
    "--clip-norm",
    type=click.FloatRange(0),
    help=_help("clip the gradient norm to this (0 = off)", "clip_norm"),
)
@click.option(
    "--early-stopping",
    type=click.IntRange(0),
    metavar="PATIENCE",
    help=_help("stop after PATIENCE epochs without improvement (0 = off)", "early_stopping"),
)
@click.option(
    "--tol",
    type=click.FloatRange(0),
    help=_help("stop when the validation loss changes by less than this", "tol"),
)
@click.option(
    "--val-split",
    callback=_val_split,
    help="validation images: a count (5000; 0 = none) or a fraction in (0, 1) (0.1) "
    "[default: 5000 from 20,000 images up, else 0.1]",
)
@click.option(
    "--augment/--no-augment",
    default=None,
    help=_help("random flips and shifts while training", "augment"),
)
@click.option(
    "--crop-padding",
    type=click.IntRange(0),
    help=_help(
        "random shifts of up to this many pixels with --augment (0: flips only)", "crop_padding"
    ),
)
@click.option(
    "--cutout",
    type=click.IntRange(0),
    help=_help("CNN: zero a random square of this side (0 = off)", "cutout"),
)
@click.option(
    "--tta/--no-tta",
    default=None,
    help=_help("CNN: average the predictions of each image and its mirror", "tta"),
)
@click.option(
    "--tta-shift",
    type=click.IntRange(0, MAX_TTA_SHIFT),
    help=_help(
        "CNN, with --tta: also average over the image shifted this many pixels both ways (0 = off)",
        "tta_shift",
    ),
)
@click.option(
    "--image-size",
    type=click.IntRange(4, MAX_IMAGE_SIDE),
    help="resize images to this square size",
)
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
@click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="0 to 2^32 - 1"
)
@click.option("--resume", is_flag=True, help="continue the run in --out from its checkpoint")
@click.option("--overwrite", is_flag=True, help="replace the run already in --out")
@click.option(
    "--keep-checkpoint",
    is_flag=True,
    help="keep checkpoint.safetensors when the run ends (to --resume it with more --epochs)",
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
        click.echo(f"resuming {printable(str(out))} with its saved settings", err=True)
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
        click.echo(f"error: {printable(str(e))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt as e:
        saved = getattr(e, "checkpoint_saved", False)
        click.echo(
            "interrupted: checkpoint saved; continue with "
            f"`vedere train --out {printable(str(out))} --resume`"
            if saved
            else f"interrupted{': ' if str(e) else ''}{printable(str(e))}",
            err=True,
        )
        sys.exit(130)
    click.echo(describe(result))
    n_classes = len(result.report["classes"])
    if 0 < result.n_val < n_classes:
        click.echo(
            f"note: {result.n_val} validation image(s) for {n_classes} classes: its accuracy "
            "says little (a fraction is written like --val-split 0.1)",
            err=True,
        )


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
        "arch": kw["arch"],
        "cutout": kw["cutout"],
        "tta": kw["tta"],
        "tta_shift": kw["tta_shift"],
    }
    if kw["arch"] is not None:
        cnn_arch.parse(str(kw["arch"]))  # a bad spec: one line naming --arch
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
        val_split=kw["val_split"],  # type: ignore[arg-type]
        positive_class=str(kw["positive_class"]),
        seed=int(kw["seed"]),
        params=given,
        labels=str(kw.get("labels") or "fine"),
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


def describe(result: RunResult) -> str:
    """The summary ``vedere train`` prints: the data, model, images, why training stopped,
    validation accuracy (when there was validation) and where the run is."""
    r = result.report
    if result.used_sample:
        data = "the embedded CIFAR-10 sample (no --data-dir given)"
    else:
        data = printable(str(result.source))
    lines = [
        f"data            {data}",
        f"model           {type(result.estimator).__name__}",
        f"images          {result.n_train} training, {result.n_val} validation",
        f"training        {result.reason or result.stopped}",
    ]
    if result.n_val:
        lines.append(f"val accuracy    {r['accuracy']:.1%}")
    if "roc_auc" in r:
        lines.append(f"val ROC-AUC     {r['roc_auc']:.3f}")
    lines.append(f"saved to        {printable(str(result.run_dir))}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `vedere train` command")
