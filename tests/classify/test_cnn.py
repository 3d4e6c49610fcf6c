"""CNNClassifier: architecture specs, the NCHW pipeline against PyTorch, test-time flips,
model files (tampered ones refused), and the command line end to end on the sample."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from vedere.classify import cnn_arch
from vedere.classify.cnn import CNNClassifier
from vedere.classify.estimators import load_classifier
from vedere.data.dataset import load_split
from vedere.data.transforms import random_cutout
from vedere.nn.io import ModelFileError

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


def one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# -- the spec grammar ------------------------------------------------------------------------
def test_plan_counts_parameters_and_flops_of_a_small_spec_by_hand():
    p = cnn_arch.plan("c8-p-c16-p-g", (32, 32, 3), 10)
    # conv 3→8 (3·8·9 weights, BN γ β 2·8), conv 8→16 (8·16·9 + 2·16), linear 16→10 (+10)
    assert p.n_params == (3 * 8 * 9 + 16) + (8 * 16 * 9 + 32) + (16 * 10 + 10)
    # 2·C_in·K²·C_out·H·W per conv (32×32, then 16×16 after the pool), 2·16·10 for the linear
    assert p.flops == 2 * 3 * 9 * 8 * 32 * 32 + 2 * 8 * 9 * 16 * 16 * 16 + 2 * 16 * 10
    assert p.shapes == [(3, 32, 32), (8, 32, 32), (8, 16, 16), (16, 16, 16), (16, 8, 8), (16, 1, 1)]
    assert cnn_arch.plan("tiny", (32, 32, 3), 10).n_params == p.n_params  # the preset


def test_plan_of_strided_blocks_and_flatten_head():
    p = cnn_arch.plan("C4k5s2-b6-a", (15, 17, 1), 3)  # case-insensitive
    # 5×5 stride 2, padding 2: ⌊(15+4-5)/2⌋+1 = 8, ⌊(17+4-5)/2⌋+1 = 9; block: pool → 4×4;
    # avg-pool → 2×2; no global pool: Flatten → 6·2·2 = 24 features
    assert p.shapes[1:] == [(4, 8, 9), (6, 4, 4), (6, 2, 2)]
    conv = 1 * 4 * 25 + 8 + (4 * 6 * 9 + 12) + (6 * 6 * 9 + 12)
    assert p.n_params == conv + 24 * 3 + 3


@pytest.mark.parametrize("name", list(cnn_arch.PRESETS))
def test_every_preset_plans_on_cifar(name):
    assert cnn_arch.plan(name, (32, 32, 3), 10).n_params < cnn_arch.MAX_PARAMS


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty"),
        ("c32-x5", "token 2 'x5'"),
        ("c0", "width"),
        ("c2000", "width"),
        ("c32k4", "odd"),
        ("c32k9", "kernel size"),
        ("c32s9", "stride"),
        ("c8-g-c8", "must be last"),
        ("c8-p-p-p-p-p-p", "shrinks below 1×1"),
        ("c1024-c1024-c1024-p-c1024-c1024-c1024", "parameters"),
        ("-".join(["c8"] * 40), "more than 32 tokens"),
        ("c99999999999999999999", "width"),
    ],
)
def test_bad_specs_name_the_argument_and_the_problem(spec, words):
    with pytest.raises(ValueError) as e:
        cnn_arch.plan(spec, (32, 32, 3), 10)
    assert str(e.value).startswith("--arch ") and words in str(e.value)


def test_cutout_zeroes_one_clipped_square_per_image():
    rng = np.random.default_rng(3)
    batch = np.full((50, 9, 11, 3), 200, np.uint8)
    out = random_cutout(batch, np.random.default_rng(3), size=4)
    cy, cx = rng.integers(0, 9, 50), rng.integers(0, 11, 50)  # the same draws, replayed
    for i in range(50):
        expect = np.full((9, 11, 3), 200, np.uint8)
        for y in range(cy[i] - 2, cy[i] + 2):
            for x in range(cx[i] - 2, cx[i] + 2):
                if 0 <= y < 9 and 0 <= x < 11:
                    expect[y, x] = 0
        np.testing.assert_array_equal(out[i], expect)
    assert (batch == 200).all()  # a new array
    assert random_cutout(batch, rng, 0) is batch


def test_cli_bad_arch_is_one_line_naming_the_argument(tmp_path):
    line = one_line_error(
        vedere("train", "--model", "cnn", "--arch", "c32-q7-g", "--quiet", "--out", tmp_path / "r")
    )
    assert "--arch 'c32-q7-g'" in line and "'q7'" in line
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_cnn_refuses_feature_vectors():
    x = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match=r"needs images \(N, H, W, C\)"):
        CNNClassifier(arch="tiny").fit(x, np.arange(20) % 2)


def test_get_params_and_sklearn_clone():
    from sklearn.base import clone

    est = CNNClassifier(arch="c4-g", cutout=3, tta=False)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert twin.set_params(arch="tiny").arch == "tiny"
