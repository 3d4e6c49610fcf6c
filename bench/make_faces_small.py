"""Make the small face set the tests ship: tests/data/faces-small-{face,nonface}.png.

400 faces and 200 non-faces (24×24 grey) drawn with seed 0 from the shared
faces24-train.tar.gz (the MIT CBCL face database #1, training part, upscaled from 19×19;
CBCL Face Database #1, MIT Center for Biological and Computational Learning), each set laid
out as a mosaic of 20 windows per row, about 230 KB in all. The tests read them with
``tests.helpers.small_faces()``, so that the detector's tests run on a fresh clone without
../shared. Run from the repository root: ``python bench/make_faces_small.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from vedere.detect.samples import load_windows

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEDERE_SHARED", REPO.parent / "shared"))
FACES = SHARED / "datasets" / "faces24-train.tar.gz"
OUT = REPO / "tests" / "data"
PER_ROW = 20
COUNTS = {"face": 400, "nonface": 200}


def mosaic(windows: np.ndarray) -> np.ndarray:
    """(N, 24, 24) with N a multiple of PER_ROW → (N/PER_ROW·24, PER_ROW·24)."""
    n, h, w = windows.shape
    return (
        windows.reshape(n // PER_ROW, PER_ROW, h, w).transpose(0, 2, 1, 3).reshape(-1, PER_ROW * w)
    )


def main() -> None:
    rng = np.random.default_rng(0)
    for kind, n in COUNTS.items():
        windows = load_windows(FACES, kind)
        pick = np.sort(rng.permutation(len(windows))[:n])
        path = OUT / f"faces-small-{kind}.png"
        Image.fromarray(mosaic(windows[pick])).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
