"""``vedere experiment NAME``: regenerate a lesson's figures from real runs."""

from __future__ import annotations

import time

import click

from ..escape import printable
from ..experiments import EXPERIMENTS


@click.command()
@click.argument("name", type=click.Choice(sorted(EXPERIMENTS)))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="folder for figures and report.md",
)
@click.option("--quick", is_flag=True, help="the small version (under a minute)")
@click.option(
    "--data-dir",
    type=click.Path(exists=True),
    help="CIFAR-10 source (default: the embedded sample)",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--image",
    type=click.Path(exists=True),
    help="photo for viola-jones (default: scikit-image's astronaut)",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="train the experiment's runs in parallel on a local Dask cluster of this many processes",
)
@click.option("--scheduler", metavar="ADDR", help="train them on an existing Dask cluster")
def experiment(
    name: str,
    out: str,
    quick: bool,
    data_dir: str | None,
    seed: int,
    image: str | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Run experiment NAME, writing PNG figures and report.md to --out. Finished runs are kept
    under --out/runs, so an interrupted experiment resumes where it stopped."""
    from ..experiments import run_experiment

    t0 = time.perf_counter()
    options = {"image": image} if name == "viola-jones" else {}
    if image and name != "viola-jones":
        raise click.UsageError("--image is only used by the viola-jones experiment")
    from .executors import open_executor

    with open_executor(workers, scheduler) as ex:
        run_experiment(name, out, quick=quick, seed=seed, data=data_dir, executor=ex, **options)
    click.echo(printable(f"{name}: report and figures in {out} ({time.perf_counter() - t0:.1f} s)"))
