"""What the training loop shows and how it hears Ctrl-C: the epoch's progress bar and its
summary line on stderr, and a SIGINT handler that defers the first Ctrl-C to the end of the
current update."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tqdm import tqdm

from .train_state import TrainState


@contextlib.contextmanager
def epoch_bar(
    st: TrainState, n_steps: int, desc: str, enabled: bool
) -> Iterator[Callable[[TrainState], None]]:
    """A tqdm bar over an epoch's ``n_steps`` updates starting at ``st.step`` (drawn only
    when ``enabled``); yields ``show(st)``, to call after each update (the running loss and
    accuracy, at most twice a second)."""
    bar = tqdm(
        total=n_steps,
        initial=st.step,
        disable=not enabled,
        unit="step",
        desc=desc,
        mininterval=0.5,
        leave=False,
    )
    last_post = time.perf_counter()

    def show(st: TrainState) -> None:
        nonlocal last_post
        bar.update()
        now = time.perf_counter()
        if enabled and now - last_post > 0.5:
            bar.set_postfix(
                loss=f"{st.loss_sum / st.count:.4f}", acc=f"{st.correct / st.count:.3f}"
            )
            last_post = now

    try:
        yield show
    finally:
        bar.close()


def epoch_line(row: dict[str, Any], epochs: int, has_val: bool) -> None:
    """The epoch's summary line on stderr (through tqdm, so that no bar is torn)."""
    val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}" if has_val else ""
    tqdm.write(
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} "
        f"acc {row['train_acc']:.3f}{val}  lr {row['lr']:.3g}  {row['seconds']:.1f}s",
        file=sys.stderr,
    )


class SigintFlag:
    """Set by the first Ctrl-C inside :func:`deferred_sigint`."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[SigintFlag]:
    """Inside: the first Ctrl-C only sets the yielded flag (the loop stops at the end of
    the update); a second raises KeyboardInterrupt at once. Outside the main thread (where
    signals cannot be handled) nothing changes."""
    flag = SigintFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
