"""One playground session: a 2-D toy data set, a vedere MLP, and its training loop.

The network is ``nn.mlp([2, *layers, K])`` trained on softmax cross-entropy (+ L1/L2) by
mini-batch gradient descent with the chosen optimiser; one *epoch* is one pass over the
training points in shuffled batches of ``batch_size``. While training, a thread runs epochs
and, every ``frame_interval`` seconds, publishes a *frame*:

- ``regions``: over a ``grid`` × ``grid`` lattice of [-EXTENT, EXTENT]², the predicted class
  c = argmax softmax(f(x)) and its confidence max softmax(f(x)) (one byte each, row 0 at the
  top, y decreasing down the rows);
- ``neurons``: for every hidden unit, its activation g(z) over a smaller lattice, scaled by
  its largest magnitude to [-1, 1] and stored as a byte (0 ↔ -1, 255 ↔ +1);
- the data loss (cross-entropy without penalties) and accuracy on the training and test points.

The loss curves (``history``: [epoch, train loss, test loss] rows) keep at most
``MAX_HISTORY`` rows: when full, every other row is dropped, so a run of any length costs
bounded memory and its curves still span it from the start.

All arrays travel base64-encoded. Every random choice (points, split, weights, batches,
dropout masks) flows from the config's ``seed``.
"""

from __future__ import annotations

import base64
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import nn
from ..data import toy
from ..errors import VedereError
from ..nn.divergence import loss_diverged, weights_diverged
from ..nn.functional import softmax
from ..nn.optim import make_optimizer
from ..nn.regularizers import Regularized, penalties
from ..nn.step import train_step
from ..text import short_repr
from .params import MAX_POINTS, ParamError, PlaygroundConfig, parse_config

EXTENT = 1.6  # the plane shown: [-EXTENT, EXTENT]²
#: the most loss-curve points a session keeps (a long run keeps every other one, and so on)
MAX_HISTORY = 10_000


class SessionError(VedereError):
    """A request the session cannot carry out now (the server answers 409)."""


F = TypeVar("F", bound=Callable[..., Any])


def _command(method: F) -> F:
    """Run one command at a time, in the order they arrive, and never on a closed session."""

    @functools.wraps(method)
    def run(self: Session, *args: Any, **kwargs: Any) -> Any:
        with self._commands:
            if self.closed:
                raise SessionError("this session is closed")
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


def lattice(n: int) -> np.ndarray:
    """(n·n, 2) float32 points of an n × n lattice over the plane, row-major, top row first."""
    c = (np.arange(n) + 0.5) / n * 2 * EXTENT - EXTENT
    gx, gy = np.meshgrid(c, c[::-1])
    return np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode("ascii")


class Session:
    """Data, network and training state of one page; thread-safe: ``lock`` guards the
    network and data (the training thread holds it for one epoch at a time), and commands
    run one at a time, in the order they arrive."""

    def __init__(
        self,
        config: PlaygroundConfig | None = None,
        grid: int = 64,
        neuron_grid: int = 32,
        frame_interval: float = 0.1,
    ) -> None:
        self.grid, self.neuron_grid, self.frame_interval = grid, neuron_grid, frame_interval
        self._grid_x, self._neuron_x = lattice(grid), lattice(neuron_grid)
        self.lock = threading.RLock()  # the network and data
        self._commands = threading.RLock()  # one command at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False
        self.message = ""
        self.data_version = 0
        self.version = 0
        self.frame: dict[str, Any] = {}
        self.config = config or PlaygroundConfig()
        self._new_data()
        self._new_network()

    # -- state ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _new_data(self) -> None:
        c = self.config
        x, y = toy.make(c.dataset, n=c.n_points, noise=c.noise, seed=c.seed)
        perm = np.random.default_rng([c.seed, 1]).permutation(len(y))
        n_test = max(1, round(len(y) * c.test_fraction))
        te, tr = perm[:n_test], perm[n_test:]
        self.x_train, self.y_train = x[tr], y[tr]
        self.x_test, self.y_test = x[te], y[te]
        self.n_classes = max(2, int(y.max()) + 1)
        self.data_version += 1

    def _new_network(self) -> None:
        c = self.config
        rng = np.random.default_rng([c.seed, 2])
        self.model = nn.mlp(
            [2, *c.layers, self.n_classes],
            activation=c.activation,
            init=c.init,
            dropout=c.dropout,
            rng=rng,
        )
        self.loss = Regularized(nn.SoftmaxCrossEntropy(), self.model, penalties(c.l1, c.l2))
        self.optimizer = make_optimizer(c.optimizer, self.model.parameters(), lr=c.lr)
        self._batch_rng = np.random.default_rng([c.seed, 3])
        self._order: np.ndarray | None = None  # the current pass's order, and how far it got
        self._pos = 0
        self._pass_loss, self._pass_n = 0.0, 0  # the current pass's summed loss, points
        self._best_loss: float | None = None  # the smallest mean loss of a pass so far
        self._eval_loss = nn.SoftmaxCrossEntropy()
        self.epoch = 0
        self.history: list[list[float]] = []
        self.diverged = False
        self.message = ""
        self._publish()

    # -- commands ------------------------------------------------------------------------
    @_command
    def update(self, raw: Any) -> PlaygroundConfig:
        """Apply the JSON fields ``raw`` to the current settings (read and written as one
        command, so two updates at once never lose one another's fields)."""
        config = parse_config(raw, self.config)
        self.configure(config)
        return config

    @_command
    def configure(self, config: PlaygroundConfig) -> None:
        """New settings: new points if a data field changed; always a fresh network (paused)."""
        self.pause()
        with self.lock:
            old, self.config = self.config, config
            if old.data_changed(config):
                self._new_data()
            self._new_network()

    @_command
    def reset(self) -> None:
        """Pause and re-initialise the network (same seed: the same initial weights)."""
        self.pause()
        with self.lock:
            self._new_network()

    @_command
    def add_point(self, x: float, y: float, label: int, split: str = "train") -> None:
        """Add a point (x, y) of class ``label`` to the training (or test) points; a session
        holds at most ``MAX_POINTS`` points in all (ParamError "points" beyond)."""
        for name, v in (("x", x), ("y", y)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParamError(name, f"must be a finite number, got {short_repr(v)}")
            if not -EXTENT <= v <= EXTENT:  # exact for ints of any size, False for NaN
                raise ParamError(name, f"must lie in [-{EXTENT}, {EXTENT}], got {short_repr(v)}")
        k = self.n_classes
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < k:
            raise ParamError("label", f"must be a class index 0..{k - 1}, got {short_repr(label)}")
        if not isinstance(split, str) or split not in ("train", "test"):
            raise ParamError("split", f"must be train or test, got {short_repr(split)}")
        if len(self.y_train) + len(self.y_test) >= MAX_POINTS:
            raise ParamError(
                "points", f"this session already has {MAX_POINTS} points, the most it may hold"
            )
        with self.lock:
            p = np.array([[x, y]], np.float32)
            if split == "train":
                self.x_train = np.concatenate([self.x_train, p])
                self.y_train = np.append(self.y_train, np.int64(label))
            else:
                self.x_test = np.concatenate([self.x_test, p])
                self.y_test = np.append(self.y_test, np.int64(label))
            self.data_version += 1
            self._publish()

    @_command
    def step(self) -> None:
        """Train one epoch now (paused sessions only) and publish a frame."""
        if self.running:
            raise SessionError("training is running: pause it before stepping")
        with self.lock:
            self._check_trainable()
            self._epoch()
            self._publish(record=True)

    @_command
    def start(self) -> None:
        """Train epoch after epoch in a background thread until paused or closed."""
        with self.lock:
            if self.running:
                return
            self._check_trainable()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vedere-session", daemon=True)
            self._thread.start()

    @_command
    def pause(self) -> None:
        """Stop the training thread (returns once it has stopped)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        self._thread = None

    def close(self) -> None:
        """Stop training and drop the network and data (the session cannot be used again)."""
        with self._commands:
            if self.closed:
                return
            self.pause()
            with self.lock:
                self.closed = True
                self.model = self.loss = self.optimizer = None  # type: ignore[assignment]
                self.version += 1
                self.frame = {"closed": True, "version": self.version}

    # -- training ------------------------------------------------------------------------
    def _check_trainable(self) -> None:
        if self.diverged:
            raise SessionError("the loss diverged: lower the learning rate, then reset")

    def _run(self) -> None:
        last = started = time.monotonic()  # the last frame; the start of this epoch

        def mid_epoch() -> None:  # an epoch longer than a frame (many points, small
            nonlocal last  # batches) still shows its progress
            now = time.monotonic()
            if min(now - last, now - started) >= self.frame_interval and self._finite():
                self._publish()
                self.model.train()
                last = now

        while not self._stop.is_set():
            with self.lock:
                started = time.monotonic()
                self._epoch(mid_epoch)
                if self.diverged:
                    self._stop.set()  # its last frame says it no longer runs
                now = time.monotonic()
                if self.diverged or now - last >= self.frame_interval:
                    self._publish(record=True)
                    last = now
            if self.diverged:
                return
            time.sleep(0)  # let the server and other sessions in between epochs
        with self.lock:
            if not self.closed:
                self._publish(record=True)

    def _finite(self) -> bool:
        return all(np.isfinite(p.data).all() for p in self.model.parameters())

    def _epoch(self, after_batch: Callable[[], None] | None = None) -> None:
        """Go on with the current pass over the training points (shuffled, in mini-batches)
        to its end, or until the training thread is told to stop: a pass paused half-way
        goes on from there at the next start or step. ``after_batch`` runs after every
        update. Each update is the trainer's (:func:`vedere.nn.step.train_step`); divergence
        is the shared rule (:mod:`vedere.nn.divergence`): a NaN/inf loss at any update, or at
        the end of a pass its mean loss 10^4 × the best pass's or weights beyond 1e8."""
        n = len(self.y_train)
        if self._order is None:  # a new pass (points added during a pass join the next)
            self._order, self._pos = self._batch_rng.permutation(n), 0
            self._pass_loss, self._pass_n = 0.0, 0
        bs = min(self.config.batch_size, len(self._order))
        self.model.train()
        with np.errstate(all="ignore"):
            while self._pos < len(self._order):
                idx = self._order[self._pos : self._pos + bs]
                s = train_step(
                    self.model, self.loss, self.optimizer, self.x_train[idx], self.y_train[idx]
                )
                if not s.updated:
                    self._diverge(f"the loss became {s.loss}")
                    return
                self._pass_loss += s.loss * len(idx)
                self._pass_n += len(idx)
                self._pos += len(idx)
                if after_batch is not None:
                    after_batch()
                if self._stop.is_set() and self._thread is threading.current_thread():
                    break
        if self._pos >= len(self._order):
            self._order = None
            self.epoch += 1
            mean = self._pass_loss / max(1, self._pass_n)
            if loss_diverged(mean, self._best_loss):
                self._diverge(f"the loss grew from {self._best_loss:.3g} to {mean:.3g}")
                return
            self._best_loss = mean if self._best_loss is None else min(self._best_loss, mean)
        if weights_diverged(p.data for p in self.model.parameters()):
            self._diverge("the weights blew up")

    def _diverge(self, reason: str) -> None:
        self.diverged = True
        self.message = (
            f"the loss diverged at epoch {self.epoch + (self._order is not None)} "
            f"(learning rate {self.config.lr:g}): {reason}; lower the learning rate, then reset"
        )

    def _measure(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) of the network on (x, y): the engine's loss."""
        if self.diverged:
            return float("nan"), float("nan")
        with np.errstate(all="ignore"):
            out = self.model.forward(x).astype(np.float64)
        loss = self._eval_loss.forward(out, y)
        return loss, float((out.argmax(axis=1) == y).mean())

    def _neurons(self) -> list[list[str]]:
        """Each hidden layer's units over the small lattice, scaled to [-1, 1] → bytes."""
        layers: list[list[str]] = []
        h = self._neuron_x
        with np.errstate(all="ignore"):
            for layer in self.model.layers[:-1]:
                h = layer.forward(h)
                if isinstance(layer, (nn.Linear, nn.Dropout)):
                    continue
                scale = np.abs(h).max(axis=0)
                v = h / np.where(scale > 0, scale, 1.0)
                b = np.clip(np.rint((np.nan_to_num(v) + 1) * 127.5), 0, 255)
                layers.append([_b64(b[:, j]) for j in range(h.shape[1])])
        return layers

    def _publish(self, record: bool = False) -> None:
        """Compute a frame from the current network (lock held) and bump the version."""
        self.model.eval()
        train_loss, train_acc = self._measure(self.x_train, self.y_train)
        test_loss, test_acc = self._measure(self.x_test, self.y_test)
        if record:
            if len(self.history) >= MAX_HISTORY:  # thinned into a new list: streams resend it
                self.history = self.history[::2]
            self.history.append([self.epoch, train_loss, test_loss])
        frame: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_acc": train_acc,
            "test_acc": test_acc,
            "running": not self._stop.is_set() and self._thread is not None,
            "message": self.message,
            "diverged": self.diverged,
            "grid": self.grid,
            "neuron_grid": self.neuron_grid,
            "extent": EXTENT,
        }
        if not self.diverged:
            with np.errstate(all="ignore"):
                p = softmax(self.model.forward(self._grid_x).astype(np.float64))
            frame["regions"] = _b64(p.argmax(axis=1))
            frame["confidence"] = _b64(np.rint(p.max(axis=1) * 255))
            frame["neurons"] = self._neurons()
        self.version += 1
        frame["version"] = self.version
        self.frame = frame  # one assignment: readers see a whole frame and its version

    def points(self) -> dict[str, Any]:
        """The data: {"train": [[x, y, label], …], "test": […], "classes": K}."""
        with self.lock:
            return {
                "version": self.data_version,
                "classes": self.n_classes,
                "train": [
                    [float(a), float(b), int(c)]
                    for (a, b), c in zip(self.x_train, self.y_train, strict=True)
                ],
                "test": [
                    [float(a), float(b), int(c)]
                    for (a, b), c in zip(self.x_test, self.y_test, strict=True)
                ],
            }
