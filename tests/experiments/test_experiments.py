"""Every experiment in --quick mode: it writes its report and figures, and its numbers have the
shape the course predicts."""

import json
import os
from itertools import pairwise

import numpy as np
import pytest
from click.testing import CliRunner

from tests.viz.capture import captured_figures
from vedere.cli.main import cli
from vedere.experiments import EXPERIMENTS, run_experiment
from vedere.experiments.base import Context
from vedere.experiments.difficulties import FACTORS, clutter
from vedere.nn.divergence import GROWTH, curve_diverged

_RESULTS: dict = {}
_FIGURES: dict = {}  # experiment -> {file name: the Figure as saved}


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments")


def result(name, outdir):
    if name not in _RESULTS:
        with captured_figures() as figs:
            _RESULTS[name] = run_experiment(name, outdir / name, quick=True, seed=0)
        _FIGURES[name] = figs
        report = (outdir / name / "report.md").read_text()
        assert report.startswith("# ") and "**Reading.**" in report
        pngs = list((outdir / name).glob("*.png"))
        for line in report.splitlines():
            if line.startswith("!["):
                assert (outdir / name / line.split("(")[-1].rstrip(")")).exists(), line
        assert pngs
    return _RESULTS[name]


@pytest.mark.slow  # trains end to end
def test_learning_rate_highest_rate_diverges_or_ends_worst(outdir):
    r = result("learning-rate", outdir)["runs"]
    highest = r["3"]
    losses = [v["final_train_loss"] for k, v in r.items() if k != "3" and not v["diverged"]]
    assert highest["diverged"] or highest["final_train_loss"] > max(losses)
    assert r["0.01"]["final_train_loss"] < r["0.0001"]["final_train_loss"]  # too low is slow


@pytest.mark.slow  # trains end to end
def test_optimizers_momentum_runs_the_valley_and_everyone_leaves_the_saddle(outdir):
    s = result("optimizers", outdir)["surfaces"]
    assert s["rosenbrock"]["momentum"] < s["rosenbrock"]["sgd"]
    assert s["rosenbrock"]["nesterov"] < s["rosenbrock"]["sgd"]
    for name in ("momentum", "adam", "rmsprop", "adagrad"):
        assert s["saddle"][name] < s["saddle"]["sgd"]


def test_batch_size_small_batches_lower_the_loss_most_per_epoch(outdir):
    r = result("batch-size", outdir)
    assert r["1"]["final_train_loss"] < r["128"]["final_train_loss"] < r["0"]["final_train_loss"]


@pytest.mark.slow  # trains end to end
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


@pytest.mark.slow  # trains end to end
def test_activations_derivatives_match_the_course_and_sigmoid_is_slowest(outdir):
    r = result("activations", outdir)
    assert max(r["derivative_errors"].values()) < 1e-6
    runs = r["runs"]
    # a margin, not an ordering: at seeds 0, 1, 2 sigmoid ends near ln 10 = 2.30 (it has not
    # started to learn), tanh at 0.78–0.84 and ReLU at 0.25–0.41
    loss = {k: v["final_train_loss"] for k, v in runs.items()}
    assert loss["sigmoid"] > 2 * loss["tanh"] and loss["sigmoid"] > 2 * loss["relu"]


@pytest.mark.slow  # trains end to end
def test_overfitting_shapes(outdir):
    r = result("overfitting", outdir)
    p = r["polynomial"]
    assert p["15"]["train_mse"] < p["3"]["train_mse"] < p["1"]["train_mse"]
    assert p["15"]["test_mse"] > p["3"]["test_mse"]
    regs = r["regularisers"]
    assert regs["l1"]["sparsity"] > regs["none"]["sparsity"]
    assert regs["label_smoothing"]["confidence"] < regs["none"]["confidence"]
    assert regs["early_stopping"]["epochs"] <= regs["none"]["epochs"]
    over = r["regimes"]["overfit"]
    assert over["train_acc"] - over["val_acc"] > 0.3  # memorised the small training set


@pytest.mark.slow  # trains end to end
def test_nonlinear_mlp_beats_the_linear_models(outdir):
    r = result("nonlinear", outdir)
    for d in ("xor", "circles", "spirals"):
        assert r[f"{d}/MLP 2x32 tanh"]["test_acc"] >= 0.9
        assert r[f"{d}/MLP 2x32 tanh"]["test_acc"] > r[f"{d}/perceptron"]["test_acc"] + 0.2
    assert r["xor/perceptron"]["train_acc"] <= 0.75


@pytest.mark.slow  # trains end to end
def test_difficulties_accuracy_falls_with_occlusion(outdir):
    r = result("difficulties", outdir)
    acc = r["occlusion"]["accuracy"]
    assert all(b <= a + 0.02 for a, b in pairwise(acc)), acc
    assert acc[-1] < acc[0] - 0.1
    for name in ("brightness", "contrast", "rotation", "clutter"):
        assert r[name]["accuracy"][-1] < r[name]["accuracy"][0], name


@pytest.mark.slow  # trains end to end
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
    """Every registered experiment is run by a test of this folder (read from the tests'
    own calls, not from a list kept by hand): a new experiment without a test fails here."""
    import re
    from pathlib import Path

    calls = re.compile(r"""(?:result|run_experiment)\(\s*["']([\w-]+)["']""")
    here = Path(__file__).parent
    tested = {name for f in here.glob("test_*.py") for name in calls.findall(f.read_text())}
    assert set(EXPERIMENTS) <= tested, f"no test runs {sorted(set(EXPERIMENTS) - tested)}"


@pytest.mark.slow  # interrupts and reruns an experiment
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


def test_cli_runs_an_experiment_and_rejects_unknown_ones(tmp_path, outdir):
    result("gradient-check", outdir)
    out = outdir / "gradient-check"
    first = (out / "report.md").read_text()
    (out / "report.md").unlink()
    r = CliRunner().invoke(cli, ["experiment", "gradient-check", "--quick", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "report.md").read_text() == first  # written again from the stored runs
    r = CliRunner().invoke(cli, ["experiment", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2


def whole_epoch_ticks(ax) -> bool:
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def stored_run(outdir, name, key):
    return json.loads((outdir / name / "runs" / f"{key}.json").read_text())["result"]


@pytest.mark.slow  # trains end to end
def test_learning_rate_divergence_is_the_shared_rule(outdir):
    """A run whose loss ends 10^4 × above its best diverged (quick mode: lr 0.1 ends near
    2.4e6 after 36 in epoch 1; the table said "False")."""
    runs = result("learning-rate", outdir)["runs"]
    report = (outdir / "learning-rate" / "report.md").read_text()
    for rate, r in runs.items():
        losses = stored_run(outdir, "learning-rate", f"lr-{rate}")["train_loss"]
        blew_up = losses and max(losses) > GROWTH * min(losses)
        if blew_up:
            assert r["diverged"] and curve_diverged(losses), rate
        row = next(ln for ln in report.splitlines() if ln.startswith(f"| {rate} |"))
        assert row.rstrip(" |").endswith(str(r["diverged"]))
    assert runs["0.1"]["final_train_loss"] > 1e4 and runs["0.1"]["diverged"]
    assert not any(runs[k]["diverged"] for k in ("0.0001", "0.001", "0.01"))


@pytest.mark.slow  # trains end to end
def test_learning_rate_figure_clips_the_diverged_curves(outdir):
    runs = result("learning-rate", outdir)["runs"]
    ax = _FIGURES["learning-rate"]["learning_rates.png"].axes[0]
    stable = [k for k, r in runs.items() if not r["diverged"]]
    top_stable = max(
        max(stored_run(outdir, "learning-rate", f"lr-{k}")["train_loss"]) for k in stable
    )
    hi = ax.get_ylim()[1]
    assert top_stable <= hi < 1.5 * top_stable  # was 1e28, squashing the stable curves
    labels = ax.get_legend_handles_labels()[1]
    for k, r in runs.items():
        assert (f"lr {k} (diverged)" if r["diverged"] else f"lr {k}") in labels
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == sum(r["diverged"] for r in runs.values())
    assert all(ln.get_ydata()[0] == pytest.approx(hi) for ln in crosses)
    assert whole_epoch_ticks(ax)


@pytest.mark.slow  # trains end to end
@pytest.mark.parametrize(
    "name", ["learning-rate", "batch-size", "optimizers", "activations", "overfitting", "init"]
)
def test_every_epoch_axis_ticks_whole_epochs(outdir, name):
    result(name, outdir)
    axes = [ax for fig in _FIGURES[name].values() for ax in fig.axes if ax.get_xlabel() == "epoch"]
    assert axes, name
    for ax in axes:
        assert whole_epoch_ticks(ax), (name, list(ax.get_xticks()))


def test_clutter_blends_each_image_with_another_one():
    x = np.stack([np.zeros((2, 2, 3)), np.full((2, 2, 3), 200.0)]).astype(np.uint8)
    out = clutter(x, 0.25, np.random.default_rng(0))
    assert (out[0] == 50).all() and (out[1] == 150).all()  # 0.75·x_i + 0.25·x_other
    with pytest.raises(ValueError, match="two or more"):
        clutter(x[:1], 0.25, np.random.default_rng(0))


@pytest.mark.slow  # trains end to end
def test_difficulties_example_figure_shows_clutter(outdir):
    """The clutter row of examples.png: at blend weight α the image is (1 − α)·x + α·y for
    one other image y (it showed x itself at every level)."""
    result("difficulties", outdir)
    fig = _FIGURES["difficulties"]["examples.png"]
    shown = {ax.get_title(): ax.images[0].get_array() for ax in fig.axes if ax.images}
    x = np.asarray(shown["occlusion 0"], dtype=np.float64)  # the clean image
    levels = FACTORS["clutter"][1]
    top = levels[-1]
    cluttered = {a: np.asarray(shown[f"clutter {a:g}"], dtype=np.float64) for a in levels}
    y = (cluttered[top] - (1 - top) * x) / top  # the other image, up to rounding
    assert np.abs(y - x).mean() > 20  # another image, not x
    for a in levels:
        expected = (1 - a) * x + a * y
        assert np.abs(cluttered[a] - expected).max() <= 1.5, a
        assert np.abs(cluttered[a] - x).mean() == pytest.approx(
            a * np.abs(y - x).mean(), rel=0.05, abs=0.5
        )


def test_gradient_check_step_size_figure_shows_truncation_and_round_off(outdir):
    r = result("gradient-check", outdir)
    h = np.array(r["steps"])
    e64, e32 = (np.array(r["step_errors"][k]) for k in ("float64", "float32"))
    # minima where (3ε)^(1/3) puts them for central differences
    assert 1e-6 <= r["best_step"]["float64"] <= 1e-5
    assert 1e-3 <= r["best_step"]["float32"] <= 1e-2
    # right of the minimum: truncation, h²/6 for exp (the Taylor remainder)
    i = int(np.argmin(np.abs(h - 1e-2)))
    assert e64[i] == pytest.approx(h[i] ** 2 / 6, rel=0.02)
    # left of it: round-off grows as h shrinks
    assert e64[0] > 1e3 * e64.min() and e32[h <= 1e-5].min() > 100 * e32.min()
    ax = _FIGURES["gradient-check"]["step_size.png"].axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert any(lb.startswith("float32") for lb in labels)
    assert any(lb.startswith("float64") for lb in labels)
    assert "step_size.png" in (outdir / "gradient-check" / "report.md").read_text()


def test_stored_runs_are_reused_only_for_the_same_inputs(tmp_path, monkeypatch):
    """The resume cache covers seed, data source (path, size, mtime), settings and vedere's
    version: another --seed or --data-dir into the same --out runs again."""
    calls = []

    def run_once(ctx, settings=None):
        return ctx.cached("run", lambda: calls.append(1) or {"n": len(calls)}, settings)["n"]

    out = tmp_path / "out"
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 10)
    logs = []
    assert run_once(Context("e", out, seed=0, log=logs.append)) == 1
    assert run_once(Context("e", out, seed=0, log=logs.append)) == 1  # resumed
    assert "resumed" in logs[-1]
    assert run_once(Context("e", out, seed=1)) == 2  # another seed
    assert run_once(Context("e", out, seed=1, data=str(data))) == 3  # another data source
    assert run_once(Context("e", out, seed=1, data=str(data))) == 3
    data.write_bytes(b"y" * 11)  # the same path, other contents
    assert run_once(Context("e", out, seed=1, data=str(data))) == 4
    os.utime(data, ns=(1, 1))  # same size, other mtime
    assert run_once(Context("e", out, seed=1, data=str(data))) == 5
    ctx = Context("e", out, seed=1, data=str(data))
    assert run_once(ctx, {"lr": 0.1}) == 6  # another setting
    assert run_once(ctx, {"lr": 0.1}) == 6
    assert run_once(Context("e", out, seed=1, data=str(data), quick=True), {"lr": 0.1}) == 7
    monkeypatch.setattr("vedere.__version__", "999.0")
    assert run_once(Context("e", out, seed=1, data=str(data), quick=True), {"lr": 0.1}) == 8


def test_data_folder_identity_follows_its_files(tmp_path):
    from vedere.experiments.base import source_identity

    (tmp_path / "d" / "train").mkdir(parents=True)
    f = tmp_path / "d" / "train" / "a.png"
    f.write_bytes(b"1")
    first = source_identity(tmp_path / "d")
    assert first == source_identity(str(tmp_path / "d"))
    f.write_bytes(b"12")  # a file deep inside changes: the folder's own mtime may not
    assert source_identity(tmp_path / "d") != first
    assert source_identity(None) == {"source": "embedded CIFAR-10 sample"}
