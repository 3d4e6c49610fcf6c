"""Atomic writes: complete files with the permissions of any new file, nothing left on failure."""

from __future__ import annotations

import os

import pytest

from vedere.fileio import atomic_write, atomic_write_bytes


def test_written_file_has_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_bytes(tmp_path / "a" / "model.bin", b"abc")
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"abc")  # what open() gives under the same umask
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_bytes(tmp_path / "x.json", b"old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
