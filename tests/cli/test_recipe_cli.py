"""`vedere train --model cnn --recipe airbench94` end to end on the embedded sample (a few
updates), its config.json, its PFLOP line, and the --tta modes."""

import json
import re
import subprocess
import sys

import pytest

from vedere.classify import cnn_arch
from vedere.classify.cnn import AIRBENCH94, CNNClassifier
from vedere.classify.estimators import load_classifier
from vedere.cli.train import config_from_argv

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_recipe_airbench94_trains_a_few_updates_and_records_every_setting(tmp_path):
    out = tmp_path / "run"
    r = vedere("train", "--model", "cnn", "--recipe", "airbench94", "--limit", 120,
               "--batch-size", 32, "--epochs", 1.5, "--quiet", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == "airbench94"
    params = cfg["params"]
    every = set(CNNClassifier().get_params()) - {"seed", "verbose"}
    assert set(params) == every  # every resolved setting, not only the flags given
    for k, v in AIRBENCH94.items():  # the recipe's, but for the flags given on top
        want = {"batch_size": 32, "epochs": 1.5}.get(k, v)
        assert params[k] == pytest.approx(want) if isinstance(v, float) else params[k] == want
    # 108 training images: 3 updates of 32 an epoch (the partial batch dropped), ⌈4.5⌉ = 5
    # updates in all: 5 × 32 images at 3 × the forward FLOP of airbench94 on 32×32 images
    per_image = 3 * cnn_arch.plan("airbench94", (32, 32, 3), 10).flops
    shown = float(re.search(r"training PFLOP\s+([\d.]+)", r.stdout).group(1))
    assert shown == pytest.approx(per_image * 5 * 32 / 1e15, abs=1e-4)
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["epochs"]) == 2
    est = load_classifier(out / "model.safetensors")
    assert est.tta and est.tta_shift == 1 and est.arch == "airbench94"
    assert "val accuracy" in r.stdout


def test_recipe_only_for_cnn_and_tta_modes_parse():
    r = vedere("train", "--model", "mlp", "--recipe", "airbench94")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and "--recipe do not apply to --model mlp" in r.stderr, r.stderr
    assert len(lines) <= 3
    base = ["--model", "cnn", "--out", "x"]
    assert config_from_argv([*base, "--tta", "multicrop"]).params["tta_shift"] == 1
    assert config_from_argv([*base, "--tta"]).params == {"tta": True, "tta_shift": 0}
    assert config_from_argv([*base, "--no-tta"]).params["tta"] is False
    assert config_from_argv([*base, "--tta", "flip", "--tta-shift", "2"]).params["tta_shift"] == 2
    assert config_from_argv([*base, "--epochs", "9.9"]).params["epochs"] == 9.9
    assert config_from_argv([*base, "--epochs", "3"]).params["epochs"] == 3
    with pytest.raises(ValueError, match="--no-tta contradicts --tta multicrop"):
        config_from_argv([*base, "--no-tta", "--tta", "multicrop"])
