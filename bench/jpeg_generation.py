"""What the shared CIFAR-10's JPEG encoding costs: one more JPEG generation, on a shifted grid.

``../shared/datasets/cifar10-train.tar.gz`` holds the training images re-encoded as JPEG
quality 75 with 4:2:0 chroma subsampling (its README); published accuracies (airbench94's
94.0%) are on the original pixels, which are not on this machine. To estimate what the
first encoding cost, this script applies a *second* one that loses about as much again:
each image is reflect-padded by one pixel at the top and left (so that neither the 8×8
blocks nor the 2×2 chroma pairs line up with the first encoding's), encoded at the same
quality and subsampling with Pillow, decoded, and cropped back to 32×32. Training and
evaluating the same recipe on the result and on the shared archive gives the drop of one
generation.

    python bench/jpeg_generation.py OUT.tar.gz [--data ../shared/datasets/cifar10-train.tar.gz]
        [--generations 1]

It prints the root-mean-square pixel change (0–255) of each generation against the one
before, over all images. With ``--generations N`` each generation's grid is shifted one
pixel further (1, 2, … pixels); if a shifted re-encoding is a fresh loss rather than a
no-op, the generations change the pixels by similar amounts.
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"


def reencode(pixels: np.ndarray, quality: int = 75, shift: int = 1) -> np.ndarray:
    """(H, W, 3) uint8 → (H, W, 3) uint8: reflect-pad ``shift`` pixels at the top and left,
    JPEG-encode (``quality``, 4:2:0), decode, crop back."""
    padded = np.pad(pixels, ((shift, 0), (shift, 0), (0, 0)), mode="reflect")
    buf = io.BytesIO()
    Image.fromarray(padded).save(buf, format="JPEG", quality=quality, subsampling=2)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return np.ascontiguousarray(decoded[shift:, shift:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--generations", type=int, default=1)
    ap.add_argument("--quality", type=int, default=75)
    args = ap.parse_args()
    if not 1 <= args.generations <= 8:
        ap.error("--generations must be 1 to 8")
    if not 1 <= args.quality <= 95:
        ap.error("--quality must be 1 to 95 (Pillow's range)")

    sq = np.zeros(args.generations)
    count = 0
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".part")
    os.close(fd)
    try:
        with tarfile.open(args.data) as src, tarfile.open(tmp, "w:gz") as dst:
            for member in src:
                if not member.isfile():
                    if member.isdir():
                        dst.addfile(member)
                    continue
                f = src.extractfile(member)
                assert f is not None
                prev = np.asarray(Image.open(io.BytesIO(f.read())).convert("RGB"))
                for g in range(args.generations):
                    # each generation's grid one pixel further from the last one's: the
                    # same shift twice would re-encode on the same grid, nearly a no-op
                    cur = reencode(prev, args.quality, shift=g + 1)
                    sq[g] += np.mean((cur.astype(np.float64) - prev) ** 2)
                    prev = cur
                count += 1
                buf = io.BytesIO()
                Image.fromarray(prev).save(buf, format="PNG")
                info = tarfile.TarInfo(member.name.rsplit(".", 1)[0] + ".png")
                info.size = buf.tell()
                info.mtime = member.mtime
                buf.seek(0)
                dst.addfile(info, buf)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for g in range(args.generations):
        rms = np.sqrt(sq[g] / count)
        print(f"generation {g + 2}: RMS change {rms:.2f} (0-255) over {count} images")


if __name__ == "__main__":
    main()
