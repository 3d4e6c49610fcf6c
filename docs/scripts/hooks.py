"""MkDocs hooks: serve MathJax from the site itself, so that the notebooks' formulas render
offline (the notebooks' LaTeX; the docstrings' formulas are Unicode and need nothing), and
tidy the command-line page."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def on_post_build(config: Any, **kwargs: Any) -> None:
    """Copy the MathJax 2 shipped by the ``jupyter-server-mathjax`` package into
    ``assets/mathjax`` of the built site (mkdocs.yml's ``custom_mathjax_url`` points there)."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.copytree(source, Path(config["site_dir"]) / "assets" / "mathjax", dirs_exist_ok=True)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """On the command-line page, an option without a default shows "—": mkdocs-click prints
    click 8.3's internal ``Sentinel.UNSET`` marker there."""
    if page.file.src_uri == "cli.md":
        html = html.replace("<code>Sentinel.UNSET</code>", "—")
    return html
