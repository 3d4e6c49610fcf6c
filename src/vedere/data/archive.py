"""Read ``.tar.gz`` archives safely: members are read in memory, never extracted to paths.

Nothing is written to disk, so path traversal cannot happen; still, member names with
absolute paths or ``..`` components, and links, are refused (a tampered archive), and the
total uncompressed size and member count are bounded against decompression bombs.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath

from .errors import DataError

MAX_TOTAL_BYTES = 8 * 2**30  # uncompressed bytes read from one archive
MAX_MEMBER_BYTES = 256 * 2**20  # one file
MAX_MEMBERS = 2_000_000


def is_tar(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a tar archive (by suffix): .tar, .tar.gz, .tgz."""
    name = str(path).lower()
    return name.endswith((".tar.gz", ".tgz", ".tar"))


def _check_name(archive: str | os.PathLike[str], member: tarfile.TarInfo) -> PurePosixPath:
    p = PurePosixPath(member.name)
    if p.is_absolute() or ".." in p.parts or member.name.startswith(("/", "\\")):
        raise DataError(archive, f"refused: member {member.name!r} points outside the archive")
    return p


def _check_complete(archive: str | os.PathLike[str], tar: tarfile.TarFile) -> None:
    """tarfile ends a stream silently at a truncated header; a complete archive has its
    end-of-archive marker (two zero blocks, tarfile has read the first) and, if compressed, a
    whole compressed stream. Reading what is left checks both (a cut gzip raises EOFError)."""
    rest = bytearray()
    while block := tar.fileobj.read(1 << 16):  # type: ignore[union-attr]
        if len(rest) < tarfile.BLOCKSIZE:
            rest += block
    if len(rest) < tarfile.BLOCKSIZE or any(rest[: tarfile.BLOCKSIZE]):
        raise DataError(archive, "truncated archive (no end-of-archive marker)")


def iter_files(
    archive: str | os.PathLike[str],
    max_total: int = MAX_TOTAL_BYTES,
    max_member: int = MAX_MEMBER_BYTES,
    dirs: bool = False,
) -> Iterator[tuple[PurePosixPath, bytes | None]]:
    """Yield (path inside the archive, bytes) for every regular file, in archive order
    (and (path, None) for every directory when ``dirs``).

    Raises :class:`DataError` (naming the archive) for a truncated or corrupt archive, a
    member that escapes the archive, a symbolic or hard link, or sizes over the bounds.
    """
    total = 0
    count = 0
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise DataError(archive, f"refused: more than {MAX_MEMBERS} members")
                path = _check_name(archive, member)
                if member.issym() or member.islnk():
                    raise DataError(
                        archive, f"refused: member {member.name!r} is a link ({member.linkname!r})"
                    )
                if member.isdir() and dirs:
                    yield path, None
                if not member.isfile():
                    continue
                if member.size > max_member:
                    raise DataError(
                        archive,
                        f"refused: member {member.name!r} is {member.size} bytes "
                        f"(limit {max_member})",
                    )
                total += member.size
                if total > max_total:
                    raise DataError(
                        archive,
                        f"refused: more than {max_total} bytes once uncompressed "
                        "(decompression bomb?)",
                    )
                f = tar.extractfile(member)
                if f is None:
                    continue
                data = f.read()
                if len(data) != member.size:
                    raise DataError(archive, f"truncated archive (member {member.name!r} is short)")
                yield path, data
            _check_complete(archive, tar)
    except FileNotFoundError:
        raise DataError(archive, "no such file") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(
            archive, f"truncated or corrupt archive ({e.__class__.__name__}: {e})"
        ) from None
