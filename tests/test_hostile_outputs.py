"""Outputs that must not go where the user did not ask (issue 27): atomic writes never replace
a device, FIFO or folder, write failures name the file and leave nothing half-written, temp
names fit NAME_MAX, outputs are never an input or each other, and printed names are escaped.

Device nodes are made with ``os.mknod`` in a temporary folder (char device 1,7 is what
``/dev/full`` is: every write fails with ENOSPC) — never the system's ``/dev`` files.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from tests.detect.test_video import face_frames, write_video
from vedere.cli.main import cli
from vedere.fileio import OutputError, atomic_write, atomic_write_bytes, check_outputs

REPO = Path(__file__).resolve().parents[1]
FULL = os.makedev(1, 7)  # the numbers of /dev/full


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def full_node(path: Path) -> Path:
    """A character device like /dev/full at ``path`` (skips where mknod is not allowed)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, FULL)
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD")
    return path


def is_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


@pytest.fixture
def disk_full(tmp_path, monkeypatch):
    """Make every temporary file atomic_write creates a /dev/full-like device: its writes
    fail with the kernel's own ENOSPC."""
    node = full_node(tmp_path / "full-node")

    def mkstemp(dir=None, prefix="", suffix=""):
        tmp = os.path.join(dir, f"{prefix}XXXXXXXX{suffix}")
        os.link(node, tmp)  # a second name of the device, removed like a temp file
        return os.open(tmp, os.O_WRONLY), tmp

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return node


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(data.astronaut()[::4, ::4]).save(p)
    return p


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", face_frames(6))


# --- atomic writes never replace what is not a regular file ---------------------------------


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "link-to-device"])
def test_atomic_write_refuses_non_regular_targets_before_writing(tmp_path, kind):
    target = tmp_path / "target.bin"
    if kind == "device":
        full_node(target)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        full_node(tmp_path / "node")
        target.symlink_to(tmp_path / "node")
    called = []
    with pytest.raises(OutputError, match=r"target\.bin: not a regular file"):
        atomic_write(target, lambda f: called.append(f.write(b"x")))
    assert called == []  # refused before the writer ran
    kept = os.lstat(target).st_mode
    assert {
        "device": stat.S_ISCHR,
        "fifo": stat.S_ISFIFO,
        "folder": stat.S_ISDIR,
        "link-to-device": stat.S_ISLNK,
    }[kind](kept)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_detect_refuses_a_device_as_boxes_or_out_before_any_work(tmp_path, clip, photo):
    node = full_node(tmp_path / "node.jsonl")
    r = run("detect", clip, "--boxes", node)
    assert r.exit_code == 1
    assert r.output.startswith(f"error: {node}: not a regular file (a device") and "frame" not in (
        r.output
    )
    png = full_node(tmp_path / "node.png")
    r = run("detect", photo, "--out", png)
    assert r.exit_code == 1 and f"{png}: not a regular file" in r.output
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    r = run("detect", clip, "--out", fifo)
    assert r.exit_code == 1 and f"{fifo}: not a regular file (a FIFO" in r.output
    assert is_device(node) and is_device(png) and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_an_out_folder_is_refused_before_the_video_is_scanned(tmp_path, clip):
    (tmp_path / "dir.mp4").mkdir()
    r = run("detect", clip, "--out", tmp_path / "dir.mp4")
    assert r.exit_code == 1
    assert r.output.strip() == (
        f"error: {tmp_path / 'dir.mp4'}: not a regular file (a directory; refusing to replace it)"
    )


# --- a failed write names the file and leaves nothing half-written ---------------------------


def test_enospc_names_the_file_and_keeps_the_old_one(tmp_path, disk_full):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(OutputError) as e:
        atomic_write_bytes(path, b"new" * 100_000)
    assert str(e.value) == f"{path}: no space left on device" and e.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full-node", "model.bin"]


def test_enospc_inside_an_encoder_still_names_the_file(tmp_path, clip, photo, disk_full):
    # PyAV turns the failed write into its own error; the message still names the output
    r = run("detect", clip, "--out", tmp_path / "annotated.mp4")
    assert r.exit_code == 1
    assert (
        r.stderr.splitlines()[-1] == f"error: {tmp_path / 'annotated.mp4'}: no space left on device"
    )
    r = run("detect", photo, "--out", tmp_path / "annotated.png")
    assert r.output.strip() == f"error: {tmp_path / 'annotated.png'}: no space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full-node"]


def test_a_training_run_on_a_full_disk_names_the_file(tmp_path, disk_full):
    out = tmp_path / "run"
    r = run(
        "train", "--model", "softmax", "--limit", "60", "--epochs", "1", "--quiet", "--out", out
    )
    assert r.exit_code == 1, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith(f"error: {out}/") and last.endswith(": no space left on device")
    assert "Errno" not in r.output


def test_a_batch_output_over_the_file_size_limit_names_the_file(tmp_path, photo):
    """RLIMIT_FSIZE makes the kernel refuse appends past 12,000 bytes (EFBIG): the first chunk
    of 32 lines fits, a later one does not."""
    for i in range(100):
        (tmp_path / f"{i:02d}.png").write_bytes(photo.read_bytes())
    out = tmp_path / "boxes.jsonl"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (12000, 12000))\n"
        "from vedere.cli.main import main\n"
        f"sys.argv = ['vedere', 'detect', {str(tmp_path)!r}, '--out', {str(out)!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)  # fmt: skip
    assert r.returncode == 1
    assert f"error: {out}: file too large\n" in r.stderr and "Traceback" not in r.stderr
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) > 2  # whole lines only: nothing half-written


# --- temporary names fit NAME_MAX -----------------------------------------------------------


@pytest.mark.parametrize("name", ["b" * 249 + ".jsonl", "é" * 125 + ".json"])
def test_a_legal_long_name_is_written(tmp_path, name):
    assert len(os.fsencode(name)) == 255
    path = atomic_write_bytes(tmp_path / name, b"data")
    assert path.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_too_long_name_is_one_line_before_the_video_is_scanned(tmp_path, clip):
    boxes = tmp_path / ("c" * 300 + ".jsonl")
    r = run("detect", clip, "--boxes", boxes)
    assert r.exit_code == 1 and r.output.strip() == f"error: {boxes}: file name too long"
    legal = tmp_path / ("c" * 244 + ".jsonl")  # 250 characters
    r = run("detect", clip, "--boxes", legal)
    assert r.exit_code == 0, r.output
    assert len(legal.read_text().splitlines()) == 6


# --- outputs are never an input, nor each other --------------------------------------------


def test_a_video_is_never_replaced_by_its_own_output(tmp_path, clip):
    own = tmp_path / "self.mp4"
    own.write_bytes(clip.read_bytes())
    before = own.read_bytes()
    (tmp_path / "alias.mp4").symlink_to(own)
    os.link(own, tmp_path / "hard.jsonl")
    for args in (
        ("--out", own),
        ("--boxes", own),
        ("--out", tmp_path / "alias.mp4"),
        ("--boxes", tmp_path / "hard.jsonl"),
    ):
        r = run("detect", own, *args)
        assert r.exit_code == 1 and "is the input" in r.output and "frame" not in r.output, args
    r = run("detect", own, "--out", tmp_path / "same.mp4", "--boxes", tmp_path / "same.mp4")
    assert r.exit_code == 1 and "is also the output" in r.output
    assert own.read_bytes() == before and not (tmp_path / "same.mp4").exists()


def test_images_are_never_replaced_by_annotated_ones(tmp_path, photo):
    img = tmp_path / "a.png"
    img.write_bytes(photo.read_bytes())
    r = run("detect", img, "--out", img)
    assert r.exit_code == 1 and "is the input" in r.output
    (tmp_path / "b.png").write_bytes(photo.read_bytes())
    r = run("detect", tmp_path, "--out", tmp_path)  # tmp/a.png -> tmp/a.png
    assert r.exit_code == 1 and "is the input" in r.output
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "p.png").write_bytes(photo.read_bytes())
    (tmp_path / "y" / "p.png").write_bytes(photo.read_bytes())
    r = run("detect", tmp_path / "x" / "p.png", tmp_path / "y" / "p.png", "--out", tmp_path / "o")
    assert r.exit_code == 1 and "is also the output" in r.output
    assert not (tmp_path / "o").exists()
    assert img.read_bytes() == photo.read_bytes()


def test_predict_and_train_detector_outputs_are_not_their_inputs(tmp_path, photo, mlp_model):
    model = mlp_model
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"image": "x"}\n')
    r = run("predict", model, photo, lines, "--out", lines)
    assert r.exit_code == 1 and "is the input" in r.output
    assert lines.read_text() == '{"image": "x"}\n'
    bg = tmp_path / "bg.png"
    bg.write_bytes(photo.read_bytes())
    r = run("train-detector", "--faces", tmp_path, "--backgrounds", bg, "--out", bg)
    assert r.exit_code == 1 and "is the input" in r.output and "faces" not in r.output
    r = run("train-detector", "--faces", tmp_path, "--backgrounds", bg, "--out",
            tmp_path / "c.json", "--figure", tmp_path / "c.json")  # fmt: skip
    assert r.exit_code == 1 and "is also the output" in r.output
    assert bg.read_bytes() == photo.read_bytes()


def test_check_outputs_compares_by_inode_and_by_resolved_path(tmp_path):
    a = tmp_path / "a"
    a.write_text("x")
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="is the input"):
        check_outputs([tmp_path / "sub" / ".." / "a"], [a])
    with pytest.raises(OutputError, match="is also the output"):  # neither exists yet
        check_outputs([tmp_path / "n.png", tmp_path / "sub" / ".." / "n.png"])
    check_outputs([tmp_path / "n.png", tmp_path / "m.png"], [a])


# --- every printed name is escaped -----------------------------------------------------------


def test_a_newline_in_a_name_cannot_forge_an_error_line(tmp_path, photo):
    forged = "esc/missing\nerror: forged.png"
    r = run("detect", forged)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "\\nerror: forged.png" in r.output
    name = tmp_path / "ok\nerror: forged.png"
    name.write_bytes(photo.read_bytes())
    r = run("detect", name)
    assert r.exit_code == 0 and not any(
        line.startswith("error") for line in r.output.splitlines()
    ), r.output


def test_osc_sequences_in_a_video_name_never_reach_the_terminal(tmp_path, clip):
    name = tmp_path / "\x1b]0;TITLE\x1b\\.mp4"
    name.write_bytes(clip.read_bytes())
    r = run("detect", name, "--out", tmp_path / "o\x1b[2J.mp4")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\\x1b]0;TITLE" in r.output
    # the progress bar's label too: tqdm writes to the real stderr, so run a process
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.run([sys.executable, "-m", "vedere", "detect", str(name)],
                       capture_output=True, env=env, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert b"\x1b]0;TITLE" not in p.stderr + p.stdout and b"\\x1b]0;TITLE" in p.stderr


def test_usage_errors_are_one_line_naming_the_option(tmp_path):
    r = run("train", "--epochs", "0")
    assert r.exit_code == 2
    # --epochs takes fractions (airbench94's 9.9), so click shows 0 as 0.0
    want = r"error: --epochs: 0(\.0)? is not in the range 1<=x<=10000\."
    assert re.fullmatch(want, r.output.strip())
    r = run("detect", tmp_path, "--scale-factor", "1")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    r = run("detect")
    assert r.exit_code == 2 and r.output.strip() == "error: Missing argument 'IMAGES...'."
    r = run()  # no command at all: the help, as before
    assert r.output.startswith("Usage: ") and "Commands:" in r.output


@pytest.mark.parametrize("suffix", [".png", ".mp4"])
def test_os_errors_name_the_file_without_errno_numbers(tmp_path, suffix):
    long = tmp_path / ("d" * 300 + suffix)
    r = run("detect", long)
    assert r.exit_code == 1 and "Errno" not in r.output
    assert r.output.startswith(f"error: {long}: ") and "too long" in r.output.lower()
    r = run("detect", tmp_path / "missing.png", "--out", tmp_path / ("o" * 300 + ".png"))
    assert r.exit_code == 1 and r.output.strip().endswith(".png: file name too long")


def test_output_errors_survive_pickling():
    import pickle

    e = pickle.loads(pickle.dumps(OutputError("x.png", "no space left on device", 28)))
    assert str(e) == "x.png: no space left on device" and e.errno == 28


def test_export_never_writes_over_its_source_or_a_device(tmp_path):
    cascade = tmp_path / "c.json"
    assert run("export", "frontalface", cascade).exit_code == 0
    before = cascade.read_bytes()
    r = run("export", cascade, tmp_path / "." / "c.json")
    assert r.exit_code == 1 and "is the input" in r.output
    node = full_node(tmp_path / "node.xml")
    r = run("export", cascade, node)
    assert r.exit_code == 1 and f"{node}: not a regular file (a device" in r.output
    assert cascade.read_bytes() == before and is_device(node)


def test_a_data_folders_name_reaches_the_progress_bar_escaped(tmp_path, capsys):
    from tests.helpers import write_folder
    from vedere.data.folder import load_folder

    root = tmp_path / "data\x1b]0;TITLE\x1b\\"
    write_folder(root, {"train": {"cat": 2, "dog": 2}})
    load_folder(root, "train", progress=True)
    err = capsys.readouterr().err
    assert "decoding data\\x1b]0;TITLE" in err and "\x1b]0;TITLE" not in err
