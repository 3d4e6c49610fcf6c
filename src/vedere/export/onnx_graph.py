"""The ONNX graph under construction and vedere's layers as its nodes (used by
:mod:`vedere.export.onnx_model`): :class:`Graph` holds the nodes and initialisers with fresh
names; :class:`LayerEmitter` turns each ``vedere.nn`` module into ONNX nodes — Linear → Gemm,
Conv2d → Conv (a BatchNorm after it folded in: W' = W·γ/√(σ²+ε), b' = β − μγ/√(σ²+ε)),
other BatchNorms → Mul and Add (or ``BatchNormalization``), pooling, Residual → body +
shortcut (Add), the activations, Scale → Mul, Dropout → nothing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn


def onnx_module() -> Any:
    """The ``onnx`` package (imported on first use: it is the [onnx] extra)."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - the [onnx] extra is installed in tests
        raise ValueError("ONNX export needs the onnx package: pip install 'vedere[onnx]'") from None
    return onnx


class Graph:
    """The nodes and initialisers of the graph being built, with fresh names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray | list[int] | float, hint: str, dtype: Any = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.name(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(
        self, kind: str, inputs: list[str], hint: str | None = None, *, out: str = "", **attrs: Any
    ) -> str:
        """Append a ``kind`` node; its output is ``out``, or a fresh name from ``hint``."""
        out = out or self.name(hint or kind.lower())
        self.nodes.append(self.onnx.helper.make_node(kind, inputs, [out], **attrs))
        return out


def f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def bn_scale_shift(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as y = scale·x + shift per channel, computed as vedere's layer does
    (float64 statistics, then float32): scale = γ/√(σ²+ε), shift = β − μ·scale."""
    mean = bn.running_mean.data.astype(np.float64)
    var = bn.running_var.data.astype(np.float64)
    inv = 1.0 / np.sqrt(var + bn.eps)
    scale = bn.weight.data * inv
    shift = bn.bias.data - mean * scale
    return f32(scale), f32(shift)


class LayerEmitter:
    """Turns vedere.nn modules into ONNX nodes; each method takes and returns a tensor name."""

    def __init__(self, g: Graph, fold_batchnorm: bool) -> None:
        self.g, self.fold = g, fold_batchnorm

    def sequence(self, layers: list[Any], x: str) -> str:
        i = 0
        while i < len(layers):
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if (
                self.fold
                and isinstance(layer, nn.Conv2d)
                and isinstance(nxt, nn.BatchNorm2d)
                and nxt.num_features == layer.out_channels
            ):
                x = self.conv(layer, x, nxt)
                i += 2
                continue
            x = self.module(layer, x)
            i += 1
        return x

    def module(self, m: Any, x: str) -> str:
        g = self.g
        if isinstance(m, nn.Sequential):
            return self.sequence(list(m.layers), x)
        if isinstance(m, nn.Linear):  # z = x·Wᵀ (+ b)
            inputs = [x, g.const(f32(m.weight.data), "W")]
            if m.bias is not None:
                inputs.append(g.const(f32(m.bias.data), "b"))
            return g.op("Gemm", inputs, "linear", transB=1)
        if isinstance(m, nn.Scale):  # y = a·x, a in float32 as vedere multiplies
            return g.op("Mul", [x, g.const(np.float32(m.factor), "factor")], "scaled")
        if isinstance(m, nn.Conv2d):
            return self.conv(m, x, None)
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            return self.batchnorm(m, x)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "MaxPool" if isinstance(m, nn.MaxPool2d) else "AveragePool"
            return g.op(
                kind, [x], kind.lower(), kernel_shape=list(m.kernel_size), strides=list(m.stride)
            )
        if isinstance(m, (nn.GlobalAvgPool2d, nn.GlobalMaxPool2d)):
            kind = "GlobalAveragePool" if isinstance(m, nn.GlobalAvgPool2d) else "GlobalMaxPool"
            return g.op("Flatten", [g.op(kind, [x])], "pooled", axis=1)
        if isinstance(m, nn.Flatten):
            return g.op("Flatten", [x], "flat", axis=1)
        if isinstance(m, nn.Dropout):
            return x  # the identity when predicting
        if isinstance(m, nn.Residual):
            body = self.module(m.body, x)
            short = x if m.shortcut is None else self.module(m.shortcut, x)
            return g.op("Add", [body, short], "residual")
        if isinstance(m, nn.ReLU):
            return g.op("Relu", [x])
        if isinstance(m, nn.LeakyReLU):
            return g.op("LeakyRelu", [x], alpha=float(m.negative_slope))
        if isinstance(m, nn.Sigmoid):
            return g.op("Sigmoid", [x])
        if isinstance(m, nn.Tanh):
            return g.op("Tanh", [x])
        if isinstance(m, nn.GELU):
            return self.gelu(m, x)
        raise ValueError(f"ONNX export does not know the layer {type(m).__name__}")

    def conv(self, m: Any, x: str, bn: Any) -> str:
        """Conv (cross-correlation, symmetric zero padding), with ``bn`` folded in if given."""
        g = self.g
        w = f32(m.weight.data)
        b = None if m.bias is None else f32(m.bias.data)
        if bn is not None:
            scale, shift = bn_scale_shift(bn)
            w = f32(w * scale[:, None, None, None])
            b = shift if b is None else f32(b * scale + shift)
        ph, pw = m.padding
        inputs = [x, g.const(w, "conv_W")] + ([] if b is None else [g.const(b, "conv_b")])
        return g.op(
            "Conv",
            inputs,
            "conv",
            kernel_shape=list(m.kernel_size),
            strides=list(m.stride),
            pads=[ph, pw, ph, pw],
        )

    def batchnorm(self, m: Any, x: str) -> str:
        g = self.g
        if not self.fold:
            return g.op(
                "BatchNormalization",
                [
                    x,
                    g.const(f32(m.weight.data), "bn_gamma"),
                    g.const(f32(m.bias.data), "bn_beta"),
                    g.const(f32(m.running_mean.data), "bn_mean"),
                    g.const(f32(m.running_var.data), "bn_var"),
                ],
                "batchnorm",
                epsilon=float(m.eps),
            )
        scale, shift = bn_scale_shift(m)
        shape = (-1, 1, 1) if isinstance(m, nn.BatchNorm2d) else (-1,)
        s = g.const(scale.reshape(shape), "bn_scale")
        t = g.const(shift.reshape(shape), "bn_shift")
        return g.op("Add", [g.op("Mul", [x, s]), t], "batchnorm")

    def gelu(self, m: Any, x: str) -> str:
        """GELU from basic operators: ½x(1 + erf(x/√2)), or the tanh form
        ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
        g = self.g
        half, one = g.const(np.float32(0.5), "half"), g.const(np.float32(1.0), "one")
        if m.approximate == "tanh":
            c = g.const(np.float32(math.sqrt(2.0 / math.pi)), "c")
            k = g.const(np.float32(0.044715), "k")
            cube = g.op("Mul", [g.op("Mul", [x, x]), x])
            inner = g.op("Mul", [c, g.op("Add", [x, g.op("Mul", [k, cube])])])
            t = g.op("Tanh", [inner])
        else:
            inv_sqrt2 = g.const(np.float32(1.0 / math.sqrt(2.0)), "inv_sqrt2")
            t = g.op("Erf", [g.op("Mul", [x, inv_sqrt2])])
        return g.op("Mul", [g.op("Mul", [x, half]), g.op("Add", [one, t])], "gelu")
