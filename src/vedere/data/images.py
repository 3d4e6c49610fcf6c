"""Decode image files of any common format and mode into RGB ``uint8`` arrays (H, W, 3)."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: largest image file read (bytes); checked with stat before the file is opened
MAX_FILE_BYTES = 64 * 2**20
#: largest image decoded (width × height), checked from the header before decoding
MAX_PIXELS = 40_000_000
#: largest side of the size images are resized to for training (``--image-size``)
MAX_IMAGE_SIDE = 1024


def check_image_size(size: object, name: str = "--image-size") -> int:
    """``size`` as a Python int in 1..MAX_IMAGE_SIDE, or a ValueError naming ``name``.

    Checked before anything is allocated: N images of S×S×3 bytes each.
    """
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"{name} must be a whole number of pixels, got {size!r}")
    if not 1 <= size <= MAX_IMAGE_SIDE:
        raise ValueError(f"{name} must be between 1 and {MAX_IMAGE_SIDE} pixels, got {size}")
    return size


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, label: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    FIFOs, devices (a link to ``/dev/zero``), sockets and directories are refused with a
    :class:`DataError` naming ``label`` before they are opened: reading one would hang or
    never end.
    """
    try:
        st = os.stat(path)  # follows links: what matters is what is read
    except FileNotFoundError:
        raise DataError(label, "no such file") from None
    except OSError as e:
        raise DataError(label, f"cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(label, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(label, "not a regular file (a FIFO, device or socket); refused")
    if st.st_size > max_bytes:
        raise DataError(label, f"file of {st.st_size:,} bytes; images are read up to {max_bytes:,}")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise DataError(label, f"cannot read ({e.strerror})") from None
    if len(data) > max_bytes:
        raise DataError(label, f"file grew past {max_bytes:,} bytes while it was read")
    return data


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image suffixes we read."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB: 16-bit and 32-bit greyscale are scaled to 8 bits, alpha is
    composited over white, palettes and CMYK are converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(a.max()), 1.0)
        if img.mode == "I" and a.max() <= 255:
            top = 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(a, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB") if img.mode != "RGB" else img


def decode(
    data: bytes | str | os.PathLike[str],
    name: str | os.PathLike[str] | None = None,
    size: tuple[int, int] | None = None,
    channels: int = 3,
) -> np.ndarray:
    """Decode one image to an RGB array (H, W, 3) uint8, resized to ``size`` = (H, W) if given;
    ``channels=1``: greyscale (H, W, 1), L = 0.299 R + 0.587 G + 0.114 B (Pillow's "L").

    ``data`` is the file's bytes or its path; ``name`` is used in error messages. A file that
    is not an image, is truncated or is corrupt, a path that is not a regular file, a file
    over ``MAX_FILE_BYTES`` or an image over ``MAX_PIXELS`` (read from its header, before
    decoding) raises :class:`DataError` naming it.
    """
    label = str(name if name is not None else data if not isinstance(data, bytes) else "<bytes>")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
    if size is not None and (
        len(size) != 2
        or not all(isinstance(v, int) and 0 < v for v in size)
        or size[0] * size[1] > MAX_PIXELS
    ):
        raise ValueError(
            f"size must be two positive ints (H, W) of at most {MAX_PIXELS:,} pixels, got {size!r}"
        )
    if not isinstance(data, bytes):
        data = read_regular_file(data, MAX_FILE_BYTES, label)
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DataError(
                    label, f"image of {w}x{h} pixels; at most {MAX_PIXELS:,} are decoded"
                )
            img.load()  # decode now, so that truncated files fail here
            rgb = to_rgb(img)
            if channels == 1:
                rgb = rgb.convert("L")
            if size is not None and (rgb.height, rgb.width) != tuple(size):
                rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            out = np.asarray(rgb, dtype=np.uint8).copy()
            return out[..., None] if channels == 1 else out
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(label, "not an image Pillow can read (unknown format or corrupt)") from None
    except Image.DecompressionBombError as e:
        raise DataError(label, f"refused: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(label, f"corrupt or truncated image ({e})") from None
