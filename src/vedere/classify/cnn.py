"""A convolutional network classifier: images in, class probabilities out.

``CNNClassifier(arch="default")`` builds the network of a preset or spec string
(:mod:`vedere.classify.cnn_arch`): convolutions with batch normalisation, pooling, then
(dropout and) a linear classifier, softmax on top; trained on cross-entropy with label
smoothing, Nesterov momentum, L2 weight decay on weights only (not on biases or BatchNorm's
γ, β), a cosine schedule after a linear warm-up, flips, shifts and optional cutout; it
predicts with test-time flip averaging: p(x) = softmax(f̄(x)), f̄(x) = (f(x) + f(mirror(x))) / 2,
and with ``tta_shift`` s > 0 also over two translated copies T₊ₛx, T₋ₛx (shifted s pixels
down-right and up-left, the border filled by reflection):
p(x) = softmax(½ f̄(x) + ¼ f̄(T₊ₛx) + ¼ f̄(T₋ₛx)).

Input: images (N, H, W, C) ``uint8``; the network sees them normalised per channel as
float32 (N, C, H, W) (PyTorch's layout, so weights move between the two unchanged).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .. import nn
from ..data.transforms import augment, random_cutout
from ..nn.io import ModelFileError
from ..nn.losses import Loss
from . import cnn_arch
from .base import BaseClassifier, Preprocess, check_X
from .train_config import TrainConfig

#: images per forward pass when predicting (bounded memory: activations and im2col buffers)
PREDICT_BATCH = 256
MAX_IMAGE_SIDE = 512
MAX_CHANNELS = 64
#: the largest test-time translation (pixels)
MAX_TTA_SHIFT = 8


def _plain_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def translate(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (N, H, W, C) moved ``dy`` pixels down and ``dx`` right (negative: up, left), the
    uncovered border filled by reflection: out[n, i, j] = x[n, r(i - dy), r(j - dx)] with
    r(k) = -k below 0 and 2(H-1) - k past H-1 (``np.pad``'s ``reflect``); |dy| < H, |dx| < W."""
    h, w = images.shape[1:3]
    py, px = abs(dy), abs(dx)
    padded = np.pad(images, ((0, 0), (py, py), (px, px), (0, 0)), mode="reflect")
    return np.ascontiguousarray(padded[:, py - dy : py - dy + h, px - dx : px - dx + w])


class ImagePreprocess(Preprocess):
    """(B, H, W, C) ``uint8`` → normalised float32 (B, C, H, W), with flips, shifts of up to
    ``pad`` pixels and a ``cutout`` × ``cutout`` hole while training."""

    def __init__(self, base: Preprocess, do_augment: bool, pad: int, cutout: int = 0) -> None:
        if base.kind != "image":
            raise ValueError("a CNN needs images (N, H, W, C), not feature vectors")
        super().__init__("image", base.shape, base.scaler, do_augment, pad)
        self.cutout = int(cutout)

    def __call__(self, raw: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        raw = np.asarray(raw)
        if self.do_augment and rng is not None:
            raw = augment(raw, rng, pad=self.pad)
            raw = random_cutout(raw, rng, self.cutout)
        b, h, w, c = raw.shape
        flat = self.scaler(raw)  # (B, H·W·C)
        return np.ascontiguousarray(flat.reshape(b, h, w, c).transpose(0, 3, 1, 2))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "layout": "NCHW"}


class CNNClassifier(BaseClassifier):
    """A convolutional network (see :mod:`vedere.classify.cnn_arch` for ``arch``) trained on
    cross-entropy; the defaults are the recipe of ``vedere train --model cnn``.

    Parameters beyond the shared training ones: ``arch`` (preset or spec), ``activation``,
    ``dropout`` (before the linear classifier), ``label_smoothing`` ε (targets
    (1 - ε)·onehot + ε/K), ``l2`` (weight decay λ on conv and linear weights only),
    ``augment`` (random flips and shifts of up to ``crop_padding`` pixels), ``cutout``
    (side of a zeroed square, 0 = off), ``tta`` (average the logits of each image and its
    mirror image when predicting), ``tta_shift`` (with ``tta``, also average over the image
    translated this many pixels both ways, 0 = off; see the module's formula).
    """

    def __init__(
        self,
        arch: str = "default",
        activation: str = "relu",
        dropout: float = 0.0,
        epochs: int = 15,
        batch_size: int = 256,
        lr: float = 0.1,
        optimizer: str = "nesterov",
        momentum: float = 0.9,
        schedule: str = "cosine",
        warmup: int = 1,
        l1: float = 0.0,
        l2: float = 5e-4,
        label_smoothing: float = 0.2,
        clip_norm: float = 0.0,
        early_stopping: int = 0,
        tol: float = 0.0,
        validation_split: float = 0.0,
        augment: bool = True,
        crop_padding: int = 2,
        cutout: int = 0,
        tta: bool = True,
        tta_shift: int = 0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self._store(locals())

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, **kw: Any) -> Any:
        """Train on images X (N, H, W, C) uint8 and labels y (N,); see BaseClassifier.fit."""
        X = check_X(X)
        if X.ndim != 4:
            raise ValueError(
                f"{type(self).__name__} needs images (N, H, W, C) uint8, got shape {X.shape}"
            )
        cnn_arch.plan(self.arch, X.shape[1:], 2)  # a bad spec fails before any work
        self._checked_tta_shift(X.shape)
        return super().fit(X, y, X_val, y_val, **kw)

    def _adapt_preprocess(self, pre: Preprocess) -> Preprocess:
        return ImagePreprocess(pre, bool(self.augment), int(self.crop_padding), int(self.cutout))

    def _train_config(self) -> TrainConfig:
        cfg = super()._train_config()
        cfg.eval_batch_size = PREDICT_BATCH
        return cfg

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return cnn_arch.build(
            self.arch,
            self.preprocess_.shape,
            n_classes,
            activation=self.activation,
            dropout=float(self.dropout),
            rng=rng,
        )

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.SoftmaxCrossEntropy(self.label_smoothing)

    # -- prediction -----------------------------------------------------------------------------
    def _scores(self, X: Any, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Logits (N, K); with ``tta`` the flip average f̄(x) = (f(x) + f(mirror(x))) / 2, and
        with ``tta_shift`` s also ½ f̄(x) + ¼ f̄(T₊ₛx) + ¼ f̄(T₋ₛx) (module docstring)."""
        if not self.tta:
            return super()._scores(X, batch_size)
        X = check_X(X)
        shift = self._checked_tta_shift(X.shape)
        out = self._flip_averaged(X, batch_size)
        if shift:
            ahead = self._flip_averaged(translate(X, shift, shift), batch_size)
            behind = self._flip_averaged(translate(X, -shift, -shift), batch_size)
            out = out / 2 + (ahead + behind) / 4
        return out

    def _flip_averaged(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        mirrored = np.ascontiguousarray(X[:, :, ::-1])
        return (super()._scores(X, batch_size) + super()._scores(mirrored, batch_size)) / 2

    def _checked_tta_shift(self, shape: tuple[int, ...]) -> int:
        """``tta_shift`` as a Python int in [0, MAX_TTA_SHIFT], smaller than the image's sides
        (it may come from a model file: checked before any array is padded)."""
        s = self.tta_shift
        if isinstance(s, np.integer):
            s = int(s)
        if type(s) is not int or not 0 <= s <= MAX_TTA_SHIFT:
            raise ValueError(f"tta_shift must be an integer in [0, {MAX_TTA_SHIFT}], got {s!r:.40}")
        if s and len(shape) == 4 and s >= min(shape[1], shape[2]):
            raise ValueError(f"tta_shift={s} is not smaller than the images' sides {shape[1:3]}")
        return s

    def feature_maps(self, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The outputs of every layer for one image (H, W, C) uint8, in eval mode:
        [(layer name, array (C, H, W) or (K,))], the input first."""
        self._check_fitted()
        x = self.preprocess_(check_X(np.asarray(image)[None]), None)
        maps = [("input", x[0])]
        self.network_.eval()
        for layer in self.network_.layers:
            x = layer.forward(x)
            maps.append((type(layer).__name__, x[0]))
        return maps

    # -- files ------------------------------------------------------------------------------------
    def _check_loaded(
        self, path: str | os.PathLike[str], network: nn.Module, pre: Preprocess, n_classes: int
    ) -> Preprocess:
        """Refuse a model file whose architecture is not the one its ``arch`` builds (a
        tampered stride, padding, pool or layer), before it ever sees an image."""
        shape = pre.shape
        sides_ok = len(shape) == 3 and all(
            type(v) is int and 1 <= v <= bound
            for v, bound in zip(shape, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, MAX_CHANNELS), strict=True)
        )
        if pre.kind != "image" or not sides_ok:
            raise ModelFileError(
                path,
                f"a CNN needs (H, W, C) images of at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} "
                f"pixels and {MAX_CHANNELS} channels, the file declares {str(shape)[:60]}",
            )
        try:
            self._checked_tta_shift((1, *shape))
        except ValueError as e:
            raise ModelFileError(path, f"invalid classifier metadata ({e})") from None
        try:
            expected = cnn_arch.build(
                self.arch, pre.shape, n_classes, activation=self.activation, dropout=self.dropout
            )
        except (TypeError, ValueError, OverflowError) as e:
            raise ModelFileError(path, f"invalid CNN architecture ({e})") from None
        if _plain_json(expected.get_config()) != _plain_json(network.get_config()):
            raise ModelFileError(
                path, f"the network is not the architecture {str(self.arch)[:60]!r} it declares"
            )
        return ImagePreprocess(pre, False, 0)
