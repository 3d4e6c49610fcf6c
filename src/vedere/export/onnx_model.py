"""A fitted vedere classifier as an ONNX graph that takes raw pixels and gives probabilities.

The graph is built with the ``onnx`` package's helpers (``onnx.helper.make_node`` and
friends; no protobuf is written by hand), at opset :data:`OPSET` (ai.onnx), and checked
with ``onnx.checker.check_model(full_check=True)`` before it is written.

Inputs (one, named :data:`INPUT`):

- models trained on images: ``images`` (N, H, W, C) — NHWC, the layout of a NumPy/Pillow
  image batch — of ``uint8`` pixels 0 … 255 (``input_type="float32"``: the same values as
  float32), C = 3 (RGB) or 1 (greyscale), H, W the model's image size;
- models trained on feature vectors: ``features`` (N, D) float32, unscaled.

Inside, as vedere does it (so the same float32 arithmetic):

1. normalisation: images x' = x·(1/(255σ_c)) − μ_c/σ_c per channel c (the training split's
   statistics); vectors x' = (x − μ) / σ per feature;
2. the network's layers: Linear → Gemm, Conv2d → Conv, BatchNorm → folded into the
   convolution before it (W' = W·γ/√(σ²+ε), b' = β − μγ/√(σ²+ε)) or, where no convolution
   comes directly before it (airbench's conv → pool → BN), a per-channel Mul and Add with
   vedere's own scale and shift (``fold_batchnorm=False``: ONNX ``BatchNormalization``
   everywhere), MaxPool2d/AvgPool2d → MaxPool/AveragePool, global pooling →
   GlobalAveragePool/GlobalMaxPool + Flatten, Residual → its body + its shortcut (Add),
   ReLU, LeakyReLU, Sigmoid, Tanh, GELU (exact: ½x(1 + erf(x/√2)); or its tanh form),
   Scale → Mul (airbench94's logit scale; its bias-free head is a Gemm without C),
   Dropout → nothing (it is the identity when predicting), Flatten → Flatten;
3. a CNN with test-time augmentation predicts as ``vedere predict`` does: the batch, its
   mirror images and (``tta_shift`` s) the two copies translated by ±s pixels with reflected
   borders go through the network as one batch, and the logits are averaged with the
   weights of :mod:`vedere.classify.cnn` (½, ½; or ¼, ¼, ⅛, ⅛, ⅛, ⅛).

Outputs: ``probabilities`` (N, K), the rows of ``predict_proba`` (columns in the order of
the model's classes), and ``logits`` (N, K) — the network's scores, or (N, 1) for a
two-class perceptron or logistic regression, which score only the second class.

The class names, the estimator and the input layout are in the model's metadata
(``metadata_props``: ``vedere.classes`` as JSON, ``vedere.estimator``, ``vedere.input``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, nn
from ..classify.base import BaseClassifier
from ..fileio import atomic_write_bytes
from .onnx_graph import Graph, LayerEmitter, f32, onnx_module

#: the ai.onnx opset the graphs are built for (onnxruntime ≥ 1.12 runs it)
OPSET = 17
#: the graph's input and output names
INPUT_IMAGES = "images"
INPUT_FEATURES = "features"
OUTPUTS = ("probabilities", "logits")
INPUT_TYPES = ("uint8", "float32")


def _estimator_input(est: BaseClassifier) -> tuple[str, tuple[int, ...]]:
    pre = est.preprocess_
    return (INPUT_IMAGES if pre.kind == "image" else INPUT_FEATURES), tuple(pre.shape)


def _preprocess(g: Graph, est: BaseClassifier, x: str, input_type: str, nchw: bool) -> str:
    """The normalisation of :class:`~vedere.classify.base.Preprocess`, in the same float32
    arithmetic: images x·scale − shift per channel (then NCHW for a CNN, or flattened HWC
    for the other models), vectors (x − μ)/σ."""
    pre = est.preprocess_
    if pre.kind != "image":
        mean, std = g.const(f32(pre.scaler.mean), "mean"), g.const(f32(pre.scaler.std), "std")
        return g.op("Div", [g.op("Sub", [x, mean]), std], "standardised")
    h, w, c = pre.shape
    if input_type == "uint8":
        x = g.op("Cast", [x], "pixels", to=g.onnx.TensorProto.FLOAT)
    scale, shift = pre.scaler._flat((1, 1, c), np.dtype(np.float32))  # exactly vedere's
    x = g.op("Sub", [g.op("Mul", [x, g.const(scale, "scale")]), g.const(shift, "shift")], "norm")
    if nchw:
        return g.op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    return g.op("Reshape", [x, g.const([-1, h * w * c], "flat_shape", np.int64)], "flat")


def _tta_views(g: Graph, x: str, h: int, w: int, shift: int) -> tuple[str, list[float]]:
    """The CNN's test-time views of the NCHW batch ``x`` stacked on the batch axis, and the
    weight of each view's logits: [x, mirror(x)] → ½, ½; with ``shift`` s, also the copies
    moved (s, s) and (−s, −s) with reflected borders and their mirrors → ¼, ¼, ⅛ × 4."""

    def mirror(t: str) -> str:
        i64 = np.int64
        return g.op(
            "Slice",
            [
                t,
                g.const([-1], "starts", i64),
                g.const([np.iinfo(np.int64).min], "ends", i64),
                g.const([3], "axes", i64),
                g.const([-1], "steps", i64),
            ],
            "mirror",
        )

    views = [x, mirror(x)]
    weights = [0.5, 0.5]
    if shift:
        s = shift
        padded = g.op(
            "Pad", [x, g.const([0, 0, s, s, 0, 0, s, s], "pads", np.int64)], "pad", mode="reflect"
        )
        for dy in (s, -s):  # translate(x, dy, dy): out[i] = padded[s - dy + i]
            start = s - dy
            moved = g.op(
                "Slice",
                [
                    padded,
                    g.const([start, start], "starts", np.int64),
                    g.const([start + h, start + w], "ends", np.int64),
                    g.const([2, 3], "axes", np.int64),
                ],
                "moved",
            )
            views += [moved, mirror(moved)]
        weights = [0.25, 0.25] + [0.125] * 4
    return g.op("Concat", views, "views", axis=0), weights


def _probabilities(g: Graph, est: BaseClassifier, logits: str, n_out: int) -> str:
    """``predict_proba`` of the estimator's kind from its logits."""
    from ..classify.estimators import LogisticRegression, Perceptron

    one_output = n_out == 1
    if isinstance(est, (Perceptron, LogisticRegression)) and one_output:
        p = g.op("Sigmoid", [logits], "p")
        q = g.op("Sub", [g.const(np.float32(1.0), "one"), p], "q")
        return g.op("Concat", [q, p], out=OUTPUTS[0], axis=1)
    if isinstance(est, LogisticRegression):  # one-vs-rest sigmoids, normalised
        p = g.op("Sigmoid", [logits], "p")
        total = g.op("ReduceSum", [p, g.const([1], "axis", np.int64)], "total", keepdims=1)
        tiny = g.const(np.float32(np.finfo(np.float32).tiny), "tiny")
        return g.op("Div", [p, g.op("Max", [total, tiny])], out=OUTPUTS[0])
    return g.op("Softmax", [logits], out=OUTPUTS[0], axis=1)


def to_onnx(
    est: BaseClassifier,
    *,
    input_type: str = "uint8",
    fold_batchnorm: bool = True,
) -> Any:
    """The ``onnx.ModelProto`` of a fitted classifier (see the module docstring), checked."""
    from ..classify.cnn import CNNClassifier

    onnx = onnx_module()
    helper = onnx.helper
    est._check_fitted()
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input type must be uint8 or float32, got {input_type!r}")
    g = Graph(onnx)
    in_name, shape = _estimator_input(est)
    is_cnn = isinstance(est, CNNClassifier)
    if in_name == INPUT_FEATURES:
        input_type = "float32"
    elem = onnx.TensorProto.UINT8 if input_type == "uint8" else onnx.TensorProto.FLOAT
    x = _preprocess(g, est, in_name, input_type, nchw=is_cnn)
    emit = LayerEmitter(g, fold_batchnorm)
    network = est.network_
    network.eval()
    n_out = _n_outputs(est)
    if is_cnn and est.tta:
        h, w, _ = est.preprocess_.shape
        shift = est._checked_tta_shift((1, *est.preprocess_.shape))
        views, weights = _tta_views(g, x, h, w, shift)
        scores = emit.module(network, views)
        k = len(weights)
        stacked = g.op(
            "Reshape", [scores, g.const([k, -1, n_out], "views_shape", np.int64)], "by_view"
        )
        weighted = g.op(
            "Mul", [stacked, g.const(np.asarray(weights, np.float32).reshape(k, 1, 1), "w")]
        )
        scores = g.op(
            "ReduceSum", [weighted, g.const([0], "axis0", np.int64)], "averaged", keepdims=0
        )
    else:
        scores = emit.module(network, x)
    g.nodes.append(helper.make_node("Identity", [scores], [OUTPUTS[1]]))
    _probabilities(g, est, OUTPUTS[1], n_out)
    classes = [str(c) for c in est.classes_]
    graph = helper.make_graph(
        g.nodes,
        f"vedere_{type(est).__name__}",
        [helper.make_tensor_value_info(in_name, elem, ["N", *shape])],
        [
            helper.make_tensor_value_info(OUTPUTS[0], onnx.TensorProto.FLOAT, ["N", len(classes)]),
            helper.make_tensor_value_info(OUTPUTS[1], onnx.TensorProto.FLOAT, ["N", n_out]),
        ],
        initializer=g.inits,
        doc_string=_input_doc(in_name, shape, input_type),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="vedere",
        producer_version=__version__,
        doc_string=f"{type(est).__name__} exported by vedere {__version__}",
    )
    model.ir_version = 8  # opset 17's IR version: older onnxruntime releases load it too
    helper.set_model_props(
        model,
        {
            "vedere.classes": json.dumps(classes),
            "vedere.estimator": type(est).__name__,
            "vedere.input": _input_doc(in_name, shape, input_type),
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _n_outputs(est: BaseClassifier) -> int:
    """The scores per sample: the out_features of the network's last Linear layer."""
    last = [m for m in est.network_.modules() if isinstance(m, nn.Linear)]
    if not last:  # pragma: no cover - every vedere classifier ends in a Linear
        raise ValueError("the network has no output layer to export")
    return int(last[-1].out_features)


def _input_doc(name: str, shape: tuple[int, ...], input_type: str) -> str:
    if name == INPUT_IMAGES:
        h, w, c = shape
        kind = "RGB" if c == 3 else "greyscale" if c == 1 else f"{c}-channel"
        return (
            f"{name}: (N, {h}, {w}, {c}) {input_type} {kind} pixels 0-255, NHWC; "
            "normalised inside the graph"
        )
    return f"{name}: (N, {shape[0]}) float32 features, standardised inside the graph"


def export_classifier(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    input_type: str = "uint8",
    fold_batchnorm: bool = True,
    loader: Callable[[str | os.PathLike[str]], BaseClassifier] | None = None,
) -> Path:
    """Write the ONNX graph of the classifier in ``model`` (a run directory or a model file)
    to ``out``, atomically; returns ``out``."""
    from ..classify.estimators import load_classifier

    path = Path(model)
    if path.is_dir():
        path = path / "model.safetensors"
    est = (loader or load_classifier)(path)
    proto = to_onnx(est, input_type=input_type, fold_batchnorm=fold_batchnorm)
    return atomic_write_bytes(out, proto.SerializeToString())


def describe(model: Any) -> str:
    """One line about an exported graph: estimator, input and outputs with their shapes."""
    props = {p.key: p.value for p in model.metadata_props}

    def dims(v: Any) -> str:
        shape = v.type.tensor_type.shape.dim
        return "(" + ", ".join(d.dim_param or str(d.dim_value) for d in shape) + ")"

    onnx = onnx_module()
    (inp,) = model.graph.input
    elem = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
    outs = ", ".join(f"{o.name} {dims(o)}" for o in model.graph.output)
    return (
        f"{props.get('vedere.estimator', '?')}, input {inp.name} {dims(inp)} {elem}, outputs {outs}"
    )


def read_summary(path: str | os.PathLike[str]) -> str:
    """:func:`describe` of the ONNX file vedere just wrote at ``path``."""
    return describe(onnx_module().load(str(path)))
