"""The training loop: mini-batch gradient descent with everything a real run needs.

- batch modes: stochastic (``batch_size=1``), mini-batch (32 … 1024), full batch (``0``);
- stop after ``epochs``, at convergence (|Δ loss| < ``tol``), or by early stopping with
  ``patience`` epochs, which restores the best weights (lowest validation loss);
- learning-rate schedules, L1/L2 penalties, gradient-norm clipping;
- a divergence guard (the shared rule of :mod:`vedere.nn.divergence`): a NaN or inf loss at
  any update, a block's mean loss 10^4 × the best one, weights that are not finite or above
  1e8, or a validation loss that is not finite or 10^4 × its best stop training, restore
  the last weights that passed the guard and raise :class:`Diverged` naming the cause;
- checkpoints written atomically at the end of every epoch and on Ctrl-C (between two
  updates; never of a state in the middle of one); validated field by field on resume; a run
  resumed from one ends bit-identical to an uninterrupted run with the same seed, because
  the checkpoint holds the weights, the optimiser state, the epoch's permutation, the
  position in it and the state of every random generator.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..fileio import atomic_write_bytes
from ..nn import Dropout, Module, optim, schedules
from ..nn.divergence import loss_diverged, weights_diverged
from ..nn.io import ModelFileError, pack, unpack
from ..nn.losses import Loss
from ..nn.regularizers import Regularized, penalties
from ..nn.step import train_step
from .history import History

CHECKPOINT_FORMAT = "vedere.checkpoint"


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (all JSON-serialisable)."""

    epochs: int = 10
    batch_size: int = 256  # 1 = stochastic, 0 = full batch
    optimizer: str = "momentum"
    lr: float = 0.01
    momentum: float = 0.9
    schedule: str = "constant"
    warmup: int = 0
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float = 0.0  # 0 = no clipping
    early_stopping: int = 0  # patience in epochs; 0 = off
    tol: float = 0.0  # stop when |Δ loss| < tol between epochs; 0 = off
    seed: int = 0
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be >= 1, or 0 for full batch, got {self.batch_size}")
        for name in ("lr", "l1", "l2", "clip_norm", "tol"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise ValueError(
                    f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}, got {v}"
                )
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping patience must be >= 0, got {self.early_stopping}")
        schedules.make_schedule(self.schedule, self.lr, self.epochs, self.warmup)  # validates

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Diverged(RuntimeError):
    """Training diverged (by :mod:`vedere.nn.divergence`); the message names where, why and
    the learning rate the run was configured with.

    ``user_lr``: the configured (unscheduled) learning rate; ``lr``: the scheduled rate of the
    update that diverged; ``epoch``/``step``: 1-based place (``where`` in words);
    ``reason``: what was seen;
    ``history``: the epochs that finished before it (their rows are sane)."""

    def __init__(
        self,
        message: str,
        *,
        user_lr: float | None = None,
        lr: float | None = None,
        epoch: int = 0,
        step: int = 0,
        reason: str = "",
        where: str = "",
        history: History | None = None,
    ) -> None:
        super().__init__(message)
        self.user_lr, self.lr = user_lr, lr
        self.epoch, self.step, self.reason, self.where = epoch, step, reason, where
        self.history = history if history is not None else History()

    def __reduce__(self) -> Any:  # keep the attributes across processes (pickled by Dask)
        return (type(self), self.args, self.__dict__)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``str(e)`` says where, and whether ``checkpoint_saved``."""

    def __init__(self, message: str, checkpoint_saved: bool = False) -> None:
        super().__init__(message)
        self.checkpoint_saved = checkpoint_saved

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.checkpoint_saved))


#: the divergence guard checks the weights and the mean loss every this many samples (and at
#: the end of every epoch); see :meth:`Trainer._check_block`
GUARD_SAMPLES = 256


@dataclass
class _State:
    epoch: int = 0  # next epoch to run (0-based)
    step: int = 0  # next step within it
    perm: np.ndarray | None = None
    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0
    seconds: float = 0.0  # spent in the current epoch so far
    best_loss: float = math.inf
    best_epoch: int = -1
    wait: int = 0
    # the divergence guard's snapshots: "good" weights passed it (their loss and their
    # values), "cand" weights passed the value check and wait for their loss to be seen;
    # *_at: (epoch, step) where they were taken (0-based epoch, steps done in it)
    good: dict[str, np.ndarray] | None = None
    good_at: tuple[int, int] = (0, 0)
    cand: dict[str, np.ndarray] | None = None
    cand_at: tuple[int, int] = (0, 0)
    best: dict[str, np.ndarray] | None = None
    # the divergence guard: the current block of updates and the smallest block mean so far
    block_sum: float = 0.0
    block_n: int = 0
    reference: float | None = None
    first_loss: float | None = None  # the first block's mean: the loss near initialisation
    val_reference: float | None = None


def _argmax(out: np.ndarray) -> np.ndarray:
    return (
        out.argmax(axis=1)
        if out.ndim == 2 and out.shape[1] > 1
        else (out.reshape(-1) > 0).astype(np.int64)
    )


class Trainer:
    """Trains ``network`` to minimise ``loss`` on (x, y).

    ``transform(raw_batch, rng)`` turns a slice of ``x`` into the network's float input
    (``rng`` is None when evaluating: no augmentation); ``target(y_batch)`` turns class
    indices into what the loss wants; ``predict(output)`` turns outputs into class indices.
    ``checkpoint``: file for checkpoints (None: none); ``callback(epoch, step)`` runs after
    every step.
    """

    def __init__(
        self,
        network: Module,
        loss: Loss,
        config: TrainConfig,
        *,
        transform: Callable[[np.ndarray, np.random.Generator | None], np.ndarray] | None = None,
        target: Callable[[np.ndarray], np.ndarray] | None = None,
        predict: Callable[[np.ndarray], np.ndarray] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool = True,
        callback: Callable[[int, int], None] | None = None,
        history_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.network = network
        self.loss = loss
        self.config = config
        self.transform = transform or (lambda xb, rng: xb)
        self.target = target or (lambda yb: yb)
        self.predict = predict or _argmax
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.progress = progress
        self.callback = callback
        self.history_dir = Path(history_dir) if history_dir else None
        # momentum belongs to the momentum methods; plain "sgd" is the course's θ ← θ - α g
        uses_momentum = config.optimizer in ("momentum", "nesterov")
        extra = {"momentum": config.momentum} if uses_momentum else {}
        self.optimizer = optim.make_optimizer(
            config.optimizer, network.parameters(), config.lr, **extra
        )
        self.schedule = schedules.make_schedule(
            config.schedule, config.lr, config.epochs, config.warmup
        )
        pens = penalties(config.l1, config.l2)
        self.objective: Loss = Regularized(loss, network, pens) if pens else loss
        self.rng = np.random.default_rng([config.seed, 1])
        self.history = History()
        self._state = _State()

    # -- snapshots ----------------------------------------------------------------------
    def _state_tensors(self) -> list[tuple[str, Any]]:
        """The network's parameters and buffers (BatchNorm's running statistics), by name:
        everything a snapshot, a restore and a checkpoint must carry."""
        return [*self.network.named_parameters(), *self.network.named_buffers()]

    def _snapshot(self) -> dict[str, np.ndarray]:
        return {n: p.data.copy() for n, p in self._state_tensors()}

    def _restore(self, weights: dict[str, np.ndarray]) -> None:
        for n, p in self._state_tensors():
            np.copyto(p.data, weights[n])

    def _dropouts(self) -> list[Dropout]:
        layers = getattr(self.network, "layers", [self.network])
        return [m for m in layers if isinstance(m, Dropout)]

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean data loss, accuracy) on (x, y) in eval mode, in chunks."""
        net = self.network
        was_training = net.training
        net.eval()
        total, correct = 0.0, 0
        bs = max(1, self.config.eval_batch_size)
        try:
            for i in range(0, len(y), bs):
                xb = self.transform(x[i : i + bs], None)
                out = net.forward(xb)
                yb = y[i : i + bs]
                total += self.loss.forward(out, self.target(yb)) * len(yb)
                correct += int((self.predict(out) == yb).sum())
        finally:
            net.train(was_training)
        return total / len(y), correct / len(y)

    # -- the loop ---------------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        resume: bool = False,
    ) -> History:
        """Train; returns the history (also kept in ``self.history``).

        Raises :class:`Diverged` (weights restored to the last sane ones) and, on Ctrl-C,
        :class:`Interrupted` after writing a checkpoint of a consistent state."""
        cfg = self.config
        n = len(y)
        if n == 0:
            raise ValueError("cannot train on an empty training set")
        y = np.asarray(y, dtype=np.int64)
        has_val = x_val is not None and y_val is not None and len(y_val) > 0
        bs = min(cfg.batch_size or n, n)
        n_steps = -(-n // bs)
        if resume:
            if self.checkpoint is None or not self.checkpoint.exists():
                raise ValueError(f"{self.checkpoint}: no checkpoint to resume from")
            self.load_checkpoint(self.checkpoint, n_train=n)
        self.network.train()
        # overflow in a diverging run is reported by the divergence guard, not as warnings
        with self._sigint_between_steps(), np.errstate(over="ignore", invalid="ignore"):
            return self._loop(x, y, x_val, y_val, has_val, bs, n_steps)

    @contextlib.contextmanager
    def _sigint_between_steps(self):  # type: ignore[no-untyped-def]
        """Defer Ctrl-C to the end of the current step, so a checkpoint is never taken in
        the middle of an update; a second Ctrl-C interrupts at once (and then the checkpoint
        is only written if the state is consistent, see ``_consistent``)."""
        self._interrupt = False
        self._consistent = True
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self._interrupt:
                raise KeyboardInterrupt
            self._interrupt = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _guard_block(self, bs: int) -> int:
        """Updates per divergence-guard block: about GUARD_SAMPLES samples, at least one."""
        return max(1, -(-GUARD_SAMPLES // bs))

    def _loop(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None,
        y_val: np.ndarray | None,
        has_val: bool,
        bs: int,
        n_steps: int,
    ) -> History:
        cfg, st = self.config, self._state
        net, opt = self.network, self.optimizer
        n = len(y)
        block = self._guard_block(bs)
        bars = self.progress and _isatty(sys.stderr)
        try:
            if st.good is None or st.cand is None:
                at = (st.epoch, st.step)
                st.good, st.cand = self._snapshot(), self._snapshot()
                st.good_at = st.cand_at = at
            while st.epoch < cfg.epochs:
                self._consistent = False
                if st.perm is None:  # a new epoch (a resumed one keeps its permutation)
                    st.perm = self.rng.permutation(n)
                    st.step = 0
                    st.loss_sum, st.correct, st.count, st.seconds = 0.0, 0, 0, 0.0
                    st.block_sum, st.block_n = 0.0, 0
                opt.lr = self.schedule(st.epoch)
                self._consistent = True
                bar = tqdm(
                    total=n_steps,
                    initial=st.step,
                    disable=not bars,
                    unit="step",
                    desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
                    mininterval=0.5,
                    leave=False,
                )
                t0 = time.perf_counter()
                last_post = t0
                try:
                    while st.step < n_steps:
                        self._consistent = False
                        idx = st.perm[st.step * bs : (st.step + 1) * bs]
                        yb = y[idx]
                        s = train_step(
                            net,
                            self.objective,
                            opt,
                            self.transform(x[idx], self.rng),
                            self.target(yb),
                            clip_norm=cfg.clip_norm,
                        )
                        if not s.updated:
                            self._diverged(f"the training loss became {s.loss}")
                        st.loss_sum += s.data_loss * len(idx)
                        st.correct += int((self.predict(s.output) == yb).sum())
                        st.count += len(idx)
                        st.block_sum += s.loss
                        st.block_n += 1
                        st.step += 1
                        if st.block_n >= block or st.step == n_steps:
                            self._check_block()
                        self._consistent = True
                        bar.update()
                        now = time.perf_counter()
                        if bars and now - last_post > 0.5:
                            bar.set_postfix(
                                loss=f"{st.loss_sum / st.count:.4f}",
                                acc=f"{st.correct / st.count:.3f}",
                            )
                            last_post = now
                        if self.callback is not None:
                            self.callback(st.epoch, st.step)
                        if self._interrupt:
                            raise KeyboardInterrupt
                finally:
                    bar.close()
                st.seconds += time.perf_counter() - t0
                self._end_epoch(x_val, y_val, has_val)
                if self.history.stopped:
                    break
            if not self.history.stopped:
                self.history.stopped = "epochs"
            if cfg.early_stopping and st.best is not None:
                self._restore(st.best)
                self.history.best_epoch = st.best_epoch + 1
        except KeyboardInterrupt:
            self._interrupted()
        self._save_history()
        return self.history

    def _interrupted(self) -> None:
        """Ctrl-C: checkpoint the state if it is consistent (between two updates), never a
        state in the middle of one (a second Ctrl-C interrupts at once); then raise."""
        st = self._state
        saved = False
        where = f"interrupted in epoch {st.epoch + 1} at step {st.step}"
        if self.checkpoint is not None and self._consistent:
            try:
                self.save_checkpoint(self.checkpoint)  # atomic: all of it or nothing
                saved = True
                note = f"; checkpoint saved to {self.checkpoint}"
            except KeyboardInterrupt:
                note = "; another Ctrl-C stopped the checkpoint being written (none was updated)"
        elif self.checkpoint is not None:
            kept = self.checkpoint.exists()
            note = "; the update in progress was abandoned and the checkpoint was not updated" + (
                f" ({self.checkpoint} holds an earlier state)" if kept else ""
            )
        else:
            note = ""
        self.history.stopped = "interrupted"
        self.history.message = where + note
        self._save_history()
        raise Interrupted(self.history.message, saved) from None

    def _check_block(self) -> None:
        """The divergence guard, every ``_guard_block`` updates and at the end of each epoch.

        Each update's loss is checked for NaN/inf at once (for free: the update is skipped).
        Every block of updates (about GUARD_SAMPLES samples, a single update in full batch)
        the mean loss of the block is compared with the smallest block mean so far and the
        weights are scanned for NaN/inf or |w| > 1e8 (vedere.nn.divergence). A block of
        ~256 samples keeps single noisy mini-batches from looking like divergence and makes
        the O(#weights) scan and copy cost < 1% of the block's forward and backward passes.

        Weights that pass the scan become the candidate; the candidate's loss is the first
        of the next block, so when that block passes, the candidate becomes the "good"
        weights, those restored on divergence (finite, bounded, and with a sane loss)."""
        st = self._state
        mean = st.block_sum / max(1, st.block_n)
        if loss_diverged(mean, st.reference):
            self._diverged(
                f"the training loss grew from {st.reference:.4g} to {mean:.4g}"
                if math.isfinite(mean) and st.reference is not None
                else f"the training loss became {mean}",
                step=st.step,
            )
        if weights_diverged(p.data for p in self.network.parameters()):
            self._diverged(f"a weight became {self._largest_weight():.4g}", step=st.step)
        if st.reference is None:
            st.first_loss = mean
        st.reference = mean if st.reference is None else min(st.reference, mean)
        st.block_sum, st.block_n = 0.0, 0
        assert st.good is not None and st.cand is not None
        st.good, st.good_at, st.cand = st.cand, st.cand_at, st.good
        for n, p in self._state_tensors():
            np.copyto(st.cand[n], p.data)
        st.cand_at = (st.epoch, st.step)

    def _largest_weight(self) -> float:
        worst = 0.0
        for p in self.network.parameters():
            if p.data.size:
                m = float(np.max(np.abs(p.data)))
                if not math.isfinite(m):
                    return m
                worst = max(worst, m)
        return worst

    def _end_epoch(self, x_val: np.ndarray | None, y_val: np.ndarray | None, has_val: bool) -> None:
        cfg, st = self.config, self._state
        self._consistent = False
        row: dict[str, Any] = {
            "epoch": st.epoch + 1,
            "train_loss": st.loss_sum / st.count,
            "train_acc": st.correct / st.count,
            "val_loss": math.nan,
            "val_acc": math.nan,
            "lr": self.optimizer.lr,
            "seconds": round(st.seconds, 3),
        }
        if has_val:
            row["val_loss"], row["val_acc"] = self.evaluate(x_val, y_val)  # type: ignore[arg-type]
            # the validation loss starts where the training loss started (same loss, same
            # distribution), so the first training block's mean bounds its reference too
            known = [v for v in (st.val_reference, st.first_loss) if v is not None]
            ref = min(known) if known else None
            if loss_diverged(row["val_loss"], ref):
                self._diverged(
                    f"the validation loss grew from {ref:.4g} to {row['val_loss']:.4g}"
                    if math.isfinite(row["val_loss"]) and ref is not None
                    else f"the validation loss became {row['val_loss']}",
                    end_of_epoch=True,
                )
            st.val_reference = (
                row["val_loss"]
                if st.val_reference is None
                else min(st.val_reference, row["val_loss"])
            )
        self.history.append(row)
        if self.progress:
            val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}" if has_val else ""
            tqdm.write(
                f"epoch {row['epoch']:>3}/{cfg.epochs}  train loss {row['train_loss']:.4f} "
                f"acc {row['train_acc']:.3f}{val}  lr {row['lr']:.3g}  {row['seconds']:.1f}s",
                file=sys.stderr,
            )
        monitored = row["val_loss"] if has_val else row["train_loss"]
        previous = (
            self.history.rows[-2]["val_loss" if has_val else "train_loss"]
            if len(self.history) > 1
            else None
        )
        st.epoch += 1
        st.step = 0
        st.perm = None
        st.loss_sum, st.correct, st.count, st.seconds = 0.0, 0, 0, 0.0
        if cfg.early_stopping and has_val:
            if monitored < st.best_loss:
                st.best_loss, st.best_epoch, st.wait = monitored, st.epoch - 1, 0
                st.best = self._snapshot()
            else:
                st.wait += 1
                if st.wait >= cfg.early_stopping:
                    self.history.stopped = "early_stopping"
                    self.history.message = (
                        f"validation loss did not improve for {cfg.early_stopping} epochs; "
                        f"restored the best weights (epoch {st.best_epoch + 1})"
                    )
        if (
            cfg.tol
            and previous is not None
            and abs(previous - monitored) < cfg.tol
            and not self.history.stopped
        ):
            self.history.stopped = "converged"
            self.history.message = f"|Δ loss| = {abs(previous - monitored):.2e} < tol = {cfg.tol:g}"
        self._consistent = True
        if self.checkpoint is not None:
            self.save_checkpoint(self.checkpoint)
        self._save_history()

    def _diverged(self, reason: str, end_of_epoch: bool = False, step: int | None = None) -> None:
        """Restore the good weights, record why in the history, raise Diverged. ``step``:
        the 1-based step where it was seen (default: the one being taken)."""
        st = self._state
        user_lr = self.config.lr
        step = st.step + 1 if step is None else step
        where = (
            f"at the end of epoch {st.epoch + 1}"
            if end_of_epoch
            else f"in epoch {st.epoch + 1} at step {step}"
        )
        if st.good is not None:
            self._restore(st.good)
        e, k = st.good_at
        kept = (
            "the initial weights"
            if (e, k) == (0, 0)
            else f"the weights after step {k} of epoch {e + 1}"
            if k
            else f"the weights from the end of epoch {e}"
        )
        self.history.stopped = "diverged"
        self.history.message = (
            f"training diverged {where}: {reason}. The learning rate {user_lr:g} is probably "
            f"too high; try {user_lr / 10:g}. Kept {kept}."
        )
        self._consistent = False  # nothing to checkpoint after this
        self._save_history()
        raise Diverged(
            self.history.message,
            user_lr=user_lr,
            lr=self.optimizer.lr,
            epoch=st.epoch + 1,
            step=0 if end_of_epoch else step,
            reason=reason,
            where=where,
            history=self.history,
        )

    def _save_history(self) -> None:
        if self.history_dir is not None:
            self.history.save(self.history_dir)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the complete training state to ``path`` atomically."""
        st = self._state
        tensors: dict[str, np.ndarray] = {f"model.{n}": p.data for n, p in self._state_tensors()}
        tensors.update({f"opt.{k}": v for k, v in self.optimizer.state_arrays().items()})
        if st.good is not None:
            tensors.update({f"good.{k}": v for k, v in st.good.items()})
        if st.cand is not None:
            tensors.update({f"cand.{k}": v for k, v in st.cand.items()})
        if st.best is not None:
            tensors.update({f"best.{k}": v for k, v in st.best.items()})
        if st.perm is not None:
            tensors["perm"] = st.perm
        state = {
            "epoch": st.epoch,
            "step": st.step,
            "loss_sum": st.loss_sum,
            "correct": st.correct,
            "count": st.count,
            "seconds": st.seconds,
            "best_loss": st.best_loss if math.isfinite(st.best_loss) else None,
            "best_epoch": st.best_epoch,
            "wait": st.wait,
            "good_at": list(st.good_at),
            "cand_at": list(st.cand_at),
            "block_sum": st.block_sum,
            "block_n": st.block_n,
            "reference": st.reference,
            "first_loss": st.first_loss,
            "val_reference": st.val_reference,
            "opt_t": self.optimizer.t,
            "opt_lr": self.optimizer.lr,
            "rng": self.rng.bit_generator.state,
            "dropout_rngs": [d.rng.bit_generator.state for d in self._dropouts()],
        }
        fields_ = {"state": state, "config": asdict(self.config), "history": self.history.to_dict()}
        atomic_write_bytes(path, pack(tensors, fields_, CHECKPOINT_FORMAT))

    def load_checkpoint(self, path: str | os.PathLike[str], n_train: int | None = None) -> None:
        """Restore a state written by :meth:`save_checkpoint` (same network and config).

        Everything is validated before anything is restored: the tensors (names, shapes,
        dtypes, finite), the permutation (a permutation of range(n_train)), the counters
        (step and epoch in range, consistent with the optimiser's step count and the
        history), every optimiser buffer and the random generators' states. Any problem
        raises one :class:`ModelFileError` naming ``path``."""
        path = Path(path)
        tensors, f = unpack(path, CHECKPOINT_FORMAT)
        try:
            new = _read_checkpoint(self, tensors, f, n_train)
        except _Bad as e:
            raise ModelFileError(path, str(e)) from None
        model, opt_arrays, state, history, rngs = new
        self._restore(model)
        self.optimizer.load_state_arrays(opt_arrays, rngs["opt_t"], rngs["opt_lr"])
        self._state = state
        self.rng.bit_generator.state = rngs["rng"]
        for d, s in zip(self._dropouts(), rngs["dropout_rngs"], strict=True):
            d.rng.bit_generator.state = s
        self.history = history
        self.history.stopped = ""
        self.history.message = ""


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Bad(ValueError):
    """A problem found in a checkpoint (becomes a ModelFileError naming the file)."""


def _int(d: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"state field {key!r} must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        raise _Bad(f"state field {key!r} = {v} is out of range [{lo}, {hi}]")
    return v


def _num(d: dict[str, Any], key: str, lo: float = 0.0, optional: bool = False) -> float | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        raise _Bad(f"state field {key!r} must be a finite number >= {lo:g}, got {_show(v)}")
    return float(v)


_PREFIXES = ("model.", "opt.", "good.", "cand.", "best.")


def _position(d: dict[str, Any], key: str, epoch: int, step: int) -> tuple[int, int]:
    """An (epoch, step) pair no later than (epoch, step) of the state."""
    v = d.get(key)
    if (
        not isinstance(v, list)
        or len(v) != 2
        or any(isinstance(u, bool) or not isinstance(u, int) or not 0 <= u <= 10**9 for u in v)
        or (v[0], v[1]) > (epoch, step)
    ):
        raise _Bad(f"state field {key!r} is not an (epoch, step) of this run, got {_show(v)}")
    return v[0], v[1]


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


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
    return got


def _read_checkpoint(
    trainer: Trainer, tensors: dict[str, np.ndarray], f: dict[str, Any], n_train: int | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], _State, History, dict[str, Any]]:
    """Validate a checkpoint's contents against ``trainer``; raises _Bad."""
    cfg = trainer.config
    saved = f.get("config")
    if not isinstance(saved, dict):
        raise _Bad("the 'config' field is missing or not an object")
    mine = asdict(cfg)
    diff = [k for k in mine if k != "epochs" and saved.get(k) != mine[k]]
    if diff:
        raise _Bad(f"checkpoint was made with other settings ({', '.join(diff)})")
    s = f.get("state")
    if not isinstance(s, dict):
        raise _Bad("the 'state' field is missing or not an object")
    unknown = [k for k in tensors if k != "perm" and not k.startswith(_PREFIXES)]
    if unknown:
        raise _Bad(f"unexpected tensors {sorted(unknown)[:5]}")
    own = dict(trainer._state_tensors())
    model = _weights(tensors, "model.", own, optional=False)
    good = _weights(tensors, "good.", own, optional=True)
    cand = _weights(tensors, "cand.", own, optional=True)
    best = _weights(tensors, "best.", own, optional=True)
    assert model is not None
    # the history: its rows are the finished epochs
    try:
        history = History.from_dict(f.get("history"))
    except ValueError as e:
        raise _Bad(f"history: {e}") from None
    epoch = _int(s, "epoch", 0, 10**9)
    if epoch != len(history):
        raise _Bad(f"state says {epoch} epochs finished, the history holds {len(history)}")
    # the position in the epoch, and its permutation
    n = n_train
    perm = tensors.get("perm")
    if perm is not None:
        if perm.ndim != 1 or perm.dtype.kind not in "iu":
            raise _Bad(f"the permutation is {perm.dtype} {perm.shape}, not 1-D integers")
        if n is not None and len(perm) != n:
            raise _Bad(f"checkpoint was made on {len(perm)} training images, this run has {n}")
        if not np.array_equal(np.sort(perm), np.arange(len(perm))):
            raise _Bad(f"the permutation is not a permutation of range({len(perm)})")
        n = len(perm)
    bs = None if n is None else min(cfg.batch_size or n, n)
    n_steps = None if n is None or bs is None else -(-n // bs)
    step = _int(s, "step", 0, n_steps if n_steps is not None else 10**9)
    if step > 0 and perm is None:
        raise _Bad(f"state is at step {step} of an epoch but holds no permutation")
    count = _int(s, "count", 0, n if n is not None else 10**12)
    if bs is not None and count != min(step * bs, n or 0):
        raise _Bad(f"state counts {count} images after {step} steps of {bs}")
    correct = _int(s, "correct", 0, count)
    loss_sum = _num(s, "loss_sum")
    seconds = _num(s, "seconds")
    best_loss = _num(s, "best_loss", optional=True)
    best_epoch = _int(s, "best_epoch", -1, max(-1, epoch - 1))
    wait = _int(s, "wait", 0, epoch)
    good_at, cand_at = _position(s, "good_at", epoch, step), _position(s, "cand_at", epoch, step)
    block = trainer._guard_block(bs) if bs is not None else 10**9
    block_n = _int(s, "block_n", 0, block)
    block_sum = _num(s, "block_sum")
    reference = _num(s, "reference", optional=True)
    first_loss = _num(s, "first_loss", optional=True)
    val_reference = _num(s, "val_reference", optional=True)
    opt = trainer.optimizer
    max_t = 10**12 if n_steps is None else epoch * n_steps + step
    opt_t = _int(s, "opt_t", 0, max_t)
    if n_steps is not None and opt_t != max_t:
        raise _Bad(f"the optimiser took {opt_t} steps, the state says {max_t}")
    opt_lr = _num(s, "opt_lr")
    if not opt_lr:
        raise _Bad("state field 'opt_lr' must be > 0")
    # every optimiser buffer, present once a step was taken
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
    rng = _pcg64_state(s.get("rng"), "state field 'rng'")
    drops = s.get("dropout_rngs")
    if not isinstance(drops, list) or len(drops) != len(trainer._dropouts()):
        raise _Bad(
            "state field 'dropout_rngs' does not match the network's dropout layers "
            "(checkpoint belongs to a network of another architecture)"
        )
    drops = [_pcg64_state(d, f"dropout_rngs[{i}]") for i, d in enumerate(drops)]
    state = _State(
        epoch=epoch,
        step=step,
        perm=None if perm is None else perm.astype(np.int64),
        loss_sum=loss_sum or 0.0,
        correct=correct,
        count=count,
        seconds=seconds or 0.0,
        best_loss=math.inf if best_loss is None else best_loss,
        best_epoch=best_epoch,
        wait=wait,
        good=None if good is None else {k: v.copy() for k, v in good.items()},
        good_at=good_at,
        cand=None if cand is None else {k: v.copy() for k, v in cand.items()},
        cand_at=cand_at,
        best=None if best is None else {k: v.copy() for k, v in best.items()},
        block_sum=block_sum or 0.0,
        block_n=block_n,
        reference=reference,
        first_loss=first_loss,
        val_reference=val_reference,
    )
    extra = {"opt_t": opt_t, "opt_lr": opt_lr, "rng": rng, "dropout_rngs": drops}
    return model, arrays, state, history, extra
