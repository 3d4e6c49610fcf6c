"""CNN architectures as short strings: named presets and a small spec grammar.

A spec is a list of tokens joined by ``-``, read left to right from the image to the
classifier (case-insensitive)::

    spec  := token ("-" token)*
    token := "c" W ["k" K] ["s" S]   conv K×K (K odd, default 3), stride S (default 1),
                                     padding K//2, W output channels, no bias
                                     → BatchNorm2d(W) → activation
           | "w" [K]                 a patch-whitening stem (airbench94; first only): conv
                                     K×K (default 2), no padding, 2·C·K² channels, with bias
                                     → activation; its weights are frozen and set from the
                                     training images (:func:`whiten`), its bias trains
           | "b" W                   a block (Jordan's airbench): conv3×3(W) → MaxPool 2 →
                                     BatchNorm → activation → conv3×3(W) → BatchNorm → activation
           | "r"                     a residual block at the current width:
                                     act(x + BN(conv3×3(act(BN(conv3×3(x))))))
           | "p" [K]                 max-pool K×K, stride K (default 2)
           | "a" [K]                 average-pool K×K, stride K (default 2)
           | "g"                     global average pool (N, C, H, W) → (N, C); must be last
           | "m"                     global max pool (a max-pool over the whole map); last
           | "h" [D]                 last: airbench94's head — Linear without a bias, its
                                     output × 1/D (default 1), weights N(0, 1/features)

After the last token the classifier is appended: Flatten (unless "g"/"m" ended the spec),
Dropout(p) when the estimator's ``dropout`` > 0, and Linear(features → classes), initialised
at zero (the first loss is ln K) — or, after "h", the bias-free scaled linear.

:func:`build`'s options: ``activation``, ``bn_eps``, ``bn_momentum`` (PyTorch's: the new
batch's weight), ``bn_scale`` (False: γ frozen at 1) for every BatchNorm, and ``dirac``
(the first C_in filters of every 3×3 conv after the stem start as the identity,
:func:`vedere.nn.init.dirac_`).
Example: ``c32-p-c64-p-c128-g`` is conv(32) → pool → conv(64) → pool → conv(128) → GAP →
linear. Specs are bounded (at most 32 tokens, widths 1 … 1024, kernels 1 … 7, strides
1 … 4, 20 million parameters) and every feature map must keep at least 1×1 pixel, so a spec
that parses always builds a network of a size a laptop can hold.

Cost: a K×K convolution from C_in to C_out channels on an H_out × W_out map takes
2·C_in·K²·C_out·H_out·W_out FLOP per image forward; a training step costs about three times
the forward pass (forward, dL/dx, dL/dW).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..text import short_repr

MAX_TOKENS = 32
MAX_WIDTH = 1024
MAX_KERNEL = 7
MAX_STRIDE = 4
MAX_PARAMS = 20_000_000

#: Named architectures; ``default`` is what ``vedere train --model cnn`` uses.
PRESETS: dict[str, str] = {
    "tiny": "c8-p-c16-p-g",  # 1,586 parameters: tests and the embedded sample
    "small": "c32-p-c64-p-c128-g",
    # airbench's shape (Jordan 2024) at widths (32, 64, 128), global average pool (steadier
    # than its max pool at lr 0.1-0.2 in short runs): 295k parameters, 146 MFLOP per training
    # image (≈ 1/6 of full width), so ~15 epochs of 45,000 images fit in 20 min on 2 cores
    "default": "c24-b32-b64-b128-g",
    "wide": "c32-b64-b128-b256-m",
    "airbench": "c24-b64-b256-b256-m",  # full width (its 2×2 whitening stem → a 3×3 conv)
    "resnet": "c32-r-p-c64-r-p-c128-r-g",
    # airbench94 (Jordan 2024) exactly: 2×2 whitening stem, blocks 64/256/256, max-pool 3,
    # bias-free linear ÷ 9; `--recipe airbench94` adds its GELU, BatchNorm and dirac options
    "airbench94": "w2-b64-b256-b256-p3-h9",
}

#: :func:`build`'s options for ``--recipe airbench94`` (and the defaults of the others)
AIRBENCH94_OPTIONS: dict[str, Any] = {
    "activation": "gelu",
    "bn_eps": 1e-12,
    "bn_momentum": 0.4,
    "bn_scale": False,
    "dirac": True,
}

_TOKEN = re.compile(r"^(?:c(\d+)(?:k(\d+))?(?:s(\d+))?|b(\d+)|r|([pa])(\d+)?|g|m|w(\d+)?|h(\d+)?)$")


@dataclass(frozen=True)
class Token:
    """One parsed token: ``kind`` in c, b, r, p, a, g, m, w, h; ``width``, ``kernel``,
    ``stride`` (for "h": ``kernel`` is the divisor D)."""

    kind: str
    width: int = 0
    kernel: int = 0
    stride: int = 1


@dataclass
class Plan:
    """What a spec becomes on a given input: feature-map shapes, parameters and FLOPs."""

    spec: str
    tokens: list[Token]
    shapes: list[tuple[int, int, int]]  # (C, H, W) after each token, input first
    n_params: int
    flops: int  # forward FLOP per image (multiply-adds counted as 2)

    @property
    def train_flops(self) -> int:
        """≈ FLOP per training image (forward + the two backward products)."""
        return 3 * self.flops


def resolve(arch: str) -> str:
    """A preset name → its spec; a spec → itself (lower-cased, spaces removed)."""
    if not isinstance(arch, str):
        raise ValueError(
            f"--arch must be a preset name or a spec string, not {type(arch).__name__}"
        )
    key = "".join(arch.split()).lower()
    return PRESETS.get(key, key)


def _shown(text: str) -> str:
    """A user's spec in an error message (``repr``, cut short: :func:`vedere.text.short_repr`)."""
    return short_repr(text, 64)


def _bounded(value: str, what: str, lo: int, hi: int, arch: str, tok: str) -> int:
    if len(value) > 6 or not lo <= int(value) <= hi:
        raise ValueError(f"--arch {_shown(arch)}: {what} in {_shown(tok)} must be {lo} … {hi}")
    return int(value)


def parse(arch: str) -> list[Token]:
    """The tokens of a preset or spec; ValueError naming ``--arch`` and the bad token."""
    spec = resolve(arch)
    if not spec:
        raise ValueError("--arch '': empty architecture; give a preset or a spec like c32-p-g")
    parts = spec.split("-")
    if len(parts) > MAX_TOKENS:
        raise ValueError(f"--arch {_shown(arch)}: more than {MAX_TOKENS} tokens")
    tokens: list[Token] = []
    for i, tok in enumerate(parts):
        m = _TOKEN.match(tok)
        if m is None:
            presets = ", ".join(PRESETS)
            raise ValueError(
                f"--arch {_shown(arch)}: token {i + 1} {_shown(tok)} is not "
                "c<width>[k<size>][s<stride>], b<width>, r, p[<size>], a[<size>], g, m, w[<size>] "
                "or h[<divisor>] "
                f"(or use a preset: {presets})"
            )
        if tokens and tokens[-1].kind in "gmh":
            what = "the h head" if tokens[-1].kind == "h" else f"global pooling ({tokens[-1].kind})"
            raise ValueError(f"--arch {_shown(arch)}: {what} must be last")
        if tok.startswith("w"):
            if tokens:
                raise ValueError(f"--arch {_shown(arch)}: the whitening stem w must come first")
            k = _bounded(m.group(7) or "2", "the kernel size", 1, MAX_KERNEL, arch, tok)
            tokens.append(Token("w", 0, k, 1))
        elif tok.startswith("h"):
            d = _bounded(m.group(8) or "1", "the divisor", 1, 10**4, arch, tok)
            tokens.append(Token("h", kernel=d))
        elif tok.startswith("c"):
            w = _bounded(m.group(1), "the width", 1, MAX_WIDTH, arch, tok)
            k = _bounded(m.group(2) or "3", "the kernel size", 1, MAX_KERNEL, arch, tok)
            if k % 2 == 0:
                raise ValueError(
                    f"--arch {_shown(arch)}: the kernel size in {_shown(tok)} must be odd"
                )
            s = _bounded(m.group(3) or "1", "the stride", 1, MAX_STRIDE, arch, tok)
            tokens.append(Token("c", w, k, s))
        elif tok.startswith("b"):
            tokens.append(Token("b", _bounded(m.group(4), "the width", 1, MAX_WIDTH, arch, tok)))
        elif tok in ("r", "g", "m"):
            tokens.append(Token(tok))
        else:
            k = _bounded(m.group(6) or "2", "the pool size", 1, 8, arch, tok)
            tokens.append(Token(m.group(5), kernel=k, stride=k))
    return tokens


def plan(arch: str, image_shape: tuple[int, int, int], n_classes: int) -> Plan:
    """Shapes, parameters and FLOPs of ``arch`` on (H, W, C) images with ``n_classes``
    outputs, computed without building anything; ValueError if a map shrinks below 1×1,
    a residual block has no input width, or the network exceeds the bounds."""
    spec = resolve(arch)
    tokens = parse(spec)
    h, w, c = (int(v) for v in image_shape)
    if min(h, w, c) < 1:
        raise ValueError(f"image shape must be positive (H, W, C), got {image_shape}")
    shapes = [(c, h, w)]
    params = flops = 0

    def conv(c_in: int, c_out: int, k: int, s: int, h: int, w: int) -> tuple[int, int]:
        nonlocal params, flops
        ho, wo = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
        params += c_in * c_out * k * k + 2 * c_out  # weights + BatchNorm γ, β
        flops += 2 * c_in * k * k * c_out * ho * wo
        return ho, wo

    for tok in tokens:
        if tok.kind == "w":  # K×K, no padding, bias (no BatchNorm)
            k, width = tok.kernel, 2 * c * tok.kernel**2
            h, w = h - k + 1, w - k + 1
            if h < 1 or w < 1:
                raise ValueError(
                    f"--arch {_shown(spec)}: a {k}x{k} whitening stem does not fit "
                    f"{image_shape[0]}x{image_shape[1]} images"
                )
            params += c * k * k * width + width
            flops += 2 * c * k * k * width * h * w
            c = width
        elif tok.kind == "h":
            pass  # the head is counted below
        elif tok.kind == "c":
            h, w = conv(c, tok.width, tok.kernel, tok.stride, h, w)
            c = tok.width
        elif tok.kind == "b":
            h, w = conv(c, tok.width, 3, 1, h, w)
            h, w = h // 2, w // 2
            h, w = conv(tok.width, tok.width, 3, 1, h, w)
            c = tok.width
        elif tok.kind == "r":
            h, w = conv(c, c, 3, 1, h, w)
            h, w = conv(c, c, 3, 1, h, w)
        elif tok.kind in "pa":
            h, w = h // tok.kernel, w // tok.kernel
        else:  # g, m
            h, w = 1, 1
        if h < 1 or w < 1:
            raise ValueError(
                f"--arch {_shown(spec)}: the feature map shrinks below 1×1 at {_name(tok)} "
                f"on {image_shape[0]}x{image_shape[1]} images"
            )
        shapes.append((c, h, w))
    features = c * h * w
    params += features * n_classes + (0 if tokens[-1].kind == "h" else n_classes)
    flops += 2 * features * n_classes
    if params > MAX_PARAMS:
        raise ValueError(
            f"--arch {_shown(spec)}: {params:,} parameters on {image_shape} images is more than "
            f"{MAX_PARAMS:,}"
        )
    return Plan(spec, tokens, shapes, params, flops)


def _name(tok: Token) -> str:
    return {"c": f"c{tok.width}", "b": f"b{tok.width}", "p": "p", "a": "a", "w": "w"}.get(
        tok.kind, tok.kind
    )


def build(
    arch: str,
    image_shape: tuple[int, int, int],
    n_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    rng: np.random.Generator | int | None = 0,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
    bn_scale: bool = True,
    dirac: bool = False,
) -> Any:
    """The :class:`~vedere.nn.Sequential` of ``arch`` for (H, W, C) images; input NCHW
    (options: see the module docstring). A whitening stem starts from PyTorch's default
    initialisation until :func:`whiten` sets it."""
    from .. import nn
    from ..nn.init import as_generator, dirac_

    p = plan(arch, image_shape, n_classes)
    gen = as_generator(rng)

    def act() -> nn.Module:
        return nn.activation(activation)

    def bn(c: int) -> nn.Module:
        return nn.BatchNorm2d(c, eps=bn_eps, momentum=bn_momentum, scale=bn_scale)

    def conv(c_in: int, c_out: int, k: int = 3, s: int = 1) -> list[nn.Module]:
        layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2, bias=False, rng=gen)
        if dirac and k > 1:
            dirac_(layer.weight.data[:c_in])
        return [layer, bn(c_out)]

    layers: list[nn.Module] = []
    for i, tok in enumerate(p.tokens):
        c = p.shapes[i][0]
        c_out = p.shapes[i + 1][0]
        if tok.kind == "w":
            stem = nn.Conv2d(c, c_out, tok.kernel, padding=0, bias=True, rng=gen)
            stem.weight.trainable = False  # set by whiten(), never trained
            layers += [stem, act()]
        elif tok.kind == "h":
            pass
        elif tok.kind == "c":
            layers += [*conv(c, c_out, tok.kernel, tok.stride), act()]
        elif tok.kind == "b":
            first = conv(c, c_out)
            layers += [first[0], nn.MaxPool2d(2), first[1], act(), *conv(c_out, c_out), act()]
        elif tok.kind == "r":
            body = nn.Sequential(*conv(c, c), act(), *conv(c, c))
            layers += [nn.Residual(body), act()]
        elif tok.kind == "p":
            layers.append(nn.MaxPool2d(tok.kernel))
        elif tok.kind == "a":
            layers.append(nn.AvgPool2d(tok.kernel))
        elif tok.kind == "g":
            layers.append(nn.GlobalAvgPool2d())
        else:  # m: global max pool (N, C, H, W) → (N, C)
            layers.append(nn.GlobalMaxPool2d())
    c_last, h, w = p.shapes[-1]
    if p.tokens[-1].kind not in "gm":
        layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(nn.Dropout(dropout, rng=gen))
    if p.tokens[-1].kind == "h":  # airbench94: bias-free, N(0, 1/n) weights, output ÷ D
        layers.append(nn.Linear(c_last * h * w, n_classes, init="lecun", rng=gen, bias=False))
        if p.tokens[-1].kernel != 1:
            layers.append(nn.Scale(1.0 / p.tokens[-1].kernel))
        return nn.Sequential(*layers)
    # the classifier starts at zero: every class equally likely, loss ln K, whatever the
    # (large, after a global max-pool) features; airbench scales its head down for the same
    layers.append(nn.Linear(c_last * h * w, n_classes, init="zeros", rng=gen))
    return nn.Sequential(*layers)


#: training images the whitening stem's patch covariance is estimated from (airbench94's)
WHITEN_IMAGES = 5000


def has_whitening(arch: str) -> bool:
    """Whether ``arch`` starts with a whitening stem ("w")."""
    return parse(arch)[0].kind == "w"


def whiten(network: Any, images: np.ndarray, eps: float = 5e-4) -> None:
    """Set the whitening stem (the first layer of ``network``, a K×K Conv2d) from ``images``
    (N, C, H, W), normalised as the network sees them: W = :func:`vedere.nn.init.
    patch_whitening` (images, K, eps) (airbench94 uses its first 5,000 training images)."""
    from ..nn.init import patch_whitening

    stem = network.layers[0]
    w = patch_whitening(np.asarray(images, dtype=np.float64), stem.kernel_size, eps)
    if w.shape != stem.weight.shape:
        raise ValueError(f"whitening kernel {w.shape} does not fit the stem {stem.weight.shape}")
    stem.weight.data[...] = w.astype(stem.weight.dtype)
