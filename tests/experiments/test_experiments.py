"""Every experiment in --quick mode: it writes its report and figures, and its numbers have the
shape the course predicts."""

import json
from itertools import pairwise

import pytest
from click.testing import CliRunner

from vedere.cli.main import cli
from vedere.experiments import EXPERIMENTS, run_experiment

_RESULTS: dict = {}


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments")


def result(name, outdir):
    if name not in _RESULTS:
        _RESULTS[name] = run_experiment(name, outdir / name, quick=True, seed=0)
        report = (outdir / name / "report.md").read_text()
        assert report.startswith("# ") and "**Reading.**" in report
        pngs = list((outdir / name).glob("*.png"))
        for line in report.splitlines():
            if line.startswith("!["):
                assert (outdir / name / line.split("(")[-1].rstrip(")")).exists(), line
        assert name == "gradient-check" or pngs
    return _RESULTS[name]


def test_learning_rate_highest_rate_diverges_or_ends_worst(outdir):
    r = result("learning-rate", outdir)["runs"]
    highest = r["3"]
    losses = [v["final_train_loss"] for k, v in r.items() if k != "3" and not v["diverged"]]
    assert highest["diverged"] or highest["final_train_loss"] > max(losses)
    assert r["0.01"]["final_train_loss"] < r["0.0001"]["final_train_loss"]  # too low is slow


def test_optimizers_momentum_runs_the_valley_and_everyone_leaves_the_saddle(outdir):
    s = result("optimizers", outdir)["surfaces"]
    assert s["Rosenbrock"]["momentum"] < s["Rosenbrock"]["sgd"]
    assert s["Rosenbrock"]["nesterov"] < s["Rosenbrock"]["sgd"]
    for name in ("momentum", "adam", "rmsprop", "adagrad"):
        assert s["saddle x²−y²"][name] < s["saddle x²−y²"]["sgd"]


def test_batch_size_small_batches_lower_the_loss_most_per_epoch(outdir):
    r = result("batch-size", outdir)
    assert r["1"]["final_train_loss"] < r["128"]["final_train_loss"] < r["0"]["final_train_loss"]


def test_init_zero_stays_symmetric_and_small_vanishes(outdir):
    r = result("init", outdir)
    for act in ("tanh", "relu"):
        assert r["symmetric"][f"{act}/zeros"] is True
        for label in ("0.01·N(0,1)", "1/sqrt(n)", "He"):
            assert r["symmetric"][f"{act}/{label}"] is False
        small = r["std"][f"{act}/0.01·N(0,1)"]
        assert small[-1] < 1e-3 * small[0]  # vanishing activations
    he = r["std"]["relu/He"]
    assert 0.3 < he[-1] / he[0] < 3  # He keeps ReLU's spread


def test_activations_derivatives_match_the_course_and_sigmoid_is_slowest(outdir):
    r = result("activations", outdir)
    assert max(r["derivative_errors"].values()) < 1e-6
    runs = r["runs"]
    assert runs["sigmoid"]["final_train_loss"] > runs["tanh"]["final_train_loss"]
    assert runs["sigmoid"]["final_train_loss"] > runs["relu"]["final_train_loss"]


def test_overfitting_shapes(outdir):
    r = result("overfitting", outdir)
    p = r["polynomial"]
    assert p["15"]["train_mse"] < p["3"]["train_mse"] < p["1"]["train_mse"]
    assert p["15"]["test_mse"] > p["3"]["test_mse"]
    regs = r["regularisers"]
    assert regs["L1 1e-4"]["sparsity"] > regs["none"]["sparsity"]
    assert regs["label smoothing 0.2"]["confidence"] < regs["none"]["confidence"]
    assert regs["early stopping (patience 3)"]["epochs"] <= regs["none"]["epochs"]
    over = r["regimes"]["over-fit (1024x2 units, no reg.)"]
    assert over["train_acc"] - over["val_acc"] > 0.3  # memorised the small training set


def test_nonlinear_mlp_beats_the_linear_models(outdir):
    r = result("nonlinear", outdir)
    for d in ("xor", "circles", "spirals"):
        assert r[f"{d}/MLP 2x32 tanh"]["test_acc"] >= 0.9
        assert r[f"{d}/MLP 2x32 tanh"]["test_acc"] > r[f"{d}/perceptron"]["test_acc"] + 0.2
    assert r["xor/perceptron"]["train_acc"] <= 0.75


def test_difficulties_accuracy_falls_with_occlusion(outdir):
    r = result("difficulties", outdir)
    acc = r["occlusion"]["accuracy"]
    assert all(b <= a + 0.02 for a, b in pairwise(acc)), acc
    assert acc[-1] < acc[0] - 0.1
    for name in ("brightness", "contrast", "rotation", "clutter"):
        assert r[name]["accuracy"][-1] < r[name]["accuracy"][0], name


def test_classifiers_side_by_side(outdir):
    r = result("classifiers", outdir)
    assert set(r) == {"perceptron", "logistic", "softmax", "svm", "mlp"}
    assert r["logistic"]["roc_auc"] > 0.6
    assert r["mlp"]["val_acc"] > r["perceptron"]["val_acc"]
    assert r["mlp"]["params"] > 10 * r["softmax"]["params"]


def test_gradient_check_passes(outdir):
    r = result("gradient-check", outdir)
    assert r["passed"] and len(r["rows"]) >= 10


def test_viola_jones_cascade_rejects_most_windows_early(outdir):
    r = result("viola-jones", outdir)
    s = r["survivors"]
    assert all(b <= a for a, b in pairwise(s))
    assert s[1] < 0.5 * s[0]
    assert r["features_per_window"] < 30


def test_every_experiment_is_covered():
    tested = {
        "learning-rate",
        "optimizers",
        "batch-size",
        "init",
        "activations",
        "overfitting",
        "nonlinear",
        "difficulties",
        "classifiers",
        "gradient-check",
        "viola-jones",
    }
    assert tested == set(EXPERIMENTS)


def test_interrupted_experiment_resumes_and_reruns_are_identical(tmp_path):
    first = run_experiment("learning-rate", tmp_path / "a", quick=True, seed=0)
    runs = sorted((tmp_path / "a" / "runs").glob("*.json"))
    assert len(runs) == 6  # five rates and the range test
    # an interruption after the first runs: the finished ones are kept, one is missing
    runs[0].unlink()
    stamp = {p: p.stat().st_mtime_ns for p in runs[1:]}
    again = run_experiment("learning-rate", tmp_path / "a", quick=True, seed=0)
    assert again == first
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())  # not redone
    assert json.loads(runs[0].read_text())["result"]  # redone
    fresh = run_experiment("learning-rate", tmp_path / "b", quick=True, seed=0)
    assert fresh == first  # same seed, same numbers


def test_cli_runs_an_experiment_and_rejects_unknown_ones(tmp_path):
    r = CliRunner().invoke(cli, ["experiment", "gradient-check", "--quick", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report.md").exists()
    r = CliRunner().invoke(cli, ["experiment", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2
