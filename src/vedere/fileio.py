"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

Every output vedere writes goes through :func:`atomic_write` (or, for the appended JSON-lines
files of batch jobs, through :func:`check_output` and :func:`output_error`):

- an existing target that is not a regular file (a device such as ``/dev/full``, a FIFO, a
  socket, a directory, or a link to one of these) is refused, naming it, before anything is
  written — :func:`check_output` lets a command refuse it before any work;
- the temporary file beside the target has a name that fits the file system's ``NAME_MAX``
  whatever the target's length (the target's name is shortened inside it);
- a write that fails (no space left, quota, I/O error, file too large) is an
  :class:`OutputError` ``FILE: no space left on device`` naming the target, and leaves the
  old file (or none) and no temporary file behind;
- :func:`check_outputs` refuses, before any work, outputs that are the same file as an
  input (``os.path.samefile``, after resolving links) or as each other.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

#: the longest file name (bytes) assumed when the file system does not say
NAME_MAX = 255
#: what mkstemp adds around the shortened target name: "." + name + "." + 8 random + ".tmp"
_TMP_EXTRA = 14


class OutputError(OSError):
    """An output that cannot be written: ``str()`` is ``FILE: problem`` (one line)."""

    def __init__(self, path: str | os.PathLike[str], problem: str, code: int | None = None):
        super().__init__(code or 0, problem)
        self.path, self.problem = str(path), problem
        self.filename = self.path

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem, self.errno or None))


def describe_os_error(e: OSError) -> str:
    """An OSError's problem in words, lower case, without ``[Errno N]``: "no space left on
    device", "file name too long"."""
    text = e.strerror or (os.strerror(e.errno) if e.errno else "") or str(e) or type(e).__name__
    return text[:1].lower() + text[1:]


def output_error(path: str | os.PathLike[str], e: OSError) -> OutputError:
    """The :class:`OutputError` naming ``path`` for a failed write ``e``."""
    if isinstance(e, OutputError):
        return e
    return OutputError(path, describe_os_error(e), e.errno)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "another kind of file"


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def check_output(path: str | os.PathLike[str]) -> Path:
    """Refuse (:class:`OutputError`) an output ``path`` that exists and is not a regular file
    (links are followed: a link to a device is a device), whose name is longer than the file
    system allows, or whose folder exists but is not a folder. Returns ``path`` as a Path."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(path, "a part of its folder is not a folder", errno.ENOTDIR) from None
    except OSError as e:
        raise output_error(path, e) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = _kind(st.st_mode)
        raise OutputError(
            path, f"not a regular file ({what}; refusing to replace it)", errno.EEXIST
        )
    folder = _existing_parent(path)
    if len(os.fsencode(path.name)) > _name_max(folder):
        raise OutputError(path, "file name too long", errno.ENAMETOOLONG)
    return path


def _existing_parent(path: Path) -> Path:
    p = path.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` are one file: the same inode when both exist (so hard links and
    symbolic links count), else the same path once links are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(
    outputs: Iterable[str | os.PathLike[str] | None],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Before any work: each output passes :func:`check_output`, none is the same file as an
    input (which it would replace), and no two are the same file (one would be lost).
    ``None`` entries are skipped. Raises :class:`OutputError` naming the output."""
    outs = [Path(o) for o in outputs if o is not None]
    ins = [Path(i) for i in inputs if i is not None]
    for o in outs:
        check_output(o)
    for o in outs:
        for i in ins:
            if os.path.exists(o) and os.path.exists(i) and same_file(o, i):
                raise OutputError(o, f"is the input {i} (refusing to overwrite an input)")
    for k, o in enumerate(outs):
        for other in outs[:k]:
            if same_file(o, other):
                raise OutputError(o, f"is also the output {other} (one would be lost)")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _tmp_prefix(path: Path) -> str:
    """``.NAME.`` with NAME shortened so that mkstemp's ``.NAME.XXXXXXXX.tmp`` fits NAME_MAX."""
    room = _name_max(path.parent) - _TMP_EXTRA
    name = path.name
    while name and len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}."


class _Guarded:
    """The temporary file as the writer sees it: a failing write or flush becomes an
    :class:`OutputError` naming the target, and the first such error is kept (an encoder
    that turns it into its own exception cannot hide it)."""

    def __init__(self, f: IO[bytes], target: Path) -> None:
        self._f, self._target = f, target
        self.failure: OutputError | None = None

    def _fail(self, e: OSError) -> OutputError:
        err = output_error(self._target, e)
        if self.failure is None:
            self.failure = err
        return err

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            raise self._fail(e) from None

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as e:
            raise self._fail(e) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    An existing ``path`` that is not a regular file is refused first (:func:`check_output`).
    If ``write`` raises (or the process dies) the temporary file is removed (or left under a
    hidden ``.name.*.tmp`` name) and ``path`` is untouched; a failed write or sync is an
    :class:`OutputError` naming ``path``.
    """
    path = check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path), suffix=".tmp")
    except OSError as e:
        raise output_error(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        f = os.fdopen(fd, "wb")
        guarded = _Guarded(f, path)
        try:
            write(guarded)  # type: ignore[arg-type]
        except BaseException:
            with contextlib.suppress(OSError):  # its buffer cannot be written either
                f.close()
            if guarded.failure is not None:  # whatever the writer made of it
                raise guarded.failure from None
            raise
        try:
            f.flush()
            os.fsync(f.fileno())
            f.close()
        except OSError as e:
            with contextlib.suppress(OSError):
                f.close()
            raise output_error(path, e) from None
        check_output(path)  # it may have been replaced by a device while we wrote
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise output_error(path, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
