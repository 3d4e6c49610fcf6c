"""``vedere experiment convolution --quick``: its figures, its numbers, and the feature map it
draws against PyTorch's convolution of the same input with the same learned filters."""

import json

import numpy as np
import pytest
import torch

from vedere.classify.cnn_arch import plan
from vedere.experiments import run_experiment

pytestmark = pytest.mark.slow  # every test reads one quick run of the experiment


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("convolution")
    return out, run_experiment("convolution", out, quick=True, seed=0)


def test_report_and_figures(quick):
    out, _ = quick
    report = (out / "report.md").read_text()
    assert report.startswith("# ") and "**Reading.**" in report
    for name in ("filters", "feature_maps", "curves"):
        assert (out / f"{name}.png").stat().st_size > 1000
        assert f"({name}.png)" in report


def test_parameters_and_map_shapes_follow_the_architectures(quick):
    _, r = quick
    spec = r["cnn"]["arch"]
    assert r["cnn"]["params"] == plan(spec, (32, 32, 3), 10).n_params
    assert r["mlp"]["params"] == 3072 * 64 + 64 + 64 * 10 + 10  # 3072-64-10
    assert r["filters_shape"] == [8, 3, 3, 3]
    # each ReLU, then each pool halving the map: 32 → 16 → 8, channels 8, 16, 32 (first 8 kept)
    assert r["maps"] == [
        ["ReLU", [8, 32, 32]],
        ["MaxPool2d", [8, 16, 16]],
        ["ReLU", [8, 16, 16]],
        ["MaxPool2d", [8, 8, 8]],
        ["ReLU", [8, 8, 8]],
    ]
    for k in ("cnn", "mlp"):
        assert 0 <= r[k]["val_acc"] <= 1 and r[k]["seconds"] > 0


def test_first_feature_map_is_the_convolution_of_the_input_with_the_drawn_filters(quick):
    out, _ = quick
    stored = json.loads((out / "runs" / "cnn.json").read_text())["result"]
    x = torch.tensor(stored["input_x"], dtype=torch.float64)[None]
    w = torch.tensor(stored["filters"], dtype=torch.float64)
    expect = torch.nn.functional.conv2d(x, w, padding=1)[0].numpy()
    np.testing.assert_allclose(np.asarray(stored["first_map"]), expect, atol=1e-4)
