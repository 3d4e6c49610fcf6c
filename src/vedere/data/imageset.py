"""An in-memory labelled image set: ``images`` (N, H, W, 3) uint8, ``labels`` (N,), class names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """Images at the edges of vedere: ``uint8`` (N, H, W, C); labels index ``classes``."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    source: str = ""
    split: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), got {self.labels.shape}"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels out of range for {len(self.classes)} classes")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, index: np.ndarray) -> ImageSet:
        """The images and labels at ``index`` (copied into memory)."""
        return ImageSet(
            np.asarray(self.images[index]),
            np.asarray(self.labels[index]),
            list(self.classes),
            self.source,
            self.split,
            dict(self.meta),
        )

    def counts(self) -> np.ndarray:
        """Images per class, (K,)."""
        return np.bincount(self.labels, minlength=len(self.classes))
