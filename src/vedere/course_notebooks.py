"""The course's Jupyter notebooks, shipped inside the package (``vedere/notebooks/``), and
:func:`copy_notebooks`, which ``vedere notebooks DIR`` calls to hand them to a pip user.

The notebooks are stored without outputs; the test suite executes every one of them on the
embedded sample (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .fileio import atomic_write_bytes

#: the notebooks, one per part of the course, in the course's order
NOTEBOOKS = (
    "01-pixels-to-probabilities.ipynb",
    "02-linear-classification-softmax.ipynb",
    "03-perceptron-xor.ipynb",
    "04-activations.ipynb",
    "05-mlp-backprop.ipynb",
    "06-losses.ipynb",
    "07-sgd-learning-rate.ipynb",
    "08-stochastic-minibatch-batch.ipynb",
    "09-initialisation.ipynb",
    "10-overfitting-regularisation.ipynb",
    "11-convolutional-networks.ipynb",
    "12-viola-jones.ipynb",
)
#: every file ``vedere notebooks`` copies: the notebooks and the folder's README
FILES = (*NOTEBOOKS, "README.md")


def notebook_files() -> list[tuple[str, bytes]]:
    """(name, content) of every shipped file of :data:`FILES`, read from the installed package;
    FileNotFoundError naming the file if the installation lacks one."""
    folder = resources.files("vedere").joinpath("notebooks")
    out = []
    for name in FILES:
        entry = folder.joinpath(name)
        if not entry.is_file():
            raise FileNotFoundError(f"the installed vedere package lacks notebooks/{name}")
        out.append((name, entry.read_bytes()))
    return out


def copy_notebooks(dest: str | os.PathLike[str], force: bool = False) -> list[Path]:
    """Copy the notebooks and their README into the folder ``dest`` (created if missing).

    Refuses (FileExistsError naming the first one, before anything is written) when any of
    the files is already there, unless ``force``; ``dest`` must be a folder if it exists.
    Each file is written atomically (a reader sees the old file or the whole new one).
    Returns the paths written, in the course's order."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest}: exists and is not a folder")
    files = notebook_files()  # read everything first: a broken install writes nothing
    if not force:
        for name, _ in files:
            if os.path.lexists(dest / name):
                raise FileExistsError(
                    f"{dest / name}: already exists; --force replaces the copies in {dest}"
                )
    return [atomic_write_bytes(dest / name, data) for name, data in files]
