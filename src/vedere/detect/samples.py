"""Training windows for the detector: folders (or ``.tar.gz`` archives) of small grey images,
and face-free background photos for hard-negative mining.

- :func:`load_windows`: every image under a folder (or archive) that holds a ``face`` /
  ``nonface`` style class folder, as (N, H, W) uint8 grey levels of one window size.
- :func:`load_backgrounds`: every image of a folder as a list of grey images of any size.
- :func:`sample_backgrounds`: the 1,500 32×32 CIFAR-10 images embedded in vedere (no class
  shows people) in eight orientations, the extra negatives ``vedere train-detector`` mines
  when given few background photos (:func:`with_sample_backgrounds`).

Colour images become grey with ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B, as Pillow's
"L" mode and OpenCV compute it); 16-bit images are scaled to 8 bits.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vedere.data import archive
from vedere.data.errors import DataError
from vedere.data.images import decode, is_image_name

_CHUNK = 1 << 20  # pixels converted at a time (bounds the float64 temporaries)


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of any integer or float type in its
    usual range → (H, W) uint8 grey levels (alpha ignored; 16-bit scaled by 1/257).

    Converted a band of rows at a time, so a photo of P pixels needs P extra bytes, not the
    24·P of a float64 copy of its three channels."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., 0] if a.shape[2] == 1 else a[..., :3]
    elif a.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, 1|3|4), got shape {a.shape}")
    sixteen_bit = a.dtype == np.uint16 or (a.dtype.kind in "iu" and a.size and a.max() > 255)
    unit_floats = False
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError("image has NaN or infinite values")
        unit_floats = bool(a.size and a.max() <= 1.0)
    out = np.empty(a.shape[:2], dtype=np.uint8)
    rows = max(1, _CHUNK // max(1, a.shape[1]))
    for r in range(0, a.shape[0], rows):
        out[r : r + rows] = _gray_rows(a[r : r + rows], bool(sixteen_bit), unit_floats)
    return out


def _gray_rows(a: np.ndarray, sixteen_bit: bool, unit_floats: bool) -> np.ndarray:
    if sixteen_bit:
        a = a.astype(np.float64) / 257.0
    elif unit_floats:
        a = a * 255.0
    if a.ndim == 3:
        a = a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def read_gray(path: str | os.PathLike[str] | bytes, name: str | None = None) -> np.ndarray:
    """Decode an image file (any mode: RGB, RGBA, palette, grey, 16-bit) to (H, W) uint8.

    Errors (no such file, not an image, truncated, a decompression bomb of more than Pillow's
    ``MAX_IMAGE_PIXELS`` × 2 pixels) are :class:`DataError` naming the file, as for
    :func:`vedere.data.images.decode`, which reports them."""
    label = name or (str(path) if not isinstance(path, bytes) else "<bytes>")
    if not isinstance(path, bytes):
        try:
            with Image.open(path) as img:
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    return to_gray(np.asarray(img))
                if img.mode == "L":  # already grey: no RGB copy (a third of the memory)
                    img.load()
                    return np.array(img, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pass  # decode() below reports the problem with the file's name
    return to_gray(decode(path, label))


def _image_files(source: Path) -> list[tuple[str, bytes | Path]]:
    if archive.is_tar(source):
        return sorted(
            (str(rel), data)
            for rel, data in archive.iter_files(source)
            if data is not None and is_image_name(rel.name)
        )
    if not source.is_dir():
        raise DataError(source, "not a directory or a .tar.gz archive of images")
    out = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        for f in sorted(filenames):
            if is_image_name(f):
                p = Path(dirpath) / f
                out.append((str(p.relative_to(source)), p))
    return out


def load_windows(
    source: str | os.PathLike[str], subfolder: str | None = None, size: int | None = None
) -> np.ndarray:
    """Every image under ``source`` (a folder or ``.tar.gz``), optionally only those inside a
    folder named ``subfolder`` (e.g. ``face``), as (N, S, S) uint8. Images must be square and
    of one size, or are resized to ``size``."""
    source = Path(source)
    if not source.exists():
        raise DataError(source, "no such file or directory")
    files = _image_files(source)
    if subfolder is not None:
        files = [(r, d) for r, d in files if subfolder in Path(r).parts[:-1]]
    if not files:
        where = f" in a '{subfolder}' folder" if subfolder else ""
        raise DataError(source, f"no images{where}")
    out = []
    for rel, data in files:
        g = read_gray(data, f"{source}:{rel}")
        if size is not None and g.shape != (size, size):
            g = np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BILINEAR))
        if out and g.shape != out[0].shape:
            raise DataError(
                f"{source}:{rel}", f"window is {g.shape} but the first one is {out[0].shape}"
            )
        out.append(g)
    return np.stack(out)


def load_backgrounds(source: str | os.PathLike[str]) -> list[np.ndarray]:
    """Every image under a folder or ``.tar.gz`` as grey (H, W) uint8 arrays of any size."""
    source = Path(source)
    if not source.exists():
        raise DataError(source, "no such file or directory")
    files = _image_files(source)
    if not files:
        raise DataError(source, "no images")
    return [read_gray(d, f"{source}:{r}") for r, d in files]


#: below this many background images, training adds the embedded CIFAR-10 sample: a dozen
#: photos hold many windows but few kinds of texture, and a cascade mined on them alone
#: accepts much of what it has never seen (vedere's frontalface was mined on 50,000 images)
FEW_BACKGROUNDS = 1000


#: the embedded sample in each of the eight orientations of the square (rotations by 0, 90,
#: 180 and 270 degrees, each also mirrored): a face-free photo turned or mirrored is still
#: face-free, and 1,500 images give eight times the windows to mine
ORIENTATIONS = 8


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """Orientation ``k`` in [0, 8) of an (H, W) image: rotated by 90°·(k mod 4)
    counter-clockwise (``np.rot90``), then mirrored left-right when k ≥ 4."""
    out = np.rot90(image, k % 4)
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def sample_backgrounds() -> list[np.ndarray]:
    """The embedded CIFAR-10 sample (:func:`vedere.data.dataset.sample_path`; 1,200 train
    and 300 test images of 32×32, none showing people) as grey (32, 32) uint8 images, each
    in its :data:`ORIENTATIONS` orientations (:func:`dihedral`): 12,000 images, orientation
    by orientation. Decoded once per process; the arrays are read-only."""
    return list(_sample_backgrounds())


@functools.cache
def _sample_backgrounds() -> tuple[np.ndarray, ...]:
    from vedere.data.dataset import sample_path

    images = load_backgrounds(sample_path())
    out = tuple(dihedral(g, k) for k in range(ORIENTATIONS) for g in images)
    for a in out:
        a.setflags(write=False)
    return out


def with_sample_backgrounds(
    backgrounds: list[np.ndarray], use_sample: bool | None = None
) -> tuple[list[np.ndarray], int]:
    """``backgrounds`` plus the embedded sample when ``use_sample`` is True, or when it is None
    (the default) and fewer than :data:`FEW_BACKGROUNDS` images are given; also returns how
    many sample images were added."""
    if use_sample is None:
        use_sample = len(backgrounds) < FEW_BACKGROUNDS
    if not use_sample:
        return list(backgrounds), 0
    extra = sample_backgrounds()
    return [*backgrounds, *extra], len(extra)
