"""Command-line numbers and messages that were not ``error: <file or argument>: <problem>``
(issue 27): the MLP's parameter cap, --seed and --epochs caps, an absurd video frame rate,
a class mismatch listing NumPy reprs."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from tests.detect.test_video import face_frames, write_video
from tests.helpers import write_folder
from vedere.classify import MLPClassifier
from vedere.classify.estimators import MAX_MLP_PARAMETERS, mlp_parameters
from vedere.cli.main import cli

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line(r) -> str:
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def test_a_huge_mlp_is_refused_before_any_data_or_weights(tmp_path):
    """Under a 1 GiB address-space limit: 65536,65536 would need 16 GiB of weights."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from vedere.cli.main import main\n"
        "sys.argv = ['vedere', 'train', '--model', 'mlp', '--hidden', '65536,65536', "
        f"'--limit', '20', '--epochs', '1', '--quiet', '--out', {str(tmp_path / 'r')!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == (
        "error: --hidden: 65536,65536 makes an MLP of 4,295,294,978 parameters; "
        "at most 67,108,864 (2^26) are allowed"
    )
    r = run("train", "--hidden", "100000,100000")
    assert r.exit_code == 2 and "1 to 65,536" in one_line(r)


def test_the_cap_counts_the_real_inputs_when_fitting():
    # one hidden layer of 4,096 on 20,000 inputs: 81,932,290 parameters, over the cap
    assert mlp_parameters([20_000, 4096, 2]) == 20_001 * 4096 + 4097 * 2 > MAX_MLP_PARAMETERS
    x = np.zeros((4, 20_000), np.float32)
    with pytest.raises(ValueError, match=r"81,932,290 parameters on 20,000 inputs"):
        MLPClassifier(hidden_sizes=(4096,), epochs=1).fit(x, [0, 1, 0, 1])


def test_a_config_file_cannot_ask_for_a_huge_mlp_or_seed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    cfg = out / "config.json"
    for raw, words in (
        ({"params": {"hidden_sizes": [65536, 65536]}}, "67,108,864"),
        ({"seed": 2**40}, "seed: 1099511627776: expected a whole number >= 0 and <= 4,294,967,295"),
        (
            {"params": {"epochs": 10**9}},
            "params.epochs: 1000000000: expected a number >= 1 and <= 10000",
        ),
    ):
        cfg.write_text(json.dumps({"out": "r", "model": "mlp", **raw}))
        line = one_line(run("train", "--out", out, "--resume", "--quiet"))
        assert line.startswith(f"error: {cfg}: not a valid run configuration (") and words in line


@pytest.mark.parametrize(
    "args, words",
    [
        (("train", "--seed", "-1"), "error: --seed: -1 is not in the range 0<=x<=4294967295."),
        (("train", "--seed", str(2**70)), "error: --seed: 1180591620717411303424 is not in"),
        (("train", "--epochs", str(10**12)), "error: --epochs: 1000000000000.0 is not in"),
        (("train-detector", "--faces", ".", "--backgrounds", ".", "--out", "c.json",
          "--seed", "-1"), "error: --seed: -1 is not in the range"),
    ],
)  # fmt: skip
def test_seed_and_epochs_are_capped_in_one_line(args, words):
    r = run(*args)
    assert r.exit_code == 2 and one_line(r).startswith(words)


def test_an_avi_declaring_one_frame_in_136_years_is_written_at_the_default_rate(tmp_path):
    src = write_video(tmp_path / "ok.avi", face_frames(4))
    data = bytearray(src.read_bytes())
    i = data.find(b"strh")
    assert data[i + 8 : i + 12] == b"vids"
    scale = i + 8 + 20  # fccType, fccHandler, dwFlags, wPriority, wLanguage, dwInitialFrames
    data[scale : scale + 8] = struct.pack("<II", 4294967295, 1)  # dwScale, dwRate: 1/(2^32-1) fps
    bad = tmp_path / "slow.avi"
    bad.write_bytes(bytes(data))
    r = run("detect", bad, "--out", tmp_path / "o.mp4")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].average_rate == 25 and c.streams.video[0].frames == 4


def test_a_class_mismatch_names_the_model_and_lists_plain_names(tmp_path, mlp_model):
    write_folder(tmp_path / "faces", {"test": {"face": 2, "nonface": 2}}, size=32)
    r = run("evaluate", mlp_model, "--data-dir", tmp_path / "faces", "--quiet")
    assert r.exit_code == 1
    line = one_line(r)
    assert line.startswith(
        f"error: {mlp_model}: the data ({tmp_path / 'faces'}) has classes the model"
    )
    assert "does not know: face, nonface (it knows airplane, automobile, bird" in line
    assert "np.str_" not in line


def test_train_escapes_the_run_directory_it_prints(tmp_path):
    out = tmp_path / "r\nerror: forged\x1b]0;T\x1b\\"
    r = run(
        "train", "--model", "softmax", "--limit", "60", "--epochs", "1", "--quiet", "--out", out
    )
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output
    assert not any(line.startswith("error") for line in r.output.splitlines())
    assert "r\\nerror: forged\\x1b]0;T" in r.output
