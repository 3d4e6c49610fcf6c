"""The engine's public API: calling layers and losses, seeds, the layer registry (issue 11)."""

import numpy as np
import pytest
import torch

import vedere.nn as nn
from vedere.nn import Module
from vedere.nn.module import LAYER_TYPES, layer_type

LOSSES = [
    (nn.MSE(), lambda s, y, k: np.eye(k)[y]),
    (nn.SoftmaxCrossEntropy(0.1), lambda s, y, k: y),
    (nn.BCEWithLogits(), lambda s, y, k: (y[:, None] == 0).astype(float)[:, :1].repeat(k, 1)),
    (nn.MulticlassHinge(), lambda s, y, k: y),
    (nn.PerceptronCriterion(), lambda s, y, k: y),
]


@pytest.mark.parametrize(("loss", "target"), LOSSES, ids=lambda v: type(v).__name__)
def test_every_loss_is_callable(rng, loss, target):
    s = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    t = target(s, y, 4)
    value = loss(s, t)  # raised NotImplementedError: __call__ was bound to Loss.forward
    grad = loss.backward().copy()
    assert value == loss.forward(s, t)
    np.testing.assert_array_equal(grad, loss.backward())


def test_cross_entropy_called_directly_matches_pytorch(rng):
    s = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    ref = torch.nn.functional.cross_entropy(torch.tensor(s), torch.tensor(y))
    assert nn.SoftmaxCrossEntropy()(s, y) == pytest.approx(ref.item(), rel=1e-12)


def test_regularized_loss_is_callable(rng):
    model = nn.mlp([3, 2], rng=0)
    loss = nn.Regularized(nn.SoftmaxCrossEntropy(), model, [nn.L2(0.1)])
    s = rng.standard_normal((4, 2)).astype(np.float32)
    y = rng.integers(0, 2, 4)
    assert loss(s, y) == loss.forward(s, y) > loss.data_loss


class Doubled(Module):
    """A layer that overrides ``forward`` itself (not only ``_forward``)."""

    def forward(self, x):
        return 2 * x


def test_layer_called_directly_uses_its_own_forward(rng):
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(Doubled()(x), 2 * x)
    lin = nn.Linear(3, 2, rng=0, dtype="float64")
    np.testing.assert_allclose(lin(x), x @ lin.weight.data.T + lin.bias.data, rtol=1e-12)
    seq = nn.Sequential(nn.Linear(3, 3, rng=0, dtype="float64"), nn.Tanh())
    np.testing.assert_array_equal(seq(x), seq.forward(x))


# -- rng=None is fresh entropy; explicit seeds reproduce ----------------------------------------
def test_default_layers_differ_and_seeded_layers_repeat():
    assert not np.array_equal(nn.Linear(4, 4).weight.data, nn.Linear(4, 4).weight.data)
    assert not np.array_equal(nn.mlp([4, 4])[0].weight.data, nn.mlp([4, 4])[0].weight.data)
    x = np.ones((50, 40), np.float32)
    a, b = nn.Dropout(0.5), nn.Dropout(0.5)
    assert not np.array_equal(a(x), b(x))
    np.testing.assert_array_equal(
        nn.Linear(4, 4, rng=3).weight.data, nn.Linear(4, 4, rng=3).weight.data
    )
    np.testing.assert_array_equal(
        nn.Linear(4, 4, rng=np.random.default_rng(3)).weight.data,
        nn.Linear(4, 4, rng=3).weight.data,
    )
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=1)(x), nn.Dropout(0.5, rng=1)(x))


# -- layer registry: qualified names, vedere's bare names keep loading ---------------------------
def test_a_users_relu_does_not_break_loading(tmp_path):
    path = nn.save(nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU()), tmp_path / "m.safetensors")

    class ReLU(Module):  # a user's own layer of the same name
        def _forward(self, x):
            return x

    assert layer_type("ReLU") is nn.ReLU
    loaded = nn.load(path)
    assert type(loaded[1]) is nn.ReLU
    # the user's layer is saved under its qualified name and not taken for vedere's
    mine = nn.Sequential(nn.Linear(3, 2, rng=0), ReLU())
    arch = mine.get_config()["layers"][1]["type"]
    assert arch.endswith("test_a_users_relu_does_not_break_loading.<locals>.ReLU")
    assert layer_type(arch) is ReLU
    other = nn.save(mine, tmp_path / "mine.safetensors")
    with pytest.raises(nn.ModelFileError, match="unknown layer type"):
        nn.load(other)


def test_qualified_names_of_vedere_layers_load(tmp_path):
    import json

    from vedere.nn import tensor_file

    lin = nn.Linear(3, 2, rng=0)
    arch = {
        "type": "Sequential",
        "config": {
            "layers": [
                {"type": "vedere.nn.linear.Linear", "config": lin.get_config()},
                {"type": "vedere.nn.activations.ReLU", "config": {}},
            ]
        },
    }
    tensors = {"0.weight": lin.weight.data, "0.bias": lin.bias.data}
    path = tmp_path / "q.safetensors"
    path.write_bytes(tensor_file.pack(tensors, {"architecture": arch, "extra": {}}))
    loaded = nn.load(path)
    assert [type(m) for m in loaded] == [nn.Linear, nn.ReLU]
    assert json.dumps(loaded.get_config()["layers"][1]) == '{"type": "ReLU", "config": {}}'


def test_two_vedere_layers_of_one_name_are_refused_at_definition():
    with pytest.raises(TypeError, match="two vedere layers named ReLU"):
        type("ReLU", (Module,), {"__module__": "vedere.nn.elsewhere"})
    assert LAYER_TYPES["ReLU"] is nn.ReLU


def test_every_vedere_layer_with_parameters_declares_their_shapes():
    # model files are checked against parameter_shapes before any layer is allocated
    import inspect

    # (containers, which build their children from_config, compute their children's)
    for name, cls in LAYER_TYPES.items():
        source = inspect.getsource(cls)
        if cls is nn.Sequential or not (
            "Parameter(" in source or "Buffer(" in source or hasattr(cls, "from_config")
        ):
            continue
        declares = cls.parameter_shapes.__func__ is not Module.parameter_shapes.__func__
        assert declares, f"{name} must override Module.parameter_shapes"


def test_linear_parameter_shapes_match_the_built_layer():
    cfg = nn.Linear(5, 3, rng=0).get_config()
    built = dict(nn.Linear(**cfg).named_parameters())
    assert nn.Linear.parameter_shapes(cfg) == {n: p.shape for n, p in built.items()}
