"""Decode image files of any common format and mode into RGB ``uint8`` arrays (H, W, 3)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


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
) -> np.ndarray:
    """Decode one image to an RGB array (H, W, 3) uint8, resized to ``size`` = (H, W) if given.

    ``data`` is the file's bytes or its path; ``name`` is used in error messages. A file that
    is not an image, is truncated or is corrupt raises :class:`DataError` naming it.
    """
    label = str(name if name is not None else data if not isinstance(data, bytes) else "<bytes>")
    try:
        src = io.BytesIO(data) if isinstance(data, bytes) else Path(data)
        with Image.open(src) as img:
            img.load()  # decode now, so that truncated files fail here
            rgb = to_rgb(img)
            if size is not None and (rgb.height, rgb.width) != tuple(size):
                rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(label, "no such file") from None
    except UnidentifiedImageError:
        raise DataError(label, "not an image Pillow can read (unknown format or corrupt)") from None
    except Image.DecompressionBombError as e:
        raise DataError(label, f"refused: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(label, f"corrupt or truncated image ({e})") from None
