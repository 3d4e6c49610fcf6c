"""Backpropagation against central finite differences (the derivative's definition)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.nn import Linear, ReLU, Sequential, SoftmaxCrossEntropy, Tanh
from vedere.nn.gradcheck import gradcheck, numeric_gradient
from vedere.nn.gradcheck_suite import cases

CASES = cases(seed=0)


@pytest.mark.parametrize(("name", "run"), CASES, ids=[c[0].strip(" +") for c in CASES])
def test_every_layer_and_loss_passes_gradcheck(name, run):
    report = run()
    assert report.passed, f"{name}\n{report}"
    assert report.max_rel_error < 1e-6


def test_the_mlp_case_covers_l1_l2_and_dropout():
    names = [c[0] for c in CASES]
    assert "MLP + L1 + L2 + dropout" in names


class WrongTanh(Tanh):
    """A deliberately broken backward (forgets the square): gradcheck must catch it."""

    def _backward(self, grad_out, need_input_grad):
        return grad_out * (1 - self._f)


def test_gradcheck_catches_a_wrong_backward(rng):
    x = rng.standard_normal((4, 5))
    report = gradcheck(WrongTanh(), x)
    assert not report.passed
    assert report.max_rel_error > 1e-2
    assert "FAIL" in str(report)
    model = Sequential(
        Linear(5, 4, dtype="float64"), WrongTanh(), Linear(4, 3, dtype="float64", rng=1)
    )
    report = gradcheck(model, x, np.array([0, 1, 2, 0]), loss=SoftmaxCrossEntropy())
    assert not report.passed


def test_numeric_gradient_of_a_known_function():
    # f(a) = Σ a³  ->  df/da = 3a²
    a = np.array([[0.5, -1.0], [2.0, 0.1]])
    g = numeric_gradient(lambda: float(np.sum(a**3)), a)
    np.testing.assert_allclose(g, 3 * a**2, rtol=1e-8)
    np.testing.assert_array_equal(a, [[0.5, -1.0], [2.0, 0.1]])  # restored


def test_gradcheck_samples_large_arrays():
    layer = Linear(60, 50, dtype="float64", rng=0)
    x = np.random.default_rng(0).standard_normal((3, 60))
    report = gradcheck(layer, x, max_checks=100)
    weight = next(c for c in report.checks if c.name == "weight")
    assert weight.n_checked == 100 and report.passed


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    act=st.sampled_from(["tanh", "sigmoid"]),
    seed=st.integers(0, 2**16),
)
def test_random_mlps_pass_gradcheck(n, sizes, act, seed):
    from vedere.nn import mlp

    model = mlp(sizes, activation=act, init="xavier", rng=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    report = gradcheck(model, x, y, loss=SoftmaxCrossEntropy(0.05))
    assert report.max_rel_error < 1e-6, str(report)


def test_gradcheck_rejects_non_components():
    with pytest.raises(ValueError, match="Module or Loss"):
        gradcheck(lambda x: x, np.zeros((1, 1)))

    class LooksLikeALayer:  # forward and backward, but not a vedere Module
        def forward(self, x):
            return x

        def backward(self, g):
            return g

    with pytest.raises(ValueError, match="Module or Loss"):
        gradcheck(LooksLikeALayer(), np.zeros((1, 1)))
    # a Module is a component: checked, and its (exact) gradient passes
    x = np.random.default_rng(0).standard_normal((3, 4)) + 0.5
    assert gradcheck(ReLU(), x).max_rel_error < 1e-6


def test_readme_model_in_training_mode_passes_with_masks_fixed():
    # the README's model (smaller): Linear → ReLU → Dropout → Linear, after model.train();
    # each pass used to draw a fresh dropout mask, so the check failed
    from vedere.nn import Dropout

    model = Sequential(
        Linear(30, 16, init="he", rng=0), ReLU(), Dropout(0.2, rng=1), Linear(16, 10, rng=2)
    )
    x = np.random.default_rng(0).random((8, 30), dtype=np.float32)  # float32 data, as there
    y = np.random.default_rng(1).integers(0, 10, 8)
    model.train()
    report = gradcheck(model.astype(np.float64), x, y, loss=SoftmaxCrossEntropy(0.1))
    assert report.passed, str(report)
    assert "1 dropout mask held fixed" in str(report)
    assert model[2].fixed_mask is None and model.training  # the model is left as it was
    # the check really ran with dropout active: some units were dropped
    out_train = model.forward(x.astype(np.float64))
    model.eval()
    assert not np.allclose(out_train, model.forward(x.astype(np.float64)))


def test_report_and_cli_print_one_table():
    from click.testing import CliRunner

    from vedere.cli.main import cli
    from vedere.nn.gradcheck import format_table
    from vedere.nn.gradcheck_suite import TOL, run_suite

    rows, ok = run_suite(0)
    r = CliRunner().invoke(cli, ["gradcheck"])
    assert r.exit_code == 0 and ok
    assert r.output.strip() == format_table(rows, TOL, what="arrays")
    report = gradcheck(Tanh(), np.random.default_rng(0).standard_normal((3, 4)))
    cli_head, report_head = r.output.splitlines()[0].split(), str(report).splitlines()[0].split()
    assert cli_head[0] == report_head[0] and cli_head[2:] == report_head[2:]
    assert str(report).splitlines()[-1].startswith("PASS: max relative error")
