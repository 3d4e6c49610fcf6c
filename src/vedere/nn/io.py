"""Save and load a model: weights in safetensors, architecture and metadata as JSON in its header.

One ``.safetensors`` file holds everything. Its header's ``__metadata__`` carries
``vedere.architecture`` (the JSON config that rebuilds the layers), ``vedere.extra``
(JSON chosen by the caller: class names, normalisation, hyper-parameters) and
``vedere.sha256``, a digest of every tensor's name, dtype, shape and bytes. Loading
parses the header as JSON — nothing is ever unpickled — checks the digest and every
shape against the architecture, and refuses a truncated, tampered or mismatched file
with a :class:`ModelFileError` that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from ..fileio import atomic_write_bytes
from .module import LAYER_TYPES, Module
from .sequential import Sequential

FORMAT = "vedere.model"
FORMAT_VERSION = "1"
MAX_HEADER = 16 * 1024 * 1024


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def _digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def pack(tensors: dict[str, np.ndarray], fields: dict[str, Any], fmt: str = FORMAT) -> bytes:
    """Safetensors bytes: ``tensors`` plus each of ``fields`` as JSON in the header, the
    format name and version, and a SHA-256 of the tensors."""
    # reshape: ascontiguousarray makes 0-d arrays (BatchNorm's num_batches_tracked) 1-d
    tensors = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in tensors.items()}
    meta = {f"vedere.{k}": json.dumps(v, sort_keys=True) for k, v in fields.items()}
    meta.update(format=fmt, format_version=FORMAT_VERSION)
    meta["vedere.sha256"] = _digest(tensors)
    return st_save(tensors, metadata=meta)


def _to_bytes(model: Module, extra: dict[str, Any] | None = None) -> bytes:
    tensors = {n: p.data for n, p in model.named_parameters()}
    tensors.update((n, b.data) for n, b in model.named_buffers())
    arch = {"type": type(model).__name__, "config": model.get_config()}
    return pack(tensors, {"architecture": arch, "extra": extra or {}})


def save(model: Module, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (architecture + weights) and the JSON-serialisable ``extra`` atomically."""
    try:
        json.dumps(extra or {})
    except TypeError as e:
        raise ValueError(f"extra metadata must be JSON-serialisable: {e}") from None
    return atomic_write_bytes(path, _to_bytes(model, extra))


def read_header(path: str | os.PathLike[str], data: bytes) -> dict[str, Any]:
    """The safetensors JSON header of ``data`` (read from ``path``), validated for size."""
    if len(data) < 8:
        raise ModelFileError(path, f"file is truncated ({len(data)} bytes; not a safetensors file)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise ModelFileError(
            path,
            f"file is truncated or not a safetensors file (header claims {n} bytes, "
            f"file has {len(data)})",
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(path, f"corrupt header ({e.__class__.__name__}: {e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "corrupt header (not a JSON object)")
    return header


def read_tensors(
    path: str | os.PathLike[str], fmt: str = FORMAT
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors and the string metadata of a safetensors file of format ``fmt``, with the
    digest verified."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") from None
    except OSError as e:
        raise ModelFileError(path, f"cannot read ({e.strerror})") from None
    header = read_header(path, data)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        what = "model" if fmt == FORMAT else "checkpoint"
        raise ModelFileError(path, f"not a vedere {what} file (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(path, f"unsupported format version {meta.get('format_version')!r}")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error type for bad offsets/lengths
        raise ModelFileError(path, f"corrupt tensor data ({e})") from None
    if _digest(tensors) != meta.get("vedere.sha256"):
        raise ModelFileError(path, "checksum mismatch: the weights were modified or damaged")
    return tensors, meta


def unpack(path: str | os.PathLike[str], fmt: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Tensors and the JSON fields written by :func:`pack`, verified."""
    path = Path(path)
    tensors, meta = read_tensors(path, fmt)
    fields = {
        k[len("vedere.") :]: _json_field(path, meta, k)
        for k in meta
        if k.startswith("vedere.") and k != "vedere.sha256"
    }
    return tensors, fields


def _json_field(path: Path, meta: dict[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ModelFileError(path, f"metadata field {key!r} is missing or not valid JSON") from None


def build(arch: dict[str, Any]) -> Module:
    """Rebuild a module (not its weights) from an architecture dict ``{"type", "config"}``."""
    kind, config = arch.get("type"), arch.get("config", {})
    if kind == "Sequential":
        return Sequential(*[build(layer) for layer in config.get("layers", [])])
    cls = LAYER_TYPES.get(str(kind))
    if cls is None or cls is Sequential or not cls.__module__.startswith("vedere."):
        raise ValueError(f"unknown layer type {kind!r}")
    from_config = getattr(cls, "from_config", None)  # containers (Residual) build their children
    if from_config is not None:
        return from_config(config, build)
    return cls(**config)


def load_with_extra(path: str | os.PathLike[str]) -> tuple[Module, dict[str, Any]]:
    """Load a model and the ``extra`` metadata it was saved with."""
    path = Path(path)
    tensors, meta = read_tensors(path)
    arch = _json_field(path, meta, "vedere.architecture")
    extra = _json_field(path, meta, "vedere.extra")
    try:
        model = build(arch)
    except (TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(path, f"invalid architecture ({e})") from None
    own: dict[str, Any] = dict(model.named_parameters())
    own.update(model.named_buffers())  # BatchNorm's running statistics
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ModelFileError(
            path,
            f"weights do not match the architecture: missing {missing}, unexpected {unexpected}",
        )
    for name, p in own.items():
        t = tensors[name]
        if t.shape != p.shape or t.dtype != p.dtype:
            raise ModelFileError(
                path,
                f"weight {name} has shape {t.shape} {t.dtype}, the architecture needs "
                f"{p.shape} {p.dtype}",
            )
        if not np.isfinite(t).all():
            raise ModelFileError(path, f"weight {name} contains NaN or inf")
        p.data = t.copy()
    model.eval()
    return model, extra


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
