"""``vedere cascades``: the cascades ``vedere detect --cascade`` can use here."""

from __future__ import annotations

import json

import click

from ..escape import printable


@click.command("cascades")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def cascades(as_json: bool) -> None:
    """List vedere's own cascades and OpenCV's stock ones found here (an installed
    opencv-python's data folder, Debian's /usr/share/opencv4/): the name to give
    --cascade, window (width x height), stages, weak classifiers, features (haar, haar with
    tilted ones, lbp), stumps or trees, and the file."""
    from ..detect.cascade import CascadeFileError, load_cascade
    from ..detect.library import SHIPPED, shipped_names
    from ..detect.opencv_xml import opencv_cascades

    entries = [(name, SHIPPED / f"{name}.json") for name in shipped_names()]
    seen = set()
    for stem, path in opencv_cascades().items():
        key = stem.replace("licence", "license")  # one plate cascade, two spellings
        if key in seen:
            continue
        seen.add(key)
        short = stem.split("_", 1)[1] if stem.startswith("haarcascade_") else stem
        entries.append((f"opencv:{short}", path))
    if not as_json:
        click.echo(
            f"{'name':<38} {'window':>7} {'stages':>6} {'weak':>5} {'features':<13} "
            f"{'weak kind':<9} file"
        )
    for name, path in entries:
        try:
            c = load_cascade(path)
        except CascadeFileError as e:
            click.echo(f"{name}: {printable(str(e))}", err=True)
            continue
        kind = "lbp" if c.is_lbp else ("haar+tilted" if c.tilted else "haar")
        weak = "stumps" if c.is_stumps else "trees"
        h, w = c.window
        if as_json:
            row = {
                "name": name,
                "window": [w, h],
                "stages": c.n_stages,
                "weak_classifiers": c.n_weak,
                "nodes": len(c.feature),
                "features": kind,
                "weak": weak,
                "path": str(path),
            }
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{printable(name):<38} {f'{w}x{h}':>7} {c.n_stages:>6} {c.n_weak:>5} "
                f"{kind:<13} {weak:<9} {printable(str(path))}"
            )
