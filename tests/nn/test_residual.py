"""Residual blocks and a small ResNet: PyTorch equivalence, state dicts both ways, model files."""

import numpy as np
import pytest
import torch
from torch import nn as tnn

from vedere.nn import (
    GELU,
    BatchNorm2d,
    Conv2d,
    Linear,
    ReLU,
    Residual,
    Sequential,
    SoftmaxCrossEntropy,
    gradcheck,
    load,
    save,
)
from vedere.nn.gradcheck_suite import small_resnet


class TorchResidual(tnn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def torch_twin(model: Sequential) -> tnn.Module:
    """The same architecture in PyTorch (float64), built from vedere's layers' configs."""

    def convert(m):
        kind, cfg = type(m).__name__, m.get_config()
        if kind == "Sequential":
            return tnn.Sequential(*[convert(layer) for layer in m.layers])
        if kind == "Residual":
            return TorchResidual(
                convert(m.body), None if m.shortcut is None else convert(m.shortcut)
            )
        if kind == "Conv2d":
            return tnn.Conv2d(
                cfg["in_channels"],
                cfg["out_channels"],
                tuple(cfg["kernel_size"]),
                tuple(cfg["stride"]),
                tuple(cfg["padding"]),
                bias=cfg["bias"],
            )
        if kind == "BatchNorm2d":
            return tnn.BatchNorm2d(cfg["num_features"], cfg["eps"], cfg["momentum"])
        if kind == "GELU":
            return tnn.GELU()
        if kind == "MaxPool2d":
            return tnn.MaxPool2d(tuple(cfg["kernel_size"]), tuple(cfg["stride"]))
        if kind == "GlobalAvgPool2d":
            return tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten())
        if kind == "Linear":
            return tnn.Linear(cfg["in_features"], cfg["out_features"])
        raise AssertionError(kind)

    return convert(model).double()


def _trained_a_little(model, rng, steps=2):
    """Run a few training forwards so that BatchNorm's running statistics are not the init."""
    model.train()
    for _ in range(steps):
        model.forward(rng.standard_normal((4, 3, 8, 8)))
    return model


def test_vedere_state_dict_loads_into_torch_and_gives_the_same_logits(rng):
    model = _trained_a_little(small_resnet(), rng)
    ref = torch_twin(model)
    state = model.state_dict()
    assert (
        "0.weight" in state and "1.running_var" in state and "3.body.1.num_batches_tracked" in state
    )
    assert "5.shortcut.weight" in state
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    x = rng.standard_normal((5, 3, 8, 8))
    model.eval()
    ref.eval()
    np.testing.assert_allclose(
        model.forward(x), ref(torch.from_numpy(x)).detach().numpy(), atol=1e-9
    )


def test_torch_state_dict_loads_into_vedere_unchanged(rng):
    model = small_resnet(seed=5)
    ref = torch_twin(model)
    ref.train()
    with torch.no_grad():
        for _ in range(3):
            ref(torch.from_numpy(rng.standard_normal((4, 3, 8, 8))))
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal((2, 3, 8, 8))
    model.eval()
    ref.eval()
    np.testing.assert_allclose(
        model.forward(x), ref(torch.from_numpy(x)).detach().numpy(), atol=1e-9
    )


def test_small_resnet_training_step_matches_torch(rng):
    model = small_resnet(seed=2)
    ref = torch_twin(model)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((4, 3, 8, 8))
    y = rng.integers(0, 3, 4)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    t_loss = tnn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-9
    grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), atol=1e-6, rtol=0)


def test_residual_identity_and_projection(rng):
    conv = Conv2d(2, 2, 3, padding=1, rng=0, dtype="float64")
    block = Residual(conv)
    x = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_allclose(block.forward(x), conv.forward(x) + x)
    g = rng.standard_normal(x.shape)
    dx = block.backward(g)
    conv.zero_grad()
    conv.forward(x)
    np.testing.assert_allclose(dx, conv.backward(g) + g)  # dL/dx = body'ᵀ G + G
    assert gradcheck(Residual(Linear(3, 3, rng=0, dtype="float64"), ReLU()), x[0, 0, :3, :3] + 2)


def test_residual_shape_mismatch_is_a_clear_error():
    block = Residual(Conv2d(2, 3, 3, padding=1, rng=0))
    with pytest.raises(ValueError, match=r"body output has shape \(1, 3, 4, 4\) but the shortcut"):
        block.forward(np.zeros((1, 2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"body must be a vedere\.nn Module"):
        Residual(lambda x: x)


def test_model_file_round_trip_keeps_running_statistics(tmp_path, rng):
    model = _trained_a_little(small_resnet(), rng, steps=3).astype(np.float32)
    path = save(model, tmp_path / "resnet.safetensors")
    loaded = load(path)
    assert not loaded.training
    for (n, a), (m, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert n == m
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    model.eval()
    np.testing.assert_array_equal(model.forward(x), loaded.forward(x))


def test_a_resnet_is_a_few_lines_and_learns(rng):
    """Twenty SGD steps on one batch lower the loss (the parts fit together in float32)."""
    from vedere.nn import GlobalAvgPool2d, optim

    model = Sequential(
        Conv2d(3, 8, 3, padding=1, bias=False, rng=0),
        BatchNorm2d(8),
        GELU(),
        Residual(Sequential(Conv2d(8, 8, 3, padding=1, rng=1), BatchNorm2d(8), GELU())),
        GlobalAvgPool2d(),
        Linear(8, 4, rng=2),
    )
    x = rng.standard_normal((16, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    loss_fn = SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(20):
        losses.append(loss_fn.forward(model.forward(x), y))
        model.backward(loss_fn.backward())
        opt.step()
        opt.zero_grad()
    assert losses[-1] < 0.5 * losses[0]


def test_hostile_architectures_are_refused_before_allocating(tmp_path):
    """A model file whose architecture declares a gigantic layer, or a malformed Residual,
    is refused with ModelFileError (no allocation of the declared size, no traceback)."""
    from vedere.nn import ModelFileError
    from vedere.nn.tensor_file import pack

    def write(arch, name):
        path = tmp_path / name
        path.write_bytes(pack({}, {"architecture": arch, "extra": {}}))
        return path

    huge = {
        "type": "Conv2d",
        "config": {"in_channels": 60000, "out_channels": 60000, "kernel_size": 3},
    }
    with pytest.raises(ModelFileError, match=r"Conv2d weight .* more than the \d+ allowed"):
        load(write({"type": "Sequential", "config": {"layers": [huge]}}, "huge.safetensors"))
    wide = {"type": "BatchNorm2d", "config": {"num_features": 10**12}}
    with pytest.raises(ModelFileError, match="num_features must be at most"):
        load(write(wide, "bn.safetensors"))
    kernel = {"type": "MaxPool2d", "config": {"kernel_size": [10**9, 2]}}
    with pytest.raises(ModelFileError, match="kernel_size must be at most 256"):
        load(write(kernel, "pool.safetensors"))
    for bad in ({"type": "Residual", "config": {}}, {"type": "Residual", "config": {"body": 3}}):
        with pytest.raises(ModelFileError, match="Residual needs a config with a 'body'"):
            load(write(bad, "res.safetensors"))


def test_declared_shapes_match_the_built_resnet():
    """The loader checks a file's tensors against shapes computed from the architecture
    alone: for every new layer they must be exactly the parameters and buffers it builds."""
    from vedere.nn.io import declared_shapes

    model = small_resnet()
    arch = {"type": "Sequential", "config": model.get_config()}
    built = {n: p.shape for n, p in model.named_parameters()}
    built.update((n, b.shape) for n, b in model.named_buffers())
    assert declared_shapes(arch) == built
    assert built["1.num_batches_tracked"] == () and "5.shortcut.weight" in built
    no_bias = Conv2d(2, 3, (1, 2), bias=False, rng=0)
    assert Conv2d.parameter_shapes(no_bias.get_config()) == {"weight": (3, 2, 1, 2)}
