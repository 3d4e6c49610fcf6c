"""``vedere demo``: train an MLP on a toy 2-D set and print its accuracy."""

from __future__ import annotations

import click

from ..data.toy import DATASETS


@click.command()
@click.option("--dataset", type=click.Choice(DATASETS), default="spirals", show_default=True)
@click.option("--hidden", default="64,64", show_default=True, help="hidden layer sizes")
@click.option("--epochs", type=click.IntRange(1), default=600, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=0.01, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(dataset: str, hidden: str, epochs: int, lr: float, seed: int) -> None:
    """Train an MLP on a toy 2-D set (no data needed) and print its accuracy."""
    from ..demo import run_demo

    try:
        sizes = tuple(int(h) for h in hidden.split(",") if h.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {hidden!r}") from None
    r = run_demo(dataset, sizes, epochs, lr, seed)
    arch = "-".join(str(s) for s in (2, *r.hidden, r.n_classes))
    click.echo(f"dataset         {r.dataset} (400 training, 400 test points, seed {seed})")
    click.echo(f"model           MLP {arch}, tanh, Adam lr={lr}, {r.epochs} full-batch epochs")
    click.echo(f"final loss      {r.final_loss:.4f}")
    click.echo(f"train accuracy  {r.train_accuracy:.1%}")
    click.echo(f"test accuracy   {r.test_accuracy:.1%}")
