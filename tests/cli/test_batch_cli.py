"""``vedere detect DIR --out boxes.jsonl`` and ``vedere sweep`` through the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from vedere.cli.main import cli

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_detect_over_a_folder_writes_one_json_line_per_image(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(data.astronaut()).save(photos / "astronaut.png")
    Image.fromarray(data.astronaut()[::2, ::2]).save(photos / "sub" / "small.jpg")
    Image.fromarray(data.coffee()).save(photos / "sub" / "coffee.png")
    (photos / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "boxes.jsonl"
    r = run("detect", photos, "--out", out)
    assert r.exit_code == 0, r.output
    assert "4 images written" in r.output and "1 unreadable" in r.output
    got = {Path(d["image"]).name: d for d in map(json.loads, out.read_text().splitlines())}
    assert set(got) == {"astronaut.png", "small.jpg", "coffee.png", "broken.png"}
    assert "error" in got["broken.png"] and "broken.png" in got["broken.png"]["error"]
    for name in ("astronaut.png", "coffee.png"):  # as `vedere detect IMAGE --json` says
        single = run("detect", photos / ("sub/" if name == "coffee.png" else "") / name, "--json")
        assert json.loads(single.output)[0]["boxes"] == got[name]["boxes"]
    assert got["astronaut.png"]["boxes"]
    again = run("detect", photos, "--out", out)
    assert "0 images written" in again.output and "4 already there" in again.output
    assert len(out.read_text().splitlines()) == 4


def test_workers_need_a_jsonl_output(tmp_path):
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "a.png")
    r = run("detect", tmp_path / "a.png", "--workers", "2")
    assert r.exit_code == 2 and "--out FILE.jsonl" in r.output


def test_sweep_command_prints_a_summary_and_writes_the_report(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(
        'model = "mlp"\nsampler = "grid"\n[train]\nepochs = 2\nhidden = "16"\nlimit = 300\n'
        '[search.lr]\ntype = "choice"\nvalues = [0.01, 0.02]\n'
    )
    r = run("sweep", spec, "--out", tmp_path / "sw")
    assert r.exit_code == 0, r.output
    assert "trials          2 (2 complete, 0 pruned, 0 failed)" in r.output
    assert (tmp_path / "sw" / "report.md").is_file()
    ev = run("evaluate", tmp_path / "sw" / "best", "--split", "val")
    assert ev.exit_code == 0, ev.output
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "mlp"\n[search.lr]\ntype = "gaussian"\n')
    r = run("sweep", bad, "--out", tmp_path / "sw2")
    assert r.exit_code == 1
    assert r.output.strip().startswith("error:") and "search.lr.type must be one of" in r.output


@pytest.mark.slow  # a Dask cluster
def test_predict_over_a_glob_writes_json_lines_equal_to_single_predictions(tmp_path, mlp_model):
    model = mlp_model
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png"
        )
    (tmp_path / "9.png").write_text("not an image")
    out = tmp_path / "preds.jsonl"
    r = run("predict", model, str(tmp_path / "*.png"), "--out", out, "--top-k", "2")
    assert r.exit_code == 0, r.output
    assert "6 images written" in r.output and "1 unreadable" in r.output
    got = {Path(d["image"]).name: d for d in map(json.loads, out.read_text().splitlines())}
    assert "error" in got["9.png"]
    single = json.loads(run("predict", model, tmp_path / "3.png", "--json", "--top-k", "2").output)
    assert [t["class"] for t in got["3.png"]["top"]] == [t["class"] for t in single[0]["top"]]
    r = run("predict", model, tmp_path / "0.png", "--workers", "2")
    assert r.exit_code == 2 and "--out FILE.jsonl" in r.output


def test_workers_and_scheduler_together_are_a_usage_error(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('model = "mlp"\n[search.lr]\ntype = "choice"\nvalues = [0.01]\n')
    for args in (
        ("sweep", spec, "--out", tmp_path / "sw"),
        ("detect", tmp_path, "--out", tmp_path / "b.jsonl"),
        ("experiment", "batch-size", "--quick", "--out", tmp_path / "e"),
    ):
        r = run(*args, "--workers", "2", "--scheduler", "tcp://127.0.0.1:9")
        assert r.exit_code == 2 and "not both" in r.output, (args, r.output)
