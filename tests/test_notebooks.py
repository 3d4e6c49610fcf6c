"""The course's notebooks: stored clean, shipped with the package, and every one executed."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

from vedere.course_notebooks import FILES, NOTEBOOKS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "src" / "vedere" / "notebooks"

# the course's parts in its order (the list): each notebook's title must name its part
PARTS = [
    ("01", "pixels to probabilities"),
    ("02", "linear classification and softmax"),
    ("03", "perceptron and xor"),
    ("04", "activation functions"),
    ("05", "backpropagation"),
    ("06", "loss functions"),
    ("07", "learning rate"),
    ("08", "stochastic, mini-batch and batch"),
    ("09", "initialising"),
    ("10", "over-fitting and regularisation"),
    ("11", "convolutional networks"),
    ("12", "viola–jones"),
]


def read(name: str) -> dict:
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


def test_the_folder_holds_exactly_the_listed_notebooks_in_the_course_order():
    on_disk = sorted(p.name for p in FOLDER.iterdir())
    assert on_disk == sorted(FILES)
    assert list(NOTEBOOKS) == sorted(NOTEBOOKS)  # the numbering is the order
    for (number, part), name in zip(PARTS, NOTEBOOKS, strict=True):
        title = read(name)["cells"][0]["source"]
        title = "".join(title).splitlines()[0].lower()
        assert name.startswith(number) and title.startswith(f"# {int(number)} ·"), name
        assert part in title, (name, title)


def test_the_checkout_link_points_at_the_shipped_folder():
    assert (ROOT / "notebooks").resolve() == FOLDER.resolve()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs_and_ends_with_exercises(name):
    nb = read(name)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, name
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, name
    last = "".join(nb["cells"][-1]["source"])
    assert nb["cells"][-1]["cell_type"] == "markdown" and "## Exercises" in last
    assert last.count("\n# 1.") + last.count("\n1. ") >= 1
    source = "".join("".join(c["source"]) for c in code)
    assert "from vedere" in source  # it calls vedere's API


def test_package_data_ships_every_notebook_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["vedere"]
    for name in FILES:
        assert any(fnmatch.fnmatch(f"notebooks/{name}", p) for p in patterns), name


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error_and_draws_its_figures(name, tmp_path):
    nb = nbformat.read(FOLDER / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},  # the working folder: a scratch one
    )
    client.execute()  # raises CellExecutionError on the first cell that raises
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{name} drew no inline figure"
