"""Run directories: the one place that creates, locks, resumes and finishes them.

A run directory holds ``config.json`` (the run's settings), ``model.safetensors`` (the
trained classifier), ``history.json``/``history.csv``, ``metrics.json``, figures, and,
while training, ``checkpoint.safetensors`` (the full training state, for resuming).

- **create**: a new run refuses a directory that already holds a run unless ``overwrite``;
  overwriting removes only the files a run writes (never anything else in the directory);
- **lock**: while training, ``.lock`` in the directory is held with ``fcntl.flock``; a second
  training of the same directory is refused at once. The operating system releases the
  lock when the process ends, also when it crashes or is killed;
- **resume in place**: a resumed run trains in the directory it is given, whatever
  ``config.json`` says its ``out`` was (a copied run stays a copy), and its config is read
  with :mod:`vedere.safejson` and validated field by field;
- **finish**: the checkpoint (about three times the model's size) is removed unless kept.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import safejson
from ..errors import VedereError

CONFIG = "config.json"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
LOCK = ".lock"
HISTORY = ("history.json", "history.csv")
EVALUATION = ("metrics.json", "confusion.png", "templates.png")
CURVES = "curves.png"
#: every file a run writes (what ``overwrite`` removes)
OUTPUTS = (CONFIG, MODEL, CHECKPOINT, *HISTORY, *EVALUATION, CURVES)
#: a config.json is a few hundred bytes; refuse anything far larger before reading it
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_DEPTH = 4
NOT_A_RUN = "no such file: not a run directory (nothing to resume)"


class RunDirError(VedereError):
    """A run directory that cannot be used as asked: ``RunDirError(path, problem)``;
    ``str(e)`` is "<path>: <problem>"."""


class RunDir:
    """A run directory at ``path``; use :meth:`create` or :meth:`resume` as a context
    manager: the directory is locked inside it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def config_path(self) -> Path:
        """The run's ``config.json``."""
        return self.path / CONFIG

    @property
    def model_path(self) -> Path:
        """The run's ``model.safetensors``."""
        return self.path / MODEL

    @property
    def checkpoint_path(self) -> Path:
        """The run's ``checkpoint.safetensors``."""
        return self.path / CHECKPOINT

    def holds_run(self) -> bool:
        """True when the directory holds the files of a run (config, model, checkpoint or
        history)."""
        return any((self.path / n).exists() for n in (CONFIG, MODEL, CHECKPOINT, HISTORY[0]))

    # -- the lock --------------------------------------------------------------------------
    def _lock(self) -> None:
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise RunDirError(self.path, f"cannot create its lock file ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(
                    self.path,
                    "another training is using this run directory (it is locked); wait for "
                    "it to finish or choose another --out",
                ) from None
            raise RunDirError(self.path, f"cannot lock ({e.strerror})") from None
        with contextlib.suppress(OSError):  # who holds it, for a person looking
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def locked(self) -> bool:
        """True while this object holds the run's ``.lock``."""
        return self._lock_fd is not None

    # -- the life of a run -------------------------------------------------------------------
    @contextlib.contextmanager
    def create(self, overwrite: bool = False) -> Iterator[RunDir]:
        """Make (or reuse) the directory for a new run and lock it for the ``with`` block.

        A directory that already holds a run is refused (RunDirError) unless ``overwrite``,
        which removes that run's files first (and nothing else)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunDirError(self.path, "exists and is not a directory") from None
        except OSError as e:
            raise RunDirError(
                self.path, f"cannot create the run directory ({e.strerror})"
            ) from None
        self._lock()
        try:
            if self.holds_run():
                if not overwrite:
                    raise RunDirError(
                        self.path,
                        "already holds a training run; use --overwrite to replace it, "
                        "--resume to continue it, or another --out",
                    )
                self.remove(*OUTPUTS)
            yield self
        finally:
            self._unlock()

    @contextlib.contextmanager
    def resume(self) -> Iterator[RunDir]:
        """Lock an existing run for the ``with`` block; its checkpoint must be there."""
        if not self.config_path.is_file():
            raise RunDirError(
                self.config_path, "no such file: not a run directory (nothing to resume)"
            )
        self._lock()
        try:
            if not self.checkpoint_path.is_file():
                raise RunDirError(
                    self.checkpoint_path,
                    "no checkpoint to resume from (a finished run's checkpoint is removed "
                    "unless it was trained with --keep-checkpoint)",
                )
            yield self
        finally:
            self._unlock()

    def remove(self, *names: str) -> None:
        """Remove these files of the run (missing ones are fine)."""
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()

    def finish(self, keep_checkpoint: bool = False) -> None:
        """The run is over: drop its checkpoint unless ``keep_checkpoint``."""
        if not keep_checkpoint:
            self.remove(CHECKPOINT)

    # -- config.json -----------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """config.json as a dict, read with the checks of :mod:`vedere.safejson` (size,
        depth, finite numbers, regular file); RunDirError naming the file otherwise."""
        path = self.config_path
        try:
            raw = safejson.read(path, max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_CONFIG_DEPTH)
        except FileNotFoundError:
            raise RunDirError(
                path, "no such file: not a run directory (nothing to resume)"
            ) from None
        except safejson.JSONError as e:
            raise RunDirError(path, f"not a valid run configuration ({e})") from None
        except OSError as e:
            raise RunDirError(path, f"cannot read ({e.strerror})") from None
        if not isinstance(raw, dict):
            raise RunDirError(path, "not a valid run configuration (not a JSON object)")
        return raw
