"""``vedere gradcheck``: backpropagation against central differences, layer by layer."""

from __future__ import annotations

import click


@click.command("gradcheck")
@click.option("--seed", type=int, default=0, show_default=True)
def gradcheck_cmd(seed: int) -> None:
    """Check every layer's and loss's backward pass against the derivative's definition."""
    from ..nn.gradcheck import format_table
    from ..nn.gradcheck_suite import TOL, run_suite

    rows, ok = run_suite(seed, TOL)
    click.echo(format_table(rows, TOL, what="arrays"))
    if not ok:
        raise SystemExit(1)
