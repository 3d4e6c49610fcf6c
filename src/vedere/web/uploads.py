"""What the playground does with an uploaded image: classify it, or find the faces in it.

Uploads are bytes of one of :data:`FORMATS` (checked by decoding, never by the name or the
declared type; Pillow tries no other plugin). Errors are :class:`UploadError` with the HTTP
status the server answers: 413 for a file or an image too large (the pixel count is checked
from the header, before decoding), 400 for anything that is not a readable image.
"""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..classify.base import BaseClassifier
from ..classify.prediction import top_classes
from ..data import images
from ..data.images import to_rgb
from ..detect.cascade import Cascade
from ..detect.detector import detect_scaled
from ..detect.samples import to_gray
from ..errors import VedereError

MAX_BYTES = 10 * 2**20  # 10 MiB per upload
MAX_PIXELS = images.MAX_PIXELS  # 40 megapixels, as everywhere vedere decodes images
#: the formats uploads may have (Pillow's other plugins — DDS, EPS, ICNS… — are never tried)
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
#: the exceptions Pillow's decoders raise on corrupt data (they go beyond OSError)
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                 TypeError, NotImplementedError, ZeroDivisionError)  # fmt: skip
DETECT_SIDE = 1280  # photos are scanned with their longest side at most this many pixels
MODELS = Path(__file__).resolve().parent / "models"
#: the image classifier the playground ships: vedere's default CNN in int8 (311 KB),
#: written by bench/train_playground_cnn.py
SHIPPED_MODEL = MODELS / "cifar10-cnn.safetensors"


class UploadError(VedereError):
    """An upload the playground refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def read_image(data: bytes, name: str = "upload") -> np.ndarray:
    """Decode an uploaded file to RGB (H, W, 3) uint8, refusing non-images and huge images."""
    if not data:
        raise UploadError(f"{name}: the file is empty")
    if len(data) > MAX_BYTES:
        raise UploadError(
            f"{name}: {len(data) / 2**20:.1f} MiB is more than the {MAX_BYTES // 2**20} MiB "
            "allowed",
            413,
        )
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            w, h = img.size  # from the header: checked before any pixel is decoded
            if w * h > MAX_PIXELS:
                raise UploadError(
                    f"{name}: {w}x{h} is more than {MAX_PIXELS // 1_000_000} megapixels", 413
                )
            img.load()  # decode now, so that truncated files fail here
            return np.asarray(to_rgb(img), dtype=np.uint8).copy()
    except UploadError:
        raise
    except Image.DecompressionBombError:  # Pillow's own cap (2 × 89 megapixels) said so
        raise UploadError(
            f"{name}: the image declares more than {MAX_PIXELS // 1_000_000} megapixels", 413
        ) from None
    except UnidentifiedImageError:
        raise UploadError(f"{name}: not an image (PNG, JPEG, GIF, BMP, TIFF or WebP)") from None
    except DECODE_ERRORS as e:  # what Pillow's decoders raise on corrupt files
        raise UploadError(f"{name}: corrupt or truncated image ({e})"[:300]) from None


def classify(est: BaseClassifier, rgb: np.ndarray, top_k: int = 5) -> list[dict[str, Any]]:
    """The ``top_k`` classes with their probabilities, highest first, for one RGB image
    (resized to the model's input size as ``vedere predict`` does)."""
    h, w, c = est.preprocess_.shape
    img = Image.fromarray(rgb)
    if c == 1:  # a greyscale model (MNIST): luma, as ``vedere predict`` converts
        img = img.convert("L")
    if (img.height, img.width) != (h, w):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.uint8)
    (top,) = top_classes(est, (a[..., None] if c == 1 else a)[None], top_k)
    return [{"class": c, "probability": p} for c, p in top]


def find_faces(cascade: Cascade, rgb: np.ndarray, min_neighbors: int = 3) -> dict[str, Any]:
    """Viola–Jones boxes (x, y, w, h in the image's own pixels) for an RGB photo; photos
    larger than ``DETECT_SIDE`` are scanned at that size and the boxes scaled back."""
    gray = to_gray(rgb)
    h, w = gray.shape
    t0 = time.perf_counter()
    found, scanned = detect_scaled(gray, cascade, max_side=DETECT_SIDE, min_neighbors=min_neighbors)
    seconds = time.perf_counter() - t0
    boxes = [
        {k: b[k] for k in ("x", "y", "w", "h")} | {"neighbors": b["neighbors"]}
        for b in found.to_list()
    ]
    return {
        "width": w,
        "height": h,
        "scanned": [scanned[1], scanned[0]],
        "boxes": boxes,
        "seconds": seconds,
    }


def model_name(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    return "vedere's small CIFAR-10 CNN (shipped)" if p == SHIPPED_MODEL else str(p)
