"""``vedere sweep``: search ``vedere train`` settings with Optuna, trials on a Dask cluster."""

from __future__ import annotations

import click

from ..escape import printable


@click.command()
@click.argument("spec_file", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="sweep folder")
@click.option(
    "--trials",
    type=click.IntRange(1, 10_000),
    help="how many trials in all [default: the spec's 'trials']",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="trials at once on a local Dask cluster of this many processes [default: 1, in process]",
)
@click.option(
    "--scheduler",
    metavar="ADDR",
    help="an existing Dask scheduler, e.g. tcp://HOST:8786 (data and --out must be visible "
    "to its workers at the same paths)",
)
@click.option("--resume", is_flag=True, help="continue the sweep in --out (same spec)")
@click.option("--quiet", is_flag=True, help="no progress output")
def sweep(
    spec_file: str,
    out: str,
    trials: int | None,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    quiet: bool,
) -> None:
    """Run a hyper-parameter sweep described by SPEC.toml into --out.

    Each trial is an ordinary run directory under OUT/trials/NNNN; OUT/trials.csv has one row
    per trial, OUT/report.md the best trial's command line and the figures, OUT/best links the
    best run (vedere evaluate OUT/best).
    """
    from ..sweep import load, run_sweep
    from .executors import open_executor

    spec = load(spec_file)
    with open_executor(workers, scheduler) as ex:
        result = run_sweep(spec, out, ex, trials=trials, resume=resume, progress=not quiet)
    counts = {
        s: sum(r["state"] == s for r in result.rows) for s in ("complete", "pruned", "failed")
    }
    click.echo(
        f"trials          {len(result.rows)} ({counts['complete']} complete, "
        f"{counts['pruned']} pruned, {counts['failed']} failed)"
    )
    if result.best is not None:
        params = ", ".join(
            f"{k}={result.best[k]:.4g}"
            if isinstance(result.best[k], float)
            else f"{k}={result.best[k]}"
            for k in spec.search
        )
        click.echo(
            f"best            trial {result.best['trial']}: {spec.metric} "
            f"{result.best[spec.metric]:.4f} ({printable(params)})"
        )
    click.echo(f"report          {printable(str(result.out / 'report.md'))}")
