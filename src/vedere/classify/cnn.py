"""A convolutional network classifier: images in, class probabilities out.

``CNNClassifier(arch="default")`` builds the network of a preset or spec string
(:mod:`vedere.classify.cnn_arch`): convolutions with batch normalisation, pooling, then
(dropout and) a linear classifier, softmax on top; trained on cross-entropy with label
smoothing, Nesterov momentum, L2 weight decay on weights only (not on biases or BatchNorm's
γ, β), a cosine schedule after a linear warm-up, flips, shifts and optional cutout; it
predicts with test-time flip averaging: p(x) = softmax(f̄(x)), f̄(x) = (f(x) + f(mirror(x))) / 2,
and with ``tta_shift`` s > 0 also over two translated copies T₊ₛx, T₋ₛx (shifted s pixels
down-right and up-left, the border filled by reflection):
p(x) = softmax(½ f̄(x) + ¼ f̄(T₊ₛx) + ¼ f̄(T₋ₛx)). The named test-time modes (``TTA_MODES``):
``none`` (f(x)), ``flip`` (f̄(x)) and ``multicrop`` — airbench94's six views, the shifts of
one pixel: ½·mean(f(x), f(mirror x)) + ½·mean over T₊₁, T₋₁ of the same.

airbench94's ingredients are options of the estimator (all off by default; ``--recipe
airbench94`` of ``vedere train`` turns them on, see :data:`AIRBENCH94`): a whitening stem and
the architecture's BatchNorm/dirac options (:mod:`.cnn_arch`), ``pad_mode="reflect"``
shifts, ``flip="alternating"``, ``loss_reduction="sum"``, ``weight_decay`` (absolute, per
update, on every trainable parameter: each group's coupled decay is wd/(its rate), see
:func:`vedere.nn.optim.decay_per_step`), ``bn_bias_lr_scale`` (BatchNorm β's rate
multiplier), ``stem_bias_epochs`` (the whitening bias trains that many epochs) and
``lookahead`` (:class:`vedere.nn.averaging.Lookahead`).

Input: images (N, H, W, C) ``uint8``; the network sees them normalised per channel as
float32 (N, C, H, W) (PyTorch's layout, so weights move between the two unchanged).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from .. import nn
from ..data.transforms import AlternatingFlip, augment, random_cutout
from ..nn.io import ModelFileError
from ..nn.losses import Loss
from ..nn.param_group import ParamGroup, decay_per_step
from . import cnn_arch
from .base import BaseClassifier, Preprocess, check_X
from .train_config import TrainConfig

#: images per forward pass when predicting (bounded memory: activations and im2col buffers)
PREDICT_BATCH = 256
MAX_IMAGE_SIDE = 512
MAX_CHANNELS = 64
#: the largest test-time translation (pixels)
MAX_TTA_SHIFT = 8
#: named test-time modes → (tta, tta_shift)
TTA_MODES: dict[str, tuple[bool, int]] = {
    "none": (False, 0),
    "flip": (True, 0),
    "multicrop": (True, 1),
}
PAD_MODES = ("zeros", "reflect")
FLIP_MODES = ("random", "alternating", "none")
LOSS_REDUCTIONS = ("mean", "sum")

#: airbench94's recipe as CNNClassifier parameters (Jordan 2024, legacy/airbench94.py):
#: its network, batch 1024 (last partial batch dropped), 9.9 epochs, Nesterov SGD with
#: momentum 0.85 and lr 11.5 per 1024 images ÷ (1 + 1/(1 - 0.85)), the summed loss, decay
#: 0.0153·1024 per 1024 images ÷ (1 + 1/0.15) applied as wd/lr, BatchNorm biases at 64× the
#: rate, the piecewise-linear schedule, label smoothing 0.2, lookahead, reflect-padded
#: 2-pixel shifts, alternating flips and the six-view test-time mode
_KILOSTEP = 1024 * (1 + 1 / (1 - 0.85))
AIRBENCH94: dict[str, Any] = {
    "arch": "airbench94",
    **cnn_arch.AIRBENCH94_OPTIONS,
    "epochs": 9.9,
    "batch_size": 1024,
    "drop_last": True,
    "optimizer": "nesterov",
    "momentum": 0.85,
    "lr": 11.5 / _KILOSTEP,
    "weight_decay": 0.0153 * 1024 / _KILOSTEP,
    "l2": 0.0,
    "bn_bias_lr_scale": 64.0,
    "stem_bias_epochs": 3,
    "schedule": "piecewise",
    "warmup": 0,
    "label_smoothing": 0.2,
    "loss_reduction": "sum",
    "lookahead": True,
    "augment": True,
    "crop_padding": 2,
    "pad_mode": "reflect",
    "flip": "alternating",
    "cutout": 0,
    "tta": True,
    "tta_shift": 1,
}


#: the named recipes of ``vedere train --model cnn --recipe NAME``: CNNClassifier parameters
RECIPES: dict[str, dict[str, Any]] = {"airbench94": AIRBENCH94}


def recipe_params(name: str) -> dict[str, Any]:
    """The CNNClassifier parameters of a named recipe (a copy)."""
    if name not in RECIPES:
        raise ValueError(f"--recipe must be one of {', '.join(RECIPES)}, got {str(name)[:20]!r}")
    return dict(RECIPES[name])


def training_flops(est: Any, n_train: int) -> float | None:
    """The FLOP a fitted CNN's training took: 3 × its forward FLOP per image
    (:attr:`cnn_arch.Plan.train_flops`) × the images its updates saw (every epoch of the
    history, the last perhaps partial, without dropped partial batches). None for other
    models."""
    if not isinstance(est, CNNClassifier) or not hasattr(est, "history_"):
        return None
    cfg = est.train_config()
    per_image = cnn_arch.plan(est.arch, est.preprocess_.shape, len(est.classes_)).train_flops
    bs = cfg.batch(n_train)
    seen = 0
    for epoch in range(len(est.history_)):
        steps = cfg.steps_in_epoch(epoch, n_train)
        seen += min(steps * bs, n_train)
    return float(per_image) * seen


def tta_params(mode: str) -> dict[str, Any]:
    """The ``tta`` and ``tta_shift`` parameters of a named test-time mode (TTA_MODES)."""
    if mode not in TTA_MODES:
        modes = ", ".join(TTA_MODES)
        raise ValueError(f"--tta-mode must be one of {modes}, got {str(mode)[:20]!r}")
    tta, shift = TTA_MODES[mode]
    return {"tta": tta, "tta_shift": shift}


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
    ``pad`` pixels (border: ``pad_mode`` zeros or reflect) and a ``cutout`` × ``cutout`` hole
    while training. ``flip``: random (each batch), alternating (airbench94's: needs the
    images' indices and the epoch, which the trainer passes as ``index`` and ``epoch`` since
    ``indexed`` is True; ``alternating`` must be set to an :class:`AlternatingFlip`) or none."""

    indexed = True

    def __init__(
        self,
        base: Preprocess,
        do_augment: bool,
        pad: int,
        cutout: int = 0,
        pad_mode: str = "zeros",
        flip: str = "random",
    ) -> None:
        if base.kind != "image":
            raise ValueError("a CNN needs images (N, H, W, C), not feature vectors")
        super().__init__("image", base.shape, base.scaler, do_augment, pad)
        self.cutout = int(cutout)
        self.pad_mode, self.flip = pad_mode, flip
        self.alternating: AlternatingFlip | None = None

    def __call__(
        self,
        raw: np.ndarray,
        rng: np.random.Generator | None,
        index: np.ndarray | None = None,
        epoch: int = 0,
    ) -> np.ndarray:
        raw = np.asarray(raw)
        if self.do_augment and rng is not None:
            if self.flip == "alternating":
                if self.alternating is None or index is None:
                    raise RuntimeError("alternating flips need the images' indices and epoch")
                raw = self.alternating(raw, index, epoch)
            raw = augment(raw, rng, flip=self.flip == "random", pad=self.pad, mode=self.pad_mode)
            raw = random_cutout(raw, rng, self.cutout)
        b, h, w, c = raw.shape
        flat = self.scaler(raw)  # (B, H·W·C)
        return np.ascontiguousarray(flat.reshape(b, h, w, c).transpose(0, 3, 1, 2))

    def to_dict(self) -> dict[str, Any]:
        """The image preprocessing as JSON-ready values, with the NCHW layout the network takes."""
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
    translated this many pixels both ways, 0 = off; see the module's formula); airbench94's
    options (module docstring): ``pad_mode``, ``flip``, ``bn_eps``, ``bn_momentum``,
    ``bn_scale``, ``dirac``, ``weight_decay``, ``bn_bias_lr_scale``, ``stem_bias_epochs``
    (0: the whitening bias trains throughout), ``loss_reduction``, ``lookahead``,
    ``drop_last``; ``epochs`` may be fractional (the run takes ⌈updates per epoch × epochs⌉
    updates).
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
        pad_mode: str = "zeros",
        flip: str = "random",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        bn_scale: bool = True,
        dirac: bool = False,
        weight_decay: float = 0.0,
        bn_bias_lr_scale: float = 1.0,
        stem_bias_epochs: int = 0,
        loss_reduction: str = "mean",
        lookahead: bool = False,
        drop_last: bool = False,
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
        self._check_recipe_options()
        return super().fit(X, y, X_val, y_val, **kw)

    def _check_recipe_options(self) -> None:
        """airbench94's options, checked before any work (ValueError naming the option)."""
        for name, allowed in (
            ("pad_mode", PAD_MODES),
            ("flip", FLIP_MODES),
            ("loss_reduction", LOSS_REDUCTIONS),
        ):
            if getattr(self, name) not in allowed:
                got = str(getattr(self, name))[:20]
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {got!r}")
        for name in ("bn_scale", "dirac", "lookahead", "drop_last"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r:.20}")
        for name, lo in (("weight_decay", 0.0), ("bn_bias_lr_scale", 0.0), ("bn_eps", 0.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r:.20}")
            if v < lo or (name != "weight_decay" and v == 0):
                raise ValueError(f"{name} must be {'>= 0' if name == 'weight_decay' else '> 0'}")
        if not (isinstance(self.bn_momentum, (int, float)) and 0 <= self.bn_momentum <= 1):
            raise ValueError(f"bn_momentum must be in [0, 1], got {self.bn_momentum!r:.20}")
        e = self.stem_bias_epochs
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 0:
            raise ValueError(f"stem_bias_epochs must be an integer >= 0, got {e!r:.20}")

    def _adapt_preprocess(self, pre: Preprocess, x_train: np.ndarray | None = None) -> Preprocess:
        out = ImagePreprocess(
            pre,
            bool(self.augment),
            int(self.crop_padding),
            int(self.cutout),
            pad_mode=self.pad_mode,
            flip=self.flip,
        )
        if self.flip == "alternating" and x_train is not None:
            out.alternating = AlternatingFlip(len(x_train), np.random.default_rng([self.seed, 3]))
        return out

    def _arch_options(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "dropout": float(self.dropout),
            "bn_eps": float(self.bn_eps),
            "bn_momentum": float(self.bn_momentum),
            "bn_scale": bool(self.bn_scale),
            "dirac": bool(self.dirac),
        }

    def _prepare_network(self, network: nn.Module, x_train: np.ndarray) -> None:
        """Whitening stem: set from the first WHITEN_IMAGES training images, normalised."""
        if cnn_arch.has_whitening(self.arch):
            first = x_train[: cnn_arch.WHITEN_IMAGES]
            cnn_arch.whiten(network, self.preprocess_(first, None))

    def _param_groups(self, network: nn.Module, lr: float) -> list[ParamGroup] | None:
        """The optimiser's groups: BatchNorm biases (× ``bn_bias_lr_scale``), the whitening
        stem's bias (trains ``stem_bias_epochs`` epochs, 0 = all) and the rest; frozen
        parameters in none. Every group gets the absolute decay ``weight_decay`` per update
        (wd/lr). None (one default group) when no option asks for groups."""
        wd = float(self.weight_decay)
        if not (wd or self.bn_bias_lr_scale != 1 or self.stem_bias_epochs):
            return None
        stem: list[nn.Parameter] = []
        norm: list[nn.Parameter] = []
        rest: list[nn.Parameter] = []
        first = network.layers[0] if cnn_arch.has_whitening(self.arch) else None
        for layer in network.modules():
            if isinstance(layer, nn.Sequential):
                continue
            for _, p in layer.named_parameters():
                if not p.trainable:
                    continue
                if layer is first:
                    stem.append(p)
                elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)) and p is layer.bias:
                    norm.append(p)
                else:
                    rest.append(p)
        scale = float(self.bn_bias_lr_scale)
        groups = [
            ParamGroup(norm, scale, decay_per_step(wd, lr, scale), name="batchnorm biases"),
            ParamGroup(rest, 1.0, decay_per_step(wd, lr), name="weights"),
            ParamGroup(
                stem,
                1.0,
                decay_per_step(wd, lr),
                self.stem_bias_epochs or None,
                name="whitening bias",
            ),
        ]
        return [g for g in groups if g.params]

    def _train_config(self) -> TrainConfig:
        cfg = super()._train_config()
        cfg.eval_batch_size = PREDICT_BATCH
        return cfg

    def _build(self, n_in: int, n_classes: int, rng: np.random.Generator) -> nn.Module:
        return cnn_arch.build(
            self.arch, self.preprocess_.shape, n_classes, rng=rng, **self._arch_options()
        )

    def _make_loss(self, n_classes: int) -> Loss:
        return nn.SoftmaxCrossEntropy(self.label_smoothing, reduction=self.loss_reduction)

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
            expected = cnn_arch.build(self.arch, pre.shape, n_classes, **self._arch_options())
        except (TypeError, ValueError, OverflowError) as e:
            raise ModelFileError(path, f"invalid CNN architecture ({e})") from None
        if _plain_json(expected.get_config()) != _plain_json(network.get_config()):
            raise ModelFileError(
                path, f"the network is not the architecture {str(self.arch)[:60]!r} it declares"
            )
        return ImagePreprocess(pre, False, 0)
