"""Detections drawn on the image: one rectangle per box, with its score."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import atomic_write_bytes


def draw_boxes(
    image: np.ndarray, boxes: np.ndarray, labels: list[str] | None = None
) -> Image.Image:
    """An RGB copy of ``image`` ((H, W) grey or (H, W, 3) RGB uint8) with ``boxes`` (K, 4)
    x, y, w, h drawn in green (line width grows with the image)."""
    a = np.asarray(image)
    img = Image.fromarray(a).convert("RGB")
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 250))
    for i, (x, y, w, h) in enumerate(np.asarray(boxes).reshape(-1, 4).tolist()):
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=(0, 255, 0), width=width)
        if labels:
            draw.text((x + width + 1, y + width), labels[i], fill=(0, 255, 0))
    return img


def save_annotated(
    path: str | os.PathLike[str],
    image: np.ndarray,
    boxes: np.ndarray,
    labels: list[str] | None = None,
) -> Path:
    """Write the annotated image as PNG, atomically."""
    buf = io.BytesIO()
    draw_boxes(image, boxes, labels).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())
