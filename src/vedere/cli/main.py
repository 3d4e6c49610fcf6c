"""Entry point of the ``vedere`` command: a click group and its error handling."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from .demo import demo
from .detect import detect
from .evaluate import evaluate
from .experiment import experiment
from .export import export
from .gradcheck import gradcheck_cmd
from .playground import playground
from .predict import predict
from .sweep import sweep
from .train import train
from .train_detector import train_detector


class VedereGroup(click.Group):
    """Turns expected errors (bad input, bad files) into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `vedere predict DIR | head`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except (ValueError, OSError) as e:
            click.echo(f"error: {e}", err=True)
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
cli.add_command(train_detector)
cli.add_command(experiment)
cli.add_command(export)
cli.add_command(playground)
cli.add_command(sweep)


def main() -> None:
    """Run the ``vedere`` command (also as ``python -m vedere`` or ``python -m vedere.cli``)."""
    cli(prog_name="vedere")
