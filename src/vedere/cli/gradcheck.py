"""``vedere gradcheck``: backpropagation against central differences, layer by layer."""

from __future__ import annotations

import click


@click.command("gradcheck")
@click.option("--seed", type=int, default=0, show_default=True)
def gradcheck_cmd(seed: int) -> None:
    """Check every layer's and loss's backward pass against the derivative's definition."""
    from ..nn.gradcheck_suite import run_suite

    rows, ok = run_suite(seed)
    click.echo(f"{'component':<22} {'max rel. error':>14}  result")
    for name, err, passed in rows:
        click.echo(f"{name:<22} {err:>14.2e}  {'ok' if passed else 'FAIL'}")
    if not ok:
        raise SystemExit(1)
