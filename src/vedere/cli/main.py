"""Entry point of the ``vedere`` command: a click group and its error handling."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import expected
from ..escape import printable
from ..fileio import OutputError, describe_os_error
from .cascades import cascades
from .demo import demo
from .detect import detect
from .evaluate import evaluate
from .experiment import experiment
from .export import export
from .gradcheck import gradcheck_cmd
from .notebooks import notebooks
from .playground import playground
from .predict import predict
from .sweep import sweep
from .train import train
from .train_detector import train_detector

_NO_ARGS_IS_HELP: type[click.ClickException] | tuple[()] = getattr(
    click.exceptions, "NoArgsIsHelpError", ()
)


def error_line(e: BaseException) -> str:
    """``error: <file or argument>: <problem>`` for an expected error, on one line (names
    escaped by :func:`vedere.escape.printable`). An OSError names its file and its problem
    in words (``error: out.png: no space left on device``), not ``[Errno 28] …``."""
    if isinstance(e, OSError) and not isinstance(e, OutputError) and e.strerror:
        where = e.filename if e.filename is not None else None
        text = describe_os_error(e)
        if where is not None:
            text = f"{os.fsdecode(where)}: {text}"
    elif (
        isinstance(e, click.BadParameter)
        and not isinstance(e, click.MissingParameter)
        and e.param is not None
    ):
        hint = e.param.get_error_hint(e.ctx) if e.ctx else e.param.name
        text = f"{hint.strip(chr(39))}: {e.message}"
    elif isinstance(e, click.ClickException):
        text = e.format_message()
    else:
        text = str(e)
    return f"error: {printable(text)}"


class VedereGroup(click.Group):
    """Turns expected errors (bad input, bad files: :func:`vedere.errors.expected`) into one
    line on stderr and exit 1, and usage errors (a bad option or value) into one line and
    exit 2; anything else (a bug) keeps its traceback."""

    def main(self, *args: object, standalone_mode: bool = True, **kwargs: object) -> object:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[arg-type]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[arg-type]
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except _NO_ARGS_IS_HELP as e:  # `vedere` alone: the help, as click prints it
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(error_line(e), err=True)
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `vedere predict DIR | head`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except (ValueError, OSError) as e:
            if not expected(e):  # a bug: its traceback, not one line (vedere.errors)
                raise
            click.echo(error_line(e), err=True)
            sys.exit(1)


@click.group(cls=VedereGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vedere")
def cli() -> None:
    """vedere — teach a computer to see, from first principles."""


cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(predict)
cli.add_command(demo)
cli.add_command(gradcheck_cmd)
cli.add_command(detect)
cli.add_command(cascades)
cli.add_command(train_detector)
cli.add_command(experiment)
cli.add_command(export)
cli.add_command(playground)
cli.add_command(sweep)
cli.add_command(notebooks)


def main() -> None:
    """Run the ``vedere`` command (also as ``python -m vedere`` or ``python -m vedere.cli``)."""
    cli(prog_name="vedere")
