"""``vedere notebooks DIR``: copy the course's notebooks out of the installed package."""

from __future__ import annotations

from pathlib import Path

import click

from .escape import printable


@click.command("notebooks")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace notebooks already in DIRECTORY.")
def notebooks(directory: Path, force: bool) -> None:
    """Copy the course's Jupyter notebooks (one per part, in order) into DIRECTORY.

    Refuses to replace files already there unless --force. Open them with Jupyter
    (`pip install jupyterlab`, then `jupyter lab DIRECTORY`)."""
    from ..course_notebooks import NOTEBOOKS, copy_notebooks

    written = copy_notebooks(directory, force=force)
    for path in written:
        click.echo(printable(str(path)))
    click.echo(f"copied {len(NOTEBOOKS)} notebooks and README.md to {printable(str(directory))}")
