"""Save and load a model: weights in safetensors, architecture and metadata as JSON in its header.

One ``.safetensors`` file (:mod:`vedere.nn.tensor_file`, format ``vedere.model``) holds
everything. Its header carries ``vedere.architecture`` (the JSON config that rebuilds the
layers), ``vedere.extra`` (JSON chosen by the caller: class names, normalisation,
hyper-parameters) and the tensors' digest. Nothing is ever unpickled.

``save(..., precision="float16")`` stores the float32 parameters as IEEE float16 (half the
bytes), ``precision="int8"`` the weights as int8 with a scale per output channel (a quarter);
BatchNorm's statistics and every other buffer keep their dtype (:mod:`vedere.nn.precision`).
Loading widens them back to the layer's float32.

A model file may come from anyone: the file and its layout are checked first
(:class:`~vedere.nn.tensor_file.TensorFile`: a regular file within size caps, a bounded
header, tensors that tile the data exactly); then the parameter shapes the architecture
declares (:meth:`Module.parameter_shapes`) must equal the tensors present, before any layer
is built; only then is the data read and its digest verified, and the layers are built and
given their weights. Every refusal is a :class:`~vedere.nn.tensor_file.ModelFileError` that
names the file and the problem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_bytes
from .module import Module, layer_type
from .precision import INT8, SCALE_SUFFIX, check_int8, check_precision, decoded, encoded
from .sequential import Sequential
from .tensor_file import FORMAT, STATE_DTYPES, ModelFileError, TensorFile, pack

__all__ = [
    "ModelFileError",
    "build",
    "declared_shapes",
    "load",
    "load_weights",
    "load_with_extra",
    "save",
]


def _to_bytes(
    model: Module, extra: dict[str, Any] | None = None, precision: str = "float32"
) -> bytes:
    tensors: dict[str, np.ndarray] = {}
    for n, p in model.named_parameters():
        tensors.update(encoded(n, p.data, precision))
    tensors.update((n, b.data) for n, b in model.named_buffers())  # BatchNorm's statistics
    arch = {"type": type(model).type_name(), "config": model.get_config()}
    return pack(tensors, {"architecture": arch, "extra": extra or {}})


def save(
    model: Module,
    path: str | os.PathLike[str],
    extra: dict[str, Any] | None = None,
    precision: str = "float32",
) -> Path:
    """Write ``model`` (architecture + weights) and the JSON-serialisable ``extra`` atomically;
    ``precision`` ``"float16"`` or ``"int8"`` stores its float32 parameters in fewer bytes
    (:mod:`vedere.nn.precision`)."""
    check_precision(precision)
    try:
        json.dumps(extra or {})
    except TypeError as e:
        raise ValueError(f"extra metadata must be JSON-serialisable: {e}") from None
    return atomic_write_bytes(path, _to_bytes(model, extra, precision))


# -- architecture ----------------------------------------------------------------------------------
def _parts(arch: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(arch, dict) or not isinstance(arch.get("type"), str):
        raise ValueError('a layer must be an object {"type": NAME, "config": {...}}')
    config = arch.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"the config of {arch['type'][:80]!r} must be an object")
    return arch["type"], config


def _layer_class(kind: str) -> type[Module]:
    cls = layer_type(kind)
    if cls is None or cls is Sequential or not cls.__module__.startswith("vedere."):
        raise ValueError(f"unknown layer type {kind[:80]!r}")
    return cls


def build(arch: dict[str, Any]) -> Module:
    """Rebuild a module (not its weights) from an architecture dict ``{"type", "config"}``."""
    kind, config = _parts(arch)
    if kind == "Sequential":
        layers = config.get("layers", [])
        if not isinstance(layers, list) or set(config) - {"layers"}:
            raise ValueError('Sequential\'s config must be {"layers": [...]}')
        return Sequential(*[build(layer) for layer in layers])
    cls = _layer_class(kind)
    from_config = getattr(cls, "from_config", None)  # containers build their children
    if from_config is not None:
        return from_config(config, build)
    return cls(**config)


def declared_shapes(arch: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shapes of the arrays an architecture declares, by name, computed from its config
    alone (:meth:`Module.parameter_shapes`) wherever the layer type can; a layer type that
    cannot is built on its own to find out (cheap for the parameter-free layers).
    Containers other than Sequential compute their children's with this function."""
    kind, config = _parts(arch)
    if kind == "Sequential":
        layers = config.get("layers", [])
        if not isinstance(layers, list):
            raise ValueError('Sequential\'s config must be {"layers": [...]}')
        out: dict[str, tuple[int, ...]] = {}
        for i, layer in enumerate(layers):
            out.update({f"{i}.{n}": s for n, s in declared_shapes(layer).items()})
        return out
    shapes = _layer_class(kind).parameter_shapes(config)
    if shapes is None:
        shapes = {n: p.shape for n, p in build(arch).named_parameters()}
    return {n: tuple(s) for n, s in shapes.items()}


_BUILD_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


def load_with_extra(path: str | os.PathLike[str]) -> tuple[Module, dict[str, Any]]:
    """Load a model and the ``extra`` metadata (a dict) it was saved with."""
    path = Path(path)
    with TensorFile(path, FORMAT) as tf:
        arch = tf.field("vedere.architecture")
        extra = tf.field("vedere.extra")
        if not isinstance(extra, dict):
            raise ModelFileError(
                path, f"metadata field 'vedere.extra' must be an object, got {type(extra).__name__}"
            )
        try:
            want = declared_shapes(arch)
        except _BUILD_ERRORS as e:
            raise ModelFileError(path, f"invalid architecture ({e})") from None
        have = dict(tf.tensors)
        scales = check_int8(path, have)  # takes the int8 weights' scales out of have
        missing, unexpected = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if missing or unexpected:
            raise ModelFileError(
                path,
                "weights do not match the architecture: "
                f"missing {_names(missing)}, unexpected {_names(unexpected)}",
            )
        for name, shape in want.items():
            t = have[name]
            if t.shape != shape or (t.dtype not in STATE_DTYPES and name not in scales):
                raise ModelFileError(
                    path,
                    f"weight {name} has shape {t.shape} {t.dtype}, the architecture needs "
                    f"{shape} float16, float32, float64 or int8",
                )
        tensors = tf.read()
    try:
        model = build(arch)
    except _BUILD_ERRORS as e:
        raise ModelFileError(path, f"invalid architecture ({e})") from None
    own: dict[str, Any] = dict(model.named_parameters())
    own.update(model.named_buffers())  # BatchNorm's running statistics
    scale_names = {n + SCALE_SUFFIX for n in scales}
    if set(own) != set(tensors) - scale_names:  # a layer whose parameter_shapes disagrees
        raise ModelFileError(path, "weights do not match the architecture")
    params = {n for n, _ in model.named_parameters()}
    for name, p in own.items():
        t = tensors[name]
        widen = t.dtype in (np.float16, INT8) and name in params and p.dtype == np.float32
        if widen and t.dtype == INT8:  # saved with precision="int8"
            t = decoded(path, name, t, tensors[name + SCALE_SUFFIX])
        elif widen:  # float16
            t = t.astype(np.float32)
        if t.shape != p.shape or t.dtype != p.dtype:
            raise ModelFileError(
                path,
                f"weight {name} has shape {t.shape} {t.dtype}, the architecture needs "
                f"{p.shape} {p.dtype}",
            )
        if not np.isfinite(t).all():
            raise ModelFileError(path, f"weight {name} contains NaN or inf")
        p.data = t if widen else t.copy()
    model.eval()
    return model, extra


def _names(names: list[str], limit: int = 10) -> str:
    shown = [n[:80] for n in names[:limit]]
    return f"{shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load(path: str | os.PathLike[str]) -> Module:
    """Load a model saved by :func:`save`, in eval mode."""
    return load_with_extra(path)[0]


def load_weights(model: Module, path: str | os.PathLike[str]) -> Module:
    """Copy the weights in ``path`` into an existing ``model`` of the same architecture."""
    path = Path(path)
    other = load(path)
    want = json.dumps(model.get_config(), sort_keys=True)
    got = json.dumps(other.get_config(), sort_keys=True)
    if want != got:
        raise ModelFileError(path, f"architecture mismatch: file has {other!r}, model is {model!r}")
    for (_, p), (_, q) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        np.copyto(p.data, q.data)
    for (_, b), (_, c) in zip(model.named_buffers(), other.named_buffers(), strict=True):
        np.copyto(b.data, c.data)
    return model
