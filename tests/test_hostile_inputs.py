"""Inputs that once hung or grew without bound (issue 27): globs over link loops, a huge
JSON-lines output with no newline, and scheduler addresses that answer badly or not at all
(loopback-only listeners, each in a thread of the test)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from vedere import batch
from vedere.batch import MAX_LINE, _repair, expand_inputs
from vedere.cli.main import cli
from vedere.data.images import is_image_name
from vedere.executor import make_executor, scheduler_timeout
from vedere.fileio import OutputError

REPO = Path(__file__).resolve().parents[1]


def run_limited(code: str, timeout: float = 60, memory: int = 1 << 30):
    """``code`` in a fresh interpreter with at most ``memory`` bytes of address space; a hang
    is a failure (TimeoutExpired), not a stuck suite."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    argv = [sys.executable, "-c", prelude + textwrap.dedent(code)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def images(folder: Path, names: list[str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / n)
        out.append(str(folder / n))
    return out


# --- globs and folders: links to folders are not entered, each file once ---------------------


def test_globs_over_link_loops_end_and_give_each_file_once(tmp_path):
    loop = tmp_path / "loopdir"
    files = images(loop, ["a.png", "b.png"]) + images(loop / "sub", ["c.png"])
    (loop / "l1").symlink_to(".")
    (loop / "l2").symlink_to(".")
    (loop / "sub" / "up").symlink_to("..")
    (loop / "alias.png").symlink_to(loop / "a.png")  # a second name of a.png
    r = run_limited(
        f"""
        from vedere.batch import expand_inputs
        for p in expand_inputs([{str(loop / "**" / "*.png")!r}, {str(loop)!r}]):
            print(p)
        """,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = r.stdout.splitlines()
    assert sorted(got) == sorted(files)  # alias.png is a.png: given once, by its first name
    assert len(got) == len(set(got)) == 3


def test_globs_keep_the_glob_modules_matches_without_links(tmp_path):
    import glob

    root = tmp_path / "photos"
    images(root, ["x1.png", "x2.jpg", ".hidden.png"])
    images(root / "a" / "b", ["y.png", "z.tif"])
    images(root / ".cache", ["w.png"])
    for pattern in ("**/*.png", "*/*/*.png", "**/x?.*", "a/**", "**", "*.[pj]*g", ".*/*.png"):
        want = sorted(
            p for p in glob.glob(str(root / pattern), recursive=True) if os.path.isfile(p)
        )
        got = sorted(p for p in expand_inputs([str(root / pattern)]))
        want = [p for p in want if is_image_name(p)]
        assert got == want, pattern


# --- JSON-lines repair: from the end, in bounded chunks, never more than the last line -----


def test_a_huge_output_without_newlines_is_refused_not_read_or_cut(tmp_path):
    out = tmp_path / "preds.jsonl"
    with open(out, "wb") as f:
        f.truncate(3 << 30)  # 3 GB, sparse: no newline anywhere
    r = run_limited(
        f"""
        from vedere.batch import run_batch, detect_chunk
        from vedere.executor import InProcessExecutor
        from vedere.fileio import OutputError
        try:
            run_batch([], detect_chunk, ("frontalface", {{}}), {str(out)!r},
                      InProcessExecutor(), progress=False)
        except OutputError as e:
            print("OutputError:", e)
        """,
        timeout=60,
        memory=1 << 30,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"OutputError: {out}: its last" in r.stdout and "no line break" in r.stdout
    assert out.stat().st_size == 3 << 30


def test_repair_cuts_only_the_last_partial_line(tmp_path):
    out = tmp_path / "b.jsonl"
    whole = b'{"image": "a.png"}\n{"image": "b.png"}\n'
    out.write_bytes(whole + b'{"image": "c.pn')
    assert _repair(out) == {"a.png", "b.png"}
    assert out.read_bytes() == whole
    # a line over MAX_LINE in the middle is skipped, not read whole
    out.write_bytes(whole + b"x" * (MAX_LINE + 10) + b'\n{"image": "d.png"}\n')
    assert _repair(out) == {"a.png", "b.png", "d.png"}
    # a tail of more than MAX_LINE bytes without a newline: refused, file untouched
    data = whole + b"y" * (MAX_LINE + 1)
    out.write_bytes(data)
    with pytest.raises(OutputError, match="no line break"):
        _repair(out)
    assert out.read_bytes() == data


# --- scheduler addresses that answer badly ---------------------------------------------------


class Listener:
    """A loopback TCP listener that greets every connection with ``greeting`` (None: says
    nothing and keeps the connection open)."""

    def __init__(self, greeting: bytes | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.conns = greeting, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.greeting is not None:
                try:
                    c.sendall(self.greeting)
                except OSError:
                    pass

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


NOISE = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()


@pytest.mark.parametrize(
    "greeting",
    [None, struct.pack("<Q", 2**63 - 1), NOISE],
    ids=["silent", "huge-length", "random-bytes"],
)
def test_a_bad_scheduler_is_one_error_naming_it_in_bounded_time(monkeypatch, greeting):
    monkeypatch.setenv("VEDERE_SCHEDULER_TIMEOUT", "1")
    srv = Listener(greeting)
    address = f"tcp://127.0.0.1:{srv.port}"
    try:
        t0 = time.monotonic()
        with pytest.raises(ValueError, match=f"^--scheduler {address}: ") as e:
            make_executor(None, address)
        assert time.monotonic() - t0 < 20
        assert "\n" not in str(e.value)
    finally:
        srv.close()


def test_a_closed_port_fails_at_once_and_the_cli_says_one_line(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    images(tmp_path, ["a.png"])
    t0 = time.monotonic()
    args = ["detect", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--scheduler"]
    r = CliRunner().invoke(cli, [*args, f"tcp://127.0.0.1:{port}"])
    assert time.monotonic() - t0 < 10
    assert r.exit_code == 1
    assert r.output.strip().startswith(f"error: --scheduler tcp://127.0.0.1:{port}: cannot connect")
    assert len(r.output.strip().splitlines()) == 1


def test_the_scheduler_timeout_is_settable_and_checked(monkeypatch):
    monkeypatch.delenv("VEDERE_SCHEDULER_TIMEOUT", raising=False)
    assert scheduler_timeout() == 5.0
    monkeypatch.setenv("VEDERE_SCHEDULER_TIMEOUT", "0.5")
    assert scheduler_timeout() == 0.5
    for bad in ("0", "-1", "nan", "inf", "1e9", "soon"):
        monkeypatch.setenv("VEDERE_SCHEDULER_TIMEOUT", bad)
        with pytest.raises(ValueError, match="VEDERE_SCHEDULER_TIMEOUT"):
            scheduler_timeout()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"\n")), chunk=st.integers(1, 50)
)
def test_repair_keeps_exactly_the_whole_lines(tmp_path, monkeypatch, data, chunk):
    """Whatever the bytes and the chunk size: the file becomes its whole lines, or (a last
    partial line of more than MAX_LINE bytes) is refused and left as it was."""
    monkeypatch.setattr(batch, "MAX_LINE", 64)
    monkeypatch.setattr(batch, "REPAIR_CHUNK", chunk)
    out = tmp_path / "p.jsonl"
    out.write_bytes(data)
    cut = data.rfind(b"\n") + 1  # the whole lines end here
    if len(data) - cut <= 64:
        batch._repair(out)
        assert out.read_bytes() == data[:cut]
    else:
        with pytest.raises(OutputError, match="no line break"):
            batch._repair(out)
        assert out.read_bytes() == data


@given(st.text(st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"]),
               min_size=1, max_size=255))  # fmt: skip
def test_temporary_names_fit_name_max_for_any_target_name(name):
    from vedere.fileio import _TMP_EXTRA, NAME_MAX, _tmp_prefix

    assume(name not in (".", ".."))  # not file names: Path("/tmp") / "." is /tmp itself
    prefix = _tmp_prefix(Path("/tmp") / name)
    assert len(os.fsencode(prefix)) + _TMP_EXTRA - 2 <= NAME_MAX  # + 8 random + ".tmp"
    assert prefix.startswith(".") and prefix.endswith(".") and name.startswith(prefix[1:-1])
