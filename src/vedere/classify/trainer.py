"""The training loop: mini-batch gradient descent with everything a real run needs.

- batch modes: stochastic (``batch_size=1``), mini-batch (32 … 1024), full batch (``0``);
- stop after ``epochs``, at convergence (|Δ loss| < ``tol``), or by early stopping with
  ``patience`` epochs, which restores the best weights (lowest validation loss);
- learning-rate schedules, L1/L2 penalties, gradient-norm clipping;
- a divergence guard (:mod:`.guard`, the rule of :mod:`vedere.nn.divergence`) that restores
  the last weights that passed it and raises :class:`Diverged` naming the cause;
- checkpoints (:mod:`.checkpoint`) written atomically at the end of every epoch and on
  Ctrl-C (between two updates; never of a state in the middle of one); a run resumed from
  one ends bit-identical to an uninterrupted run with the same seed;
- hooks (:mod:`.hooks`) at the start and end of each epoch and around each update;
- fractional ``epochs`` (the last epoch stops part-way), ``drop_last``, optimiser parameter
  groups (their ``epochs`` follow the loop's), per-update schedules (``schedule.per_step``),
  summed losses (reported per sample), transforms that see the batch's indices and the
  epoch (``transform.indexed``: airbench94's alternating flips) and lookahead
  (:class:`vedere.nn.averaging.Lookahead`, its average checkpointed with the state).

Its pieces (:mod:`.train_config`, :mod:`.train_state`, :mod:`.guard`, :mod:`.checkpoint`,
:mod:`.stops`) are re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import Dropout, Module, optim, schedules
from ..nn.averaging import Lookahead
from ..nn.losses import Loss
from ..nn.regularizers import Regularized, penalties
from ..nn.step import train_step
from ..text import isatty
from . import checkpoint as _checkpoint
from . import guard
from .checkpoint import CHECKPOINT_FORMAT
from .guard import GUARD_SAMPLES
from .history import History
from .hooks import TrainHook
from .progress import SigintFlag, deferred_sigint, epoch_bar, epoch_line
from .stops import Diverged, Interrupted, interrupt_note
from .train_config import TrainConfig
from .train_state import TrainState

__all__ = [
    "CHECKPOINT_FORMAT",
    "GUARD_SAMPLES",
    "Diverged",
    "History",
    "Interrupted",
    "TrainConfig",
    "TrainHook",
    "TrainState",
    "Trainer",
]


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
    every step; ``hooks``: :class:`~.hooks.TrainHook` objects (see :mod:`.hooks`);
    ``param_groups``: the optimiser's :class:`~vedere.nn.optim.ParamGroup` s (None: one group
    of every parameter).
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
        hooks: Sequence[TrainHook] = (),
        param_groups: Sequence[optim.ParamGroup] | None = None,
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
        self.hooks = list(hooks)
        self.history_dir = Path(history_dir) if history_dir else None
        # momentum belongs to the momentum methods; plain "sgd" is the course's θ ← θ - α g
        uses_momentum = config.optimizer in ("momentum", "nesterov")
        extra = {"momentum": config.momentum} if uses_momentum else {}
        params = network.parameters() if param_groups is None else list(param_groups)
        self.optimizer = optim.make_optimizer(config.optimizer, params, config.lr, **extra)
        self.lookahead: Lookahead | None = None
        self._total = 0  # updates of the whole run (set by fit)
        self.schedule = schedules.make_schedule(
            config.schedule, config.lr, config.epochs, config.warmup
        )
        pens = penalties(config.l1, config.l2)
        self.objective: Loss = Regularized(loss, network, pens) if pens else loss
        self.rng = np.random.default_rng([config.seed, 1])
        self.history = History()
        self._state = TrainState()
        self._sigint = SigintFlag()  # a Ctrl-C arrived: stop after this update
        self._consistent = True  # the state is between two updates (may be checkpointed)

    @property
    def state(self) -> TrainState:
        """Where the loop is (read by hooks; replaced by :meth:`load_checkpoint`)."""
        return self._state

    # -- what a snapshot, a restore and a checkpoint carry ------------------------------------
    def state_tensors(self) -> list[tuple[str, Any]]:
        """The network's parameters and buffers (BatchNorm's running statistics), by name."""
        return [*self.network.named_parameters(), *self.network.named_buffers()]

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of :meth:`state_tensors`' values."""
        return {n: p.data.copy() for n, p in self.state_tensors()}

    def restore(self, weights: dict[str, np.ndarray]) -> None:
        """Copy a :meth:`snapshot` back into the network."""
        for n, p in self.state_tensors():
            np.copyto(p.data, weights[n])

    def dropouts(self) -> list[Dropout]:
        """Every Dropout of the network, wherever it sits (inside a Residual, a nested
        Sequential…), in a fixed order: their generators are part of the training state."""
        return [m for m in self.network.modules() if isinstance(m, Dropout)]

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
                value = self.loss.forward(out, self.target(yb))
                total += self.loss.per_sample(value, len(yb)) * len(yb)
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
        if len(y) == 0:
            raise ValueError("cannot train on an empty training set")
        y = np.asarray(y, dtype=np.int64)
        if x_val is None or y_val is None or len(y_val) == 0:
            x_val = y_val = None
        if resume:
            if self.checkpoint is None or not self.checkpoint.exists():
                raise ValueError(f"{self.checkpoint}: no checkpoint to resume from")
            self.load_checkpoint(self.checkpoint, n_train=len(y))
        self._total = self.config.total_updates(len(y))
        if self.config.lookahead:
            self.lookahead = Lookahead(self.network)
            if self._state.average is None:
                self._state.average = self.lookahead.average
            else:  # resumed: the checkpoint's average
                self.lookahead.average = self._state.average
        self.network.train()
        # overflow in a diverging run is reported by the divergence guard, not as warnings
        with self._sigint_between_steps(), np.errstate(over="ignore", invalid="ignore"):
            try:
                guard.start(self._state, self.snapshot())
                while self._state.epoch < self.config.n_epochs and not self.history.stopped:
                    self._run_epoch(x, y)
                    self._end_epoch(x_val, y_val)
                self._finish()
            except KeyboardInterrupt:
                self._interrupted()
        self._save_history()
        return self.history

    def _run_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        """The updates of one epoch (of what is left of it, when resumed in its middle)."""
        cfg, st = self.config, self._state
        n = len(y)
        bs, per_epoch = cfg.batch(n), cfg.steps_per_epoch(n)
        n_steps = cfg.steps_in_epoch(st.epoch, n)
        self._consistent = False
        if st.perm is None:  # a new epoch (a resumed one keeps its permutation)
            st.start_epoch(self.rng.permutation(n))
        self.optimizer.lr = self.schedule(st.epoch)
        self.optimizer.set_epoch(st.epoch)
        self._consistent = True
        for hook in self.hooks:
            hook.on_epoch_start(self)
        t0 = time.perf_counter()
        with self._progress_bar(n_steps) as show:
            while st.step < n_steps:
                self._consistent = False
                idx = st.perm[st.step * bs : (st.step + 1) * bs]
                if self.schedule.per_step:
                    k = st.epoch * per_epoch + st.step
                    self.optimizer.lr = self.schedule.at_step(k, self._total)  # type: ignore[attr-defined]
                self._update(x[idx], y[idx], idx)
                if self.lookahead is not None:
                    self.lookahead.after_step(st.epoch * per_epoch + st.step, self._total)
                if st.block_n >= guard.block_updates(bs) or st.step == n_steps:
                    self._check_block()
                self._consistent = True
                show(st)
                if self.callback is not None:
                    self.callback(st.epoch, st.step)
                if self._interrupt:
                    raise KeyboardInterrupt
        st.seconds += time.perf_counter() - t0

    def _update(self, xb: np.ndarray, yb: np.ndarray, idx: np.ndarray | None = None) -> None:
        """One update on a batch (the training samples ``idx``), counted in the state's
        running sums (per sample, whatever the loss's reduction)."""
        st = self._state
        for hook in self.hooks:
            hook.before_step(self)
        if getattr(self.transform, "indexed", False):
            inputs = self.transform(xb, self.rng, index=idx, epoch=st.epoch)  # type: ignore[call-arg]
        else:
            inputs = self.transform(xb, self.rng)
        s = train_step(
            self.network,
            self.objective,
            self.optimizer,
            inputs,
            self.target(yb),
            clip_norm=self.config.clip_norm,
        )
        if not s.updated:
            self._diverged(f"the training loss became {s.loss}")
        st.loss_sum += self.loss.per_sample(s.data_loss, len(yb)) * len(yb)
        st.correct += int((self.predict(s.output) == yb).sum())
        st.count += len(yb)
        st.block_sum += self.loss.per_sample(s.loss, len(yb))
        st.block_n += 1
        st.step += 1
        for hook in self.hooks:
            hook.after_step(self, s)

    def _check_block(self) -> None:
        """The divergence guard, every ``guard.block_updates`` updates and at the end of each
        epoch (see :mod:`.guard`)."""
        st = self._state
        reason = guard.block_problem(st, self.network.parameters())
        if reason is not None:
            self._diverged(reason, step=st.step)
        guard.pass_block(st, self.state_tensors())

    def _end_epoch(self, x_val: np.ndarray | None, y_val: np.ndarray | None) -> None:
        """Record the epoch (validation, history row), then early stopping and convergence;
        checkpoint the state and write the history files."""
        cfg, st = self.config, self._state
        self._consistent = False
        row = self._epoch_row(x_val, y_val)
        self.history.append(row)
        for hook in self.hooks:
            hook.on_epoch_end(self, row)
        self._report(row, x_val is not None)
        key = "val_loss" if x_val is not None else "train_loss"
        previous = self.history.rows[-2][key] if len(self.history) > 1 else None
        st.finish_epoch()
        if cfg.early_stopping and x_val is not None:
            self._early_stopping(row[key])
        if cfg.tol and previous is not None and not self.history.stopped:
            change = abs(previous - row[key])
            if change < cfg.tol:
                self.history.stopped = "converged"
                self.history.message = f"|Δ loss| = {change:.2e} < tol = {cfg.tol:g}"
        self._consistent = True
        if self.checkpoint is not None:
            self.save_checkpoint(self.checkpoint)
        self._save_history()

    def _epoch_row(self, x_val: np.ndarray | None, y_val: np.ndarray | None) -> dict[str, Any]:
        """The epoch's history row; the validation loss passes the divergence guard."""
        st = self._state
        row: dict[str, Any] = {
            "epoch": st.epoch + 1,
            "train_loss": st.loss_sum / st.count,
            "train_acc": st.correct / st.count,
            "val_loss": float("nan"),
            "val_acc": float("nan"),
            "lr": self.optimizer.lr,
            "seconds": round(st.seconds, 3),
        }
        if x_val is not None and y_val is not None:
            row["val_loss"], row["val_acc"] = self.evaluate(x_val, y_val)
            reason = guard.validation_problem(st, row["val_loss"])
            if reason is not None:
                self._diverged(reason, end_of_epoch=True)
            guard.pass_validation(st, row["val_loss"])
        return row

    def _early_stopping(self, monitored: float) -> None:
        """Keep the best weights (lowest validation loss); stop after ``patience`` epochs
        without improvement."""
        st, patience = self._state, self.config.early_stopping
        if monitored < st.best_loss:
            st.best_loss, st.best_epoch, st.wait = monitored, st.epoch - 1, 0
            st.best = self.snapshot()
            return
        st.wait += 1
        if st.wait >= patience:
            self.history.stopped = "early_stopping"
            self.history.message = (
                f"validation loss did not improve for {patience} epochs; "
                f"restored the best weights (epoch {st.best_epoch + 1})"
            )

    def _finish(self) -> None:
        """Training ended normally: say why, restore early stopping's best weights."""
        if not self.history.stopped:
            self.history.stopped = "epochs"
        if self.config.early_stopping and self._state.best is not None:
            self.restore(self._state.best)
            self.history.best_epoch = self._state.best_epoch + 1

    # -- output -------------------------------------------------------------------------------
    def _progress_bar(self, n_steps: int) -> contextlib.AbstractContextManager[Any]:
        """The epoch's progress bar (only when stderr is a terminal): yields the function
        to call after each step."""
        st = self._state
        bars = self.progress and isatty(sys.stderr)
        return epoch_bar(st, n_steps, f"epoch {st.epoch + 1}/{self.config.n_epochs}", bars)

    def _report(self, row: dict[str, Any], has_val: bool) -> None:
        """The epoch's line on stderr (with ``progress``)."""
        if self.progress:
            epoch_line(row, self.config.n_epochs, has_val)

    def _save_history(self) -> None:
        if self.history_dir is not None:
            self.history.save(self.history_dir)

    # -- stopping early -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _sigint_between_steps(self) -> Iterator[None]:
        """Defer Ctrl-C to the end of the current step, so a checkpoint is never taken in
        the middle of an update; a second Ctrl-C interrupts at once (and then the checkpoint
        is only written if the state is consistent, see ``_consistent``)."""
        self._consistent = True
        with deferred_sigint() as flag:
            self._sigint = flag
            yield

    @property
    def _interrupt(self) -> bool:
        """A first Ctrl-C arrived: stop after the current update."""
        return self._sigint.requested

    def _interrupted(self) -> None:
        """Ctrl-C: checkpoint the state if it is consistent (between two updates), never a
        state in the middle of one (a second Ctrl-C interrupts at once); then raise."""
        st = self._state
        saved, note = False, ""
        if self.checkpoint is not None and self._consistent:
            try:
                self.save_checkpoint(self.checkpoint)  # atomic: all of it or nothing
                saved = True
            except KeyboardInterrupt:
                pass
        if self.checkpoint is not None:
            note = interrupt_note(self.checkpoint, self._consistent, saved)
        self.history.stopped = "interrupted"
        self.history.message = f"interrupted in epoch {st.epoch + 1} at step {st.step}{note}"
        self._save_history()
        raise Interrupted(self.history.message, saved) from None

    def _diverged(self, reason: str, end_of_epoch: bool = False, step: int | None = None) -> None:
        """Restore the good weights, record why in the history, raise Diverged. ``step``:
        the 1-based step where it was seen (default: the one being taken)."""
        st, user_lr = self._state, self.config.lr
        step = st.step + 1 if step is None else step
        where, message = guard.diverged_message(st, reason, user_lr, step, end_of_epoch)
        if st.good is not None:
            self.restore(st.good)
        self.history.stopped, self.history.message = "diverged", message
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

    # -- checkpoints (see vedere.classify.checkpoint) -------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the complete training state to ``path`` atomically."""
        _checkpoint.save(self, path)

    def load_checkpoint(self, path: str | os.PathLike[str], n_train: int | None = None) -> None:
        """Restore a state written by :meth:`save_checkpoint` (same network and config);
        a file that does not match raises ModelFileError naming it (and restores nothing)."""
        c = _checkpoint.read(self, path, n_train)
        self.restore(c.model)
        self.optimizer.load_state_arrays(c.optimizer, c.opt_t, c.opt_lr)
        self._state = c.state
        self.rng.bit_generator.state = c.rng
        for d, s in zip(self.dropouts(), c.dropout_rngs, strict=True):
            d.rng.bit_generator.state = s
        self.history = c.history
        self.history.stopped = ""
        self.history.message = ""
