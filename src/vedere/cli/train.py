"""``vedere train``: train a classifier and save its model, history and plots in a run directory.

The options are generated from :data:`vedere.classify.settings.SETTINGS` (one per setting:
its flag, type, range and help, with each model's default read from the estimators); only
the options that act on the command itself (``--out``, ``--resume``, ``--overwrite``,
``--keep-checkpoint``, ``--quiet``) are written here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..classify.cnn import training_flops
from ..classify.estimators import ESTIMATORS
from ..classify.settings import SETTINGS, NotApplicable, Setting, SettingError
from ..escape import printable

if TYPE_CHECKING:
    from ..classify.run import RunResult
    from ..classify.run_config import RunConfig


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


def _convert(setting: Setting, usage: bool) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback checking the option's text with ``setting``: a usage error (exit 2)
    or, with ``usage=False``, a ValueError (one ``error:`` line, exit 1)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return setting(value)
        except SettingError as e:
            if usage:
                raise click.BadParameter(e.problem) from None
            raise

    return callback


def _option(s: Setting) -> Callable[[Any], Any]:
    """The click option of setting ``s``."""
    help_text = s.help if s.run else _help(s.help, s.param)
    kw: dict[str, Any] = {"help": help_text or None, "metavar": s.metavar}
    lo_open, hi_open = s.open in ("lo", "both"), s.open in ("hi", "both")
    if s.kind == "choice":
        kw["type"] = click.Choice(list(s.choices))
    elif s.kind == "int":
        kw["type"] = click.IntRange(s.low, s.high)  # type: ignore[arg-type]
    elif s.kind == "float":
        kw["type"] = click.FloatRange(s.low, s.high, min_open=lo_open, max_open=hi_open)
    elif s.kind == "number":  # a whole number stays an int (fractional epochs: 9.9)
        kw["type"] = click.FloatRange(s.low, s.high, min_open=lo_open, max_open=hi_open)
        kw["callback"] = _convert(s, usage=True)
    elif s.kind == "flag":
        kw["is_flag"] = True
    elif s.kind == "text":
        kw["type"] = click.Path() if s.name == "data_dir" else str
        kw["callback"] = _convert(s, usage=False)
    else:  # sizes, val_split: checked by the setting itself
        kw["callback"] = _convert(s, usage=s.kind == "sizes")
    if s.name in _SHOWN_DEFAULTS:
        kw.update(default=_SHOWN_DEFAULTS[s.name], show_default=True)
    if s.kind == "bool":
        return click.option(f"{s.flag}/--no-{s.flag[2:]}", default=None, **kw)
    return click.option(s.flag, s.name, **kw)


#: run settings whose default the command states (the rest default to None: the model's own)
_SHOWN_DEFAULTS: dict[str, Any] = {
    "model": "mlp",
    "positive_class": "cat",
    "seed": 0,
    "labels": "fine",
}


def _setting_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for s in reversed(list(SETTINGS.values())):
        f = _option(s)(f)
    return f


@click.command()
@_setting_options
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
    from ..classify.run_config import from_settings

    try:
        return from_settings({k: v for k, v in kw.items() if k in SETTINGS}, str(out))
    except NotApplicable as e:  # a usage error, as click's own (exit 2)
        raise click.UsageError(str(e)) from None


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
    flops = training_flops(result.estimator, result.n_train)
    if flops is not None:
        lines.append(f"training PFLOP  {flops / 1e15:.4f} (3 × forward FLOP × images seen)")
    if result.n_val:
        lines.append(f"val accuracy    {r['accuracy']:.1%}")
    if "roc_auc" in r:
        lines.append(f"val ROC-AUC     {r['roc_auc']:.3f}")
    lines.append(f"saved to        {printable(str(result.run_dir))}")
    return "\n".join(lines)
