"""Shared helpers of the image layers (convolution, pooling): sizes, checks and memory layout.

Images are NCHW as in PyTorch: (batch N, channels C, height H, width W). The layers compute
on channels-last memory (N, H, W, C), where one pixel's C values are contiguous: the
convolution's im2col then copies whole channel vectors and its matrix product writes
(N·H·W, C) rows directly. Their outputs are NCHW-*shaped* views of that memory (PyTorch
calls it ``channels_last``): the values, shapes and indexing are NCHW; only the strides
differ, which NumPy handles everywhere (``np.ascontiguousarray`` gives the plain layout).
"""

from __future__ import annotations

import numpy as np

#: largest kernel side, channel count and weight size a layer accepts: far above any real
#: network, low enough that a hostile model file cannot make us allocate gigabytes
MAX_KERNEL = 256
MAX_CHANNELS = 2**16
MAX_WEIGHTS = 2**26


def pair(value: object, name: str, minimum: int, maximum: int = MAX_KERNEL) -> tuple[int, int]:
    """(h, w) from an int or a pair of ints, each in [``minimum``, ``maximum``]; ValueError
    otherwise."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    out = []
    for v in items:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < minimum:
            raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
        if v > maximum:
            raise ValueError(f"{name} must be at most {maximum}, got {value!r}")
        out.append(int(v))
    return out[0], out[1]


def positive_int(value: object, name: str, maximum: int = MAX_CHANNELS) -> int:
    """``value`` as an int in [1, ``maximum``]; ValueError naming ``name`` otherwise."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}")
    return int(value)


def output_size(
    name: str,
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    layer: str,
) -> tuple[int, int]:
    """(H_out, W_out) = ⌊(H + 2p - k) / s⌋ + 1 for an input of ``shape`` (N, C, H, W).

    ValueError naming the argument and its shape when the kernel is larger than the padded
    input.
    """
    h, w = shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(
            f"{name} has shape {shape}: the {kernel[0]}x{kernel[1]} kernel of this {layer} is "
            f"larger than the padded input {h}x{w} (padding {padding[0]},{padding[1]})"
        )
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def check_nchw(x: np.ndarray, name: str, channels: int | None, layer: str) -> None:
    """ValueError naming ``name`` and its shape unless ``x`` is 4-D with ``channels`` channels."""
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W) for {layer}, got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} has shape {x.shape} but this {layer} expects {channels} input channels "
            f"(shape (N, {channels}, H, W))"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} has shape {x.shape}: the batch is empty")


def nhwc(x: np.ndarray) -> np.ndarray:
    """The (N, H, W, C) view of an NCHW array (no copy; contiguous when ``x`` is channels-last)."""
    return x.transpose(0, 2, 3, 1)


def nchw(x: np.ndarray) -> np.ndarray:
    """The (N, C, H, W) view of an NHWC array (no copy)."""
    return x.transpose(0, 3, 1, 2)


def rows(x: np.ndarray) -> np.ndarray:
    """An NCHW array as the (N·H·W, C) matrix of its pixels (a view when channels-last)."""
    h = nhwc(x)
    return h.reshape(-1, h.shape[-1])


def window(
    a: np.ndarray, u: int, v: int, stride: tuple[int, int], out_hw: tuple[int, int]
) -> np.ndarray:
    """The strided view a[:, s_h·i + u, s_w·j + v, :] for i < H_out, j < W_out of an NHWC
    array: what kernel offset (u, v) sees at every output position."""
    (sh, sw), (ho, wo) = stride, out_hw
    return a[:, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]
