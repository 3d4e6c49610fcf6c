"""From ``uint8`` images to float batches: per-channel normalisation and augmentation.

- :class:`Normalizer`: x' = (x/255 - μ_c) / σ_c per channel c, with μ, σ fitted on the
  training split (and saved with the model).
- :func:`random_flip`: mirror each image left-right with probability ½.
- :func:`random_crop`: pad by ``pad`` pixels (zeros, or ``mode="reflect"``: the border
  mirrored, as ``np.pad``'s and PyTorch's ``reflect``) and cut a random window of the
  original size — a shift of up to ``pad`` pixels each way.
- :class:`AlternatingFlip`: airbench94's flips — each image is mirrored at random in
  epoch 0 and then in every other epoch relative to that first choice.

Augmentations take and return (B, H, W, C) ``uint8`` batches and draw from the given Generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Normalizer:
    """Per-channel standardisation of images: fit on (N, H, W, C) uint8, apply to batches."""

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)

    def __setattr__(self, name: str, value: Any) -> None:
        # the tiled scale/shift are derived from mean and std: new statistics, new tiles
        if name in ("mean", "std"):
            self.__dict__.pop("_flat_cache", None)
        super().__setattr__(name, value)

    def fit(self, images: np.ndarray, chunk: int = 4096) -> Normalizer:
        """μ_c and σ_c of the pixel values /255 over all images, in chunks (no float copy)."""
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
        c = images.shape[-1]
        s1 = np.zeros(c)
        s2 = np.zeros(c)
        for i in range(0, len(images), chunk):
            b = np.asarray(images[i : i + chunk], dtype=np.float64).reshape(-1, c) / 255.0
            ones = np.ones(b.shape[0])
            s1 += ones @ b  # column sums through BLAS (a strided reduce is 10x slower)
            s2 += ones @ (b * b)
        count = images.shape[0] * images.shape[1] * images.shape[2]
        mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - mean**2, 0))
        self.mean = mean.astype(np.float32)
        self.std = np.maximum(std, 1e-3).astype(np.float32)
        return self

    def __call__(self, batch: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        """(B, H, W, C) uint8 → (B, H·W·C) normalised floats."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Normalizer used before fit")
        if batch.ndim != 4 or batch.shape[-1] != self.mean.shape[0]:
            raise ValueError(
                f"images must be (B, H, W, {self.mean.shape[0]}), got shape {batch.shape}"
            )
        scale, shift = self._flat(batch.shape[1:], np.dtype(dtype))
        out = batch.reshape(batch.shape[0], -1).astype(dtype)
        out *= scale
        out -= shift
        return out

    def _flat(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """1/(255σ) and μ/σ tiled to a whole flattened image (fast, contiguous broadcasting)."""
        key = (shape, dtype)
        cache = self.__dict__.setdefault("_flat_cache", {})
        if key not in cache:
            reps = int(np.prod(shape[:-1]))
            scale = np.tile(1.0 / (255.0 * self.std), reps).astype(dtype)
            shift = np.tile(self.mean / self.std, reps).astype(dtype)
            cache[key] = (scale, shift)
        return cache[key]

    def to_dict(self) -> dict[str, list[float]]:
        """The per-channel mean and std as JSON-ready lists."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Normalizer:
        """The inverse of :meth:`to_dict`; ValueError unless mean and std are 1-D, of one length,
        std > 0."""
        mean, std = np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32)
        if mean.shape != std.shape or mean.ndim != 1 or not (std > 0).all():
            raise ValueError("normalizer needs 1-D mean and positive std of the same length")
        return cls(mean, std)


def random_flip(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image horizontally with probability ½ (a new array)."""
    flip = rng.random(batch.shape[0]) < 0.5
    out = batch.copy()
    out[flip] = batch[flip, :, ::-1]
    return out


def random_crop(
    batch: np.ndarray, rng: np.random.Generator, pad: int = 4, mode: str = "zeros"
) -> np.ndarray:
    """Shift each image by up to ``pad`` pixels in x and y (a new array): the window
    [dy, dy + H) × [dx, dx + W) of the image padded by ``pad``, dy, dx uniform in 0 … 2·pad;
    the padding is zeros, or the image mirrored about its edge (``mode="reflect"``, which
    needs pad < H, W)."""
    if pad <= 0:
        return batch
    b, h, w, c = batch.shape
    if mode == "reflect":
        if pad >= min(h, w):
            raise ValueError(f"reflect padding of {pad} needs images larger than {h}x{w}")
        padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    elif mode == "zeros":
        padded = np.zeros((b, h + 2 * pad, w + 2 * pad, c), dtype=batch.dtype)
        padded[:, pad : pad + h, pad : pad + w] = batch
    else:
        raise ValueError(f"padding mode must be 'zeros' or 'reflect', got {str(mode)[:20]!r}")
    dy = rng.integers(0, 2 * pad + 1, b)
    dx = rng.integers(0, 2 * pad + 1, b)
    out = np.empty_like(batch)
    for i in range(b):  # slicing per image beats fancy indexing by ~10x here
        out[i] = padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    return out


def augment(
    batch: np.ndarray,
    rng: np.random.Generator,
    flip: bool = True,
    pad: int = 4,
    mode: str = "zeros",
) -> np.ndarray:
    """Random horizontal flip, then a random crop with padding ``pad`` (``mode``: zeros or
    reflect, see :func:`random_crop`)."""
    if flip:
        batch = random_flip(batch, rng)
    return random_crop(batch, rng, pad, mode)


#: the most images an :class:`AlternatingFlip` keeps a bit for
MAX_FLIP_IMAGES = 1 << 28


class AlternatingFlip:
    """airbench94's flips: image i of the training set is mirrored in epoch e iff
    b_i XOR (e mod 2), with b_i ~ Bernoulli(½) drawn once from ``seed``.

    So epoch 0 is an ordinary random flip, and every image is then seen mirrored in every
    other epoch — both orientations in any two consecutive epochs, which random flips only
    give half the time."""

    def __init__(self, n_images: int, seed: int | np.random.Generator = 0) -> None:
        if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)):
            raise ValueError(f"n_images must be an integer, got {type(n_images).__name__}")
        if not 1 <= n_images <= MAX_FLIP_IMAGES:
            raise ValueError(f"n_images must be in 1 … {MAX_FLIP_IMAGES}, got {n_images}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.first = rng.random(int(n_images)) < 0.5

    def flips(self, index: np.ndarray, epoch: int) -> np.ndarray:
        """Which of the images ``index`` (indices into the training set) are mirrored in
        ``epoch`` (0-based): a boolean array like ``index``."""
        idx = np.asarray(index)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.first)):
            raise ValueError(f"image indices must be in 0 … {len(self.first) - 1}")
        return self.first[idx] ^ bool(epoch % 2)

    def __call__(self, batch: np.ndarray, index: np.ndarray, epoch: int) -> np.ndarray:
        """The batch (B, H, W, C) of images ``index`` as epoch ``epoch`` sees them (new array)."""
        flip = self.flips(index, epoch)
        if len(flip) != len(batch):
            raise ValueError(f"{len(batch)} images but {len(flip)} indices")
        out = batch.copy()
        out[flip] = batch[flip, :, ::-1]
        return out


def random_cutout(batch: np.ndarray, rng: np.random.Generator, size: int = 8) -> np.ndarray:
    """Cutout (DeVries & Taylor 2017): zero a ``size`` × ``size`` square at a random centre
    of each image, clipped at the borders (a new array; ``size`` 0 returns ``batch``)."""
    if size <= 0:
        return batch
    b, h, w, _ = batch.shape
    cy = rng.integers(0, h, b)
    cx = rng.integers(0, w, b)
    y0, x0 = np.clip(cy - size // 2, 0, h), np.clip(cx - size // 2, 0, w)
    y1, x1 = np.clip(cy - size // 2 + size, 0, h), np.clip(cx - size // 2 + size, 0, w)
    rows, cols = np.arange(h), np.arange(w)
    mask = ((rows[None, :] >= y0[:, None]) & (rows[None, :] < y1[:, None]))[:, :, None] & (
        (cols[None, :] >= x0[:, None]) & (cols[None, :] < x1[:, None])
    )[:, None, :]
    out = batch.copy()
    out[mask] = 0
    return out
