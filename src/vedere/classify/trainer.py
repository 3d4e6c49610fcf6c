"""The training loop: mini-batch gradient descent with everything a real run needs.

- batch modes: stochastic (``batch_size=1``), mini-batch (32 … 1024), full batch (``0``);
- stop after ``epochs``, at convergence (|Δ loss| < ``tol``), or by early stopping with
  ``patience`` epochs, which restores the best weights (lowest validation loss);
- learning-rate schedules, L1/L2 penalties, gradient-norm clipping;
- a divergence guard: a NaN or inf loss stops training, restores the weights of the last
  completed epoch and raises :class:`Diverged` naming the likely cause;
- checkpoints written atomically at the end of every epoch and on Ctrl-C (mid-epoch); a run
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
from ..nn.io import ModelFileError, pack, unpack
from ..nn.losses import Loss
from ..nn.regularizers import Regularized, penalties
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
    """Training produced a NaN or inf loss; the message names the likely cause."""


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
    good: dict[str, np.ndarray] | None = None  # weights at the start of the current epoch
    best: dict[str, np.ndarray] | None = None


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
    def _snapshot(self) -> dict[str, np.ndarray]:
        return {n: p.data.copy() for n, p in self.network.named_parameters()}

    def _restore(self, weights: dict[str, np.ndarray]) -> None:
        for n, p in self.network.named_parameters():
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
        """Train; returns the history (also kept in ``self.history``)."""
        cfg = self.config
        n = len(y)
        if n == 0:
            raise ValueError("cannot train on an empty training set")
        y = np.asarray(y, dtype=np.int64)
        has_val = x_val is not None and y_val is not None and len(y_val) > 0
        bs = min(cfg.batch_size or n, n)
        n_steps = -(-n // bs)
        st = self._state
        if resume:
            if self.checkpoint is None or not self.checkpoint.exists():
                raise ValueError(f"nothing to resume: no checkpoint at {self.checkpoint}")
            self.load_checkpoint(self.checkpoint)
            st = self._state
            if st.perm is not None and len(st.perm) != n:
                raise ValueError(
                    f"{self.checkpoint}: checkpoint was made on {len(st.perm)} training images, "
                    f"this run has {n}"
                )
        self.network.train()
        # overflow in a diverging run is reported by the divergence guard, not as warnings
        with self._sigint_between_steps(), np.errstate(over="ignore", invalid="ignore"):
            return self._loop(x, y, x_val, y_val, has_val, bs, n_steps)

    @contextlib.contextmanager
    def _sigint_between_steps(self):  # type: ignore[no-untyped-def]
        """Defer Ctrl-C to the end of the current step, so a checkpoint is never taken in
        the middle of an update; a second Ctrl-C interrupts at once."""
        self._interrupt = False
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
        try:
            while st.epoch < cfg.epochs:
                if st.step == 0:
                    st.perm = self.rng.permutation(n)
                    st.loss_sum, st.correct, st.count, st.seconds = 0.0, 0, 0, 0.0
                    st.good = self._snapshot()
                opt.lr = self.schedule(st.epoch)
                bar = tqdm(
                    total=n_steps,
                    initial=st.step,
                    disable=not self.progress,
                    unit="step",
                    desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
                    mininterval=0.5,
                    leave=False,
                )
                t0 = time.perf_counter()
                last_post = t0
                while st.step < n_steps:
                    idx = st.perm[st.step * bs : (st.step + 1) * bs]
                    yb = y[idx]
                    out = net.forward(self.transform(x[idx], self.rng))
                    loss = self.objective.forward(out, self.target(yb))
                    if not math.isfinite(loss):
                        bar.close()
                        self._diverged(loss)
                    if isinstance(self.objective, Regularized):
                        # data gradient first: it is then written in place, not added
                        net.backward(self.loss.backward())
                        for pen in self.objective.penalties:
                            pen.backward(self.network.parameters())
                    else:
                        net.backward(self.objective.backward())
                    if cfg.clip_norm:
                        optim.clip_grad_norm(net.parameters(), cfg.clip_norm)
                    opt.step()
                    opt.zero_grad()
                    data_loss = (
                        self.objective.data_loss
                        if isinstance(self.objective, Regularized)
                        else loss
                    )
                    st.loss_sum += data_loss * len(idx)
                    st.correct += int((self.predict(out) == yb).sum())
                    st.count += len(idx)
                    st.step += 1
                    bar.update()
                    now = time.perf_counter()
                    if self.progress and now - last_post > 0.5:
                        bar.set_postfix(
                            loss=f"{st.loss_sum / st.count:.4f}", acc=f"{st.correct / st.count:.3f}"
                        )
                        last_post = now
                    if self.callback is not None:
                        self.callback(st.epoch, st.step)
                    if self._interrupt:
                        raise KeyboardInterrupt
                st.seconds += time.perf_counter() - t0
                bar.close()
                self._end_epoch(x_val, y_val, has_val)
                if self.history.stopped:
                    break
            if not self.history.stopped:
                self.history.stopped = "epochs"
            if cfg.early_stopping and st.best is not None:
                self._restore(st.best)
                self.history.best_epoch = st.best_epoch + 1
        except KeyboardInterrupt:
            if self.checkpoint is not None:
                self.save_checkpoint(self.checkpoint)
            self.history.stopped = "interrupted"
            self.history.message = f"interrupted in epoch {st.epoch + 1} at step {st.step}" + (
                f"; checkpoint saved to {self.checkpoint}" if self.checkpoint else ""
            )
            self._save_history()
            raise
        self._save_history()
        return self.history

    def _end_epoch(self, x_val: np.ndarray | None, y_val: np.ndarray | None, has_val: bool) -> None:
        cfg, st = self.config, self._state
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
        if self.checkpoint is not None:
            self.save_checkpoint(self.checkpoint)
        self._save_history()

    def _diverged(self, loss: float) -> None:
        st = self._state
        lr = self.optimizer.lr
        if st.good is not None:
            self._restore(st.good)
        self.history.stopped = "diverged"
        self.history.message = (
            f"training diverged: the loss became {loss} in epoch {st.epoch + 1} at step "
            f"{st.step + 1}. The learning rate ({lr:g}) is probably too high — try {lr / 10:g}. "
            f"Kept the weights from the start of epoch {st.epoch + 1}."
        )
        self._save_history()
        raise Diverged(self.history.message)

    def _save_history(self) -> None:
        if self.history_dir is not None:
            self.history.save(self.history_dir)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the complete training state to ``path`` atomically."""
        st = self._state
        tensors: dict[str, np.ndarray] = {
            f"model.{n}": p.data for n, p in self.network.named_parameters()
        }
        tensors.update({f"opt.{k}": v for k, v in self.optimizer.state_arrays().items()})
        if st.good is not None:
            tensors.update({f"good.{k}": v for k, v in st.good.items()})
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
            "opt_t": self.optimizer.t,
            "opt_lr": self.optimizer.lr,
            "rng": self.rng.bit_generator.state,
            "dropout_rngs": [d.rng.bit_generator.state for d in self._dropouts()],
        }
        fields_ = {"state": state, "config": asdict(self.config), "history": self.history.to_dict()}
        atomic_write_bytes(path, pack(tensors, fields_, CHECKPOINT_FORMAT))

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a state written by :meth:`save_checkpoint` (same network and config)."""
        tensors, f = unpack(path, CHECKPOINT_FORMAT)
        saved = dict(f.get("config", {}))
        mine = asdict(self.config)
        diff = [k for k in mine if k != "epochs" and saved.get(k) != mine[k]]
        if diff:
            raise ModelFileError(
                path, f"checkpoint was made with other settings ({', '.join(diff)})"
            )
        own = dict(self.network.named_parameters())
        model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if set(model) != set(own) or any(model[k].shape != own[k].shape for k in own):
            raise ModelFileError(path, "checkpoint belongs to a network of another architecture")
        self._restore(model)
        s = f["state"]
        opt_arrays = {k[4:]: v for k, v in tensors.items() if k.startswith("opt.")}
        self.optimizer.load_state_arrays(opt_arrays, s["opt_t"], s["opt_lr"])
        good = {k[5:]: v for k, v in tensors.items() if k.startswith("good.")}
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        self._state = _State(
            epoch=s["epoch"],
            step=s["step"],
            perm=tensors.get("perm"),
            loss_sum=s["loss_sum"],
            correct=s["correct"],
            count=s["count"],
            seconds=s["seconds"],
            best_loss=math.inf if s["best_loss"] is None else s["best_loss"],
            best_epoch=s["best_epoch"],
            wait=s["wait"],
            good=good or None,
            best=best or None,
        )
        self.rng.bit_generator.state = s["rng"]
        drops = self._dropouts()
        if len(drops) != len(s["dropout_rngs"]):
            raise ModelFileError(path, "checkpoint belongs to a network of another architecture")
        for d, state in zip(drops, s["dropout_rngs"], strict=True):
            d.rng.bit_generator.state = state
        self.history = History.from_dict(f.get("history", {}))
        self.history.stopped = ""
        self.history.message = ""
