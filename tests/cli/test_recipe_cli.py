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
from vedere.classify.run_config import from_settings, load_config
from vedere.classify.settings import SETTINGS, SettingError
from vedere.cli.train import build_config, train

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # trains end to end
def test_recipe_airbench94_trains_a_few_updates_and_records_every_setting(tmp_path):
    out = tmp_path / "run"
    r = vedere("train", "--model", "cnn", "--recipe", "airbench94", "--limit", 120,
               "--batch-size", 32, "--epochs", 1.5, "--quiet", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == "airbench94"
    assert load_config(out).params == cfg["params"]  # read back (as --resume does), checked
    params = cfg["params"]
    every = set(CNNClassifier().get_params()) - {"seed", "verbose", "validation_split"}
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
    assert r.returncode != 0 and "--recipe do not apply to --model mlp" in r.stderr, r.stderr

    def params(**settings):
        return from_settings({"model": "cnn", **settings}, "x").params

    assert params(tta_mode="multicrop") == {"tta": True, "tta_shift": 1}
    assert params(tta_mode="flip") == {"tta": True, "tta_shift": 0}
    assert params(tta_mode="none")["tta"] is False
    assert params(tta_mode="flip", tta_shift=2)["tta_shift"] == 2
    assert params(epochs=9.9)["epochs"] == 9.9
    assert params(epochs=3)["epochs"] == 3 and isinstance(params(epochs=3)["epochs"], int)
    with pytest.raises(SettingError, match="--tta-mode multicrop means --tta-shift 1"):
        params(tta_mode="multicrop", tta_shift=2)
    with pytest.raises(SettingError, match="--tta-mode none means --tta False"):
        params(tta_mode="none", tta=True)
    with pytest.raises(SettingError, match="--pad-mode 'wrap': expected one of zeros, reflect"):
        params(pad_mode="wrap")
    r = vedere("train", "--model", "cnn", "--epochs", "0.5")
    assert r.returncode == 2 and "--epochs" in r.stderr


def test_recipe_flags_on_the_command_line():
    ctx = train.make_context("train", ["--model", "cnn", "--recipe", "airbench94",
                                       "--tta-mode", "flip", "--epochs", "12.5",
                                       "--no-lookahead", "--flip", "random"])  # fmt: skip
    cfg = build_config({k: v for k, v in ctx.params.items() if k in SETTINGS}, "x")
    assert cfg.recipe == "airbench94"
    p = cfg.params
    assert p["epochs"] == 12.5 and p["lookahead"] is False and p["flip"] == "random"
    assert p["tta_shift"] == 0 and p["pad_mode"] == "reflect" and p["bn_bias_lr_scale"] == 64
