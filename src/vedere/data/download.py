"""Download a file with a progress bar, atomically, and check its MD5 before keeping it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..escape import printable
from .errors import DataError


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file's bytes."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike[str],
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``dest``. The bytes go to a hidden temporary file beside ``dest``
    that is renamed only once complete and (if ``md5`` is given) verified, so an interrupted
    or corrupt download never leaves a file that looks complete."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    with tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        desc=printable(f"downloading {dest.name}"),
                        disable=not progress,
                    ) as bar:
                        for block in iter(lambda: resp.read(1 << 16), b""):
                            out.write(block)
                            bar.update(len(block))
                    if total is not None and out.tell() != total:
                        raise DataError(url, f"download incomplete ({out.tell()} of {total} bytes)")
            except OSError as e:  # URLError, connection reset, timeout
                raise DataError(url, f"download failed ({e})") from None
            out.flush()
            os.fsync(out.fileno())
        if md5 is not None:
            got = md5sum(tmp)
            if got != md5:
                raise DataError(url, f"MD5 mismatch after download (expected {md5}, got {got})")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest
