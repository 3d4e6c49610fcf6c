"""``vedere playground``: a local web page to train networks on 2-D data and watch them learn,
classify images and find faces, all computed by vedere on this machine."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="port to listen on (0: any free port)",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to listen on; anything but loopback makes the page reachable from other machines",
)
@click.option(
    "--model",
    type=click.Path(exists=True),
    help="CIFAR-10 model for the image tab (a run directory or a model file); "
    "default: the small model shipped with vedere",
)
@click.option("--no-browser", is_flag=True, help="do not open a browser")
def playground(port: int, host: str, model: str | None, no_browser: bool) -> None:
    """Start the playground's web server (Ctrl-C stops it)."""
    from ..web.server import Playground, serve

    serve(Playground(model), host=host, port=port, open_browser=not no_browser)
