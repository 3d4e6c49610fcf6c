"""Training checkpoints: the complete state of a :class:`~.trainer.Trainer`, written
atomically, validated field by field before anything of it is restored.

A checkpoint is a safetensors file (format ``vedere.checkpoint``) holding

- tensors ``model.<name>`` (parameters and buffers), ``opt.<i>.<buffer>`` (the optimiser's
  buffers) and, from the :class:`~.train_state.TrainState` fields, ``perm`` and
  ``good.``/``cand.``/``best.<name>`` (weights snapshots);
- JSON ``state`` (the other TrainState fields, written from the dataclass's own field list,
  plus the optimiser's step count and rate and every random generator's state), ``config``
  (the :class:`~.train_config.TrainConfig`) and ``history``.

A run resumed from one ends bit-identical to an uninterrupted run with the same seed: it
holds the weights, the optimiser state, the epoch's permutation, the position in it and the
state of every random generator (the trainer's and each Dropout's, wherever it sits in the
network). A file that does not match the trainer — another network, other settings, counters
that contradict each other, a forged permutation or generator state — raises one
:class:`~vedere.nn.tensor_file.ModelFileError` naming the file.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..fileio import atomic_write_bytes
from ..nn.tensor_file import ModelFileError, pack, unpack
from ..text import short_repr
from .guard import block_updates
from .history import History
from .train_state import TrainState

if TYPE_CHECKING:
    from .trainer import Trainer

CHECKPOINT_FORMAT = "vedere.checkpoint"

_WEIGHT_FIELDS = tuple(
    f.name for f in fields(TrainState) if f.metadata.get("checkpoint") == "weights"
)
_TENSOR_FIELDS = tuple(
    f.name for f in fields(TrainState) if f.metadata.get("checkpoint") == "tensor"
)


class _Bad(ValueError):
    """A problem found in a checkpoint (becomes a ModelFileError naming the file)."""


# -- writing -----------------------------------------------------------------------------------
def state_fields(st: TrainState) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and the JSON values that store ``st``, one entry (or, for weights, one
    prefix) per dataclass field, as its metadata says (see :mod:`.train_state`)."""
    tensors: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    for f in fields(st):
        v = getattr(st, f.name)
        kind = f.metadata.get("checkpoint")
        if kind == "weights":
            if v is not None:
                tensors.update({f"{f.name}.{k}": a for k, a in v.items()})
        elif kind == "tensor":
            if v is not None:
                tensors[f.name] = v
        elif isinstance(v, tuple):
            values[f.name] = list(v)
        elif isinstance(v, float) and not math.isfinite(v):
            values[f.name] = None
        else:
            values[f.name] = v
    return tensors, values


def save(trainer: Trainer, path: str | os.PathLike[str]) -> None:
    """Write ``trainer``'s complete training state to ``path`` atomically."""
    tensors, state = state_fields(trainer.state)
    tensors.update({f"model.{n}": p.data for n, p in trainer.state_tensors()})
    tensors.update({f"opt.{k}": v for k, v in trainer.optimizer.state_arrays().items()})
    state.update(
        opt_t=trainer.optimizer.t,
        opt_lr=trainer.optimizer.lr,
        rng=trainer.rng.bit_generator.state,
        dropout_rngs=[d.rng.bit_generator.state for d in trainer.dropouts()],
    )
    doc = {"state": state, "config": asdict(trainer.config), "history": trainer.history.to_dict()}
    atomic_write_bytes(path, pack(tensors, doc, CHECKPOINT_FORMAT))


# -- reading -----------------------------------------------------------------------------------
class Contents(NamedTuple):
    """A checkpoint's contents, validated: what :meth:`Trainer.load_checkpoint` restores."""

    model: dict[str, np.ndarray]  # state_tensors' values, by name
    optimizer: dict[str, np.ndarray]  # the optimiser's buffers ("<i>.<buffer>")
    opt_t: int
    opt_lr: float
    state: TrainState
    history: History
    rng: dict[str, Any]  # the trainer's PCG64 state
    dropout_rngs: list[dict[str, Any]]  # one per Trainer.dropouts()


def read(trainer: Trainer, path: str | os.PathLike[str], n_train: int | None = None) -> Contents:
    """The checkpoint at ``path``, validated against ``trainer`` (same network and config)
    before anything is restored: the tensors (names, shapes, dtypes, finite), the
    permutation (a permutation of range(n_train)), the counters (step and epoch in range,
    consistent with the optimiser's step count and the history), every optimiser buffer and
    the random generators' states. Any problem raises one :class:`ModelFileError` naming
    ``path``."""
    path = Path(path)
    tensors, doc = unpack(path, CHECKPOINT_FORMAT)
    try:
        return _read(trainer, tensors, doc, n_train)
    except _Bad as e:
        raise ModelFileError(path, str(e)) from None


def _read(
    trainer: Trainer, tensors: dict[str, np.ndarray], doc: dict[str, Any], n_train: int | None
) -> Contents:
    """Validate a checkpoint's contents against ``trainer``; raises _Bad."""
    _check_config(trainer, doc.get("config"))
    s = doc.get("state")
    if not isinstance(s, dict):
        raise _Bad("the 'state' field is missing or not an object")
    prefixes = ("model.", "opt.", *(f"{name}." for name in _WEIGHT_FIELDS))
    unknown = [k for k in tensors if k not in _TENSOR_FIELDS and not k.startswith(prefixes)]
    if unknown:
        raise _Bad(f"unexpected tensors {sorted(unknown)[:5]}")
    own = dict(trainer.state_tensors())
    model = _weights(tensors, "model.", own, optional=False)
    assert model is not None
    values: dict[str, Any] = {
        name: _weights(tensors, f"{name}.", own, optional=True) for name in _WEIGHT_FIELDS
    }
    try:  # the history: its rows are the finished epochs
        history = History.from_dict(doc.get("history"))
    except ValueError as e:
        raise _Bad(f"history: {e}") from None
    values.update(_read_position(trainer, s, tensors.get("perm"), len(history), n_train))
    updates = values.pop("_updates")
    opt_arrays, opt_t, opt_lr = _read_optimizer(trainer, s, tensors, updates)
    missing = {f.name for f in fields(TrainState)} - set(values)
    if missing:  # a field added to TrainState needs its check here
        raise TypeError(f"checkpoint reader does not check TrainState fields {sorted(missing)}")
    rng, dropout_rngs = _read_rngs(trainer, s)
    return Contents(
        model, opt_arrays, opt_t, opt_lr, TrainState(**values), history, rng, dropout_rngs
    )


def _check_config(trainer: Trainer, saved: Any) -> None:
    if not isinstance(saved, dict):
        raise _Bad("the 'config' field is missing or not an object")
    mine = asdict(trainer.config)
    diff = [k for k in mine if k != "epochs" and saved.get(k) != mine[k]]
    if diff:
        raise _Bad(f"checkpoint was made with other settings ({', '.join(diff)})")


def _read_position(
    trainer: Trainer, s: dict[str, Any], perm: np.ndarray | None, finished: int, n: int | None
) -> dict[str, Any]:
    """The loop's and the guard's scalar fields and the permutation, each in range and
    consistent with the others; ``_updates``: how many updates the position implies (or a
    None when the training set's size is unknown)."""
    epoch = _int(s, "epoch", 0, 10**9)
    if epoch != finished:
        raise _Bad(f"state says {epoch} epochs finished, the history holds {finished}")
    if perm is not None:
        if perm.ndim != 1 or perm.dtype.kind not in "iu":
            raise _Bad(f"the permutation is {perm.dtype} {perm.shape}, not 1-D integers")
        if n is not None and len(perm) != n:
            raise _Bad(f"checkpoint was made on {len(perm)} training images, this run has {n}")
        if not np.array_equal(np.sort(perm), np.arange(len(perm))):
            raise _Bad(f"the permutation is not a permutation of range({len(perm)})")
        n = len(perm)
    cfg = trainer.config
    bs = None if n is None else cfg.batch(n)
    n_steps = None if n is None else cfg.steps_per_epoch(n)
    step = _int(s, "step", 0, n_steps if n_steps is not None else 10**9)
    if step > 0 and perm is None:
        raise _Bad(f"state is at step {step} of an epoch but holds no permutation")
    count = _int(s, "count", 0, n if n is not None else 10**12)
    if bs is not None and count != min(step * bs, n or 0):
        raise _Bad(f"state counts {count} images after {step} steps of {bs}")
    best_loss = _num(s, "best_loss", optional=True)
    return {
        "epoch": epoch,
        "step": step,
        "perm": None if perm is None else perm.astype(np.int64),
        "count": count,
        "correct": _int(s, "correct", 0, count),
        "loss_sum": _num(s, "loss_sum"),
        "seconds": _num(s, "seconds"),
        "best_loss": math.inf if best_loss is None else best_loss,
        "best_epoch": _int(s, "best_epoch", -1, max(-1, epoch - 1)),
        "wait": _int(s, "wait", 0, epoch),
        "good_at": _position(s, "good_at", epoch, step),
        "cand_at": _position(s, "cand_at", epoch, step),
        "block_n": _int(s, "block_n", 0, block_updates(bs) if bs is not None else 10**9),
        "block_sum": _num(s, "block_sum"),
        "reference": _num(s, "reference", optional=True),
        "first_loss": _num(s, "first_loss", optional=True),
        "val_reference": _num(s, "val_reference", optional=True),
        "_updates": None if n_steps is None else epoch * n_steps + step,
    }


def _read_optimizer(
    trainer: Trainer, s: dict[str, Any], tensors: dict[str, np.ndarray], updates: int | None
) -> tuple[dict[str, np.ndarray], int, float]:
    """The optimiser's buffers (present once a step was taken), step count (``updates``,
    when known) and rate."""
    opt = trainer.optimizer
    opt_t = _int(s, "opt_t", 0, 10**12 if updates is None else updates)
    if updates is not None and opt_t != updates:
        raise _Bad(f"the optimiser took {opt_t} steps, the state says {updates}")
    opt_lr = _num(s, "opt_lr")
    if not opt_lr:
        raise _Bad("state field 'opt_lr' must be > 0")
    params = opt.params
    names = opt.buffer_names()
    arrays = {k[4:]: v for k, v in tensors.items() if k.startswith("opt.")}
    want = {f"{i}.{b}" for i in range(len(params)) for b in names} if opt_t else set()
    if set(arrays) != want:
        missing, extra = sorted(want - set(arrays)), sorted(set(arrays) - want)
        raise _Bad(
            "optimiser state does not match "
            f"{type(opt).__name__} after {opt_t} steps (missing {missing[:4]}, "
            f"unexpected {extra[:4]})"
        )
    for k, a in arrays.items():
        p = params[int(k.partition(".")[0])]
        if a.shape != p.shape or a.dtype != p.dtype:
            raise _Bad(f"optimiser buffer {k} is {a.dtype} {a.shape}, needs {p.dtype} {p.shape}")
        if not np.isfinite(a).all():
            raise _Bad(f"optimiser buffer {k} contains NaN or inf")
    return arrays, opt_t, opt_lr


def _read_rngs(trainer: Trainer, s: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The trainer's generator state and one per Dropout of the network."""
    rng = _pcg64_state(s.get("rng"), "state field 'rng'")
    drops = s.get("dropout_rngs")
    if not isinstance(drops, list) or len(drops) != len(trainer.dropouts()):
        raise _Bad(
            "state field 'dropout_rngs' does not match the network's dropout layers "
            "(checkpoint belongs to a network of another architecture)"
        )
    return rng, [_pcg64_state(d, f"dropout_rngs[{i}]") for i, d in enumerate(drops)]


# -- field checks ------------------------------------------------------------------------------
def _int(d: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"state field {key!r} must be an integer, got {short_repr(v)}")
    if not lo <= v <= hi:
        raise _Bad(f"state field {key!r} = {v} is out of range [{lo}, {hi}]")
    return v


def _num(d: dict[str, Any], key: str, lo: float = 0.0, optional: bool = False) -> Any:
    """A finite number >= lo as a float (None when ``optional`` and absent/null)."""
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        raise _Bad(f"state field {key!r} must be a finite number >= {lo:g}, got {short_repr(v)}")
    return float(v)


def _position(d: dict[str, Any], key: str, epoch: int, step: int) -> tuple[int, int]:
    """An (epoch, step) pair no later than (epoch, step) of the state."""
    v = d.get(key)
    if (
        not isinstance(v, list)
        or len(v) != 2
        or any(isinstance(u, bool) or not isinstance(u, int) or not 0 <= u <= 10**9 for u in v)
        or (v[0], v[1]) > (epoch, step)
    ):
        raise _Bad(f"state field {key!r} is not an (epoch, step) of this run, got {short_repr(v)}")
    return v[0], v[1]


def _pcg64_state(v: Any, what: str) -> dict[str, Any]:
    """A PCG64 bit-generator state as numpy writes it, checked field by field."""
    ok = (
        isinstance(v, dict)
        and set(v) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and v["bit_generator"] == "PCG64"
        and isinstance(v["state"], dict)
        and set(v["state"]) == {"state", "inc"}
        and all(
            isinstance(v["state"][k], int)
            and not isinstance(v["state"][k], bool)
            and 0 <= v["state"][k] < 2**128
            for k in ("state", "inc")
        )
        and v["has_uint32"] in (0, 1)
        and not isinstance(v["has_uint32"], bool)
        and isinstance(v["uinteger"], int)
        and not isinstance(v["uinteger"], bool)
        and 0 <= v["uinteger"] < 2**32
    )
    if not ok:
        raise _Bad(f"{what} is not a valid PCG64 generator state")
    return v  # type: ignore[no-any-return]


def _weights(
    tensors: dict[str, np.ndarray], prefix: str, own: dict[str, Any], optional: bool
) -> dict[str, np.ndarray] | None:
    """The tensors named ``prefix<name>``: exactly the network's names, shapes and dtypes,
    finite; copied (None when ``optional`` and there are none)."""
    got = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not got and optional:
        return None
    if set(got) != set(own):
        raise _Bad(
            f"{prefix}* tensors {sorted(got)} do not match the network's {sorted(own)} "
            "(checkpoint belongs to a network of another architecture)"
        )
    for k, p in own.items():
        t = got[k]
        if t.shape != p.shape or t.dtype != p.dtype:
            raise _Bad(
                f"tensor {prefix}{k} is {t.dtype} {t.shape}, the network needs {p.dtype} "
                f"{p.shape} (checkpoint belongs to a network of another architecture)"
            )
        if not np.isfinite(t).all():
            raise _Bad(f"tensor {prefix}{k} contains NaN or inf")
    return {k: v.copy() for k, v in got.items()}
