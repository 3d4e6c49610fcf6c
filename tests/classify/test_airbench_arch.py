"""airbench94 in vedere: the architecture against a PyTorch network written from its
description, the whitening stem on real images, the optimiser's groups, and the six-view
test-time mode against airbench's formula with PyTorch's reflection padding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vedere import nn
from vedere.classify import cnn_arch
from vedere.classify.base import Preprocess
from vedere.classify.cnn import AIRBENCH94, CNNClassifier, ImagePreprocess, tta_params
from vedere.data.dataset import load_split
from vedere.data.transforms import Normalizer

SMALL = "w2-b8-b16-b16-p3-h9"  # airbench94's shape at small widths


def test_airbench94_plan_by_hand():
    p = cnn_arch.plan("airbench94", (32, 32, 3), 10)
    assert [s for s in p.shapes[:6]] == [(3, 32, 32), (24, 31, 31), (64, 15, 15), (256, 7, 7),
                                         (256, 3, 3), (256, 1, 1)]  # fmt: skip
    stem = 3 * 4 * 24 + 24
    convs = [(24, 64), (64, 64), (64, 256), (256, 256), (256, 256), (256, 256)]
    assert p.n_params == stem + sum(a * b * 9 + 2 * b for a, b in convs) + 256 * 10
    fwd = (2 * 12 * 24 * 31 * 31 + 2 * 24 * 9 * 64 * 31 * 31 + 2 * 64 * 9 * 64 * 15 * 15
           + 2 * 64 * 9 * 256 * 15 * 15 + 2 * 256 * 9 * 256 * 7 * 7
           + 2 * 256 * 9 * 256 * 7 * 7 + 2 * 256 * 9 * 256 * 3 * 3 + 2 * 256 * 10)  # fmt: skip
    assert p.flops == fwd
    # the budget: 9.9 epochs of 50,000 images ≈ 0.35 PFLOP (3 × forward)
    assert 0.34e15 < p.train_flops * 50000 * 9.9 < 0.36e15


@pytest.mark.parametrize("spec, words", [("c8-w2", "must come first"), ("w2-h9-g", "must be last"),
                                         ("w9", "kernel size")])  # fmt: skip
def test_bad_whitening_and_head_tokens(spec, words):
    with pytest.raises(ValueError, match=words):
        cnn_arch.plan(spec, (32, 32, 3), 10)


class _TorchBlock(torch.nn.Module):
    """airbench94's ConvGroup, from its description."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm1 = torch.nn.BatchNorm2d(c_out, eps=1e-12, momentum=0.4)
        self.conv2 = torch.nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = torch.nn.BatchNorm2d(c_out, eps=1e-12, momentum=0.4)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


def _torch_airbench(widths=(8, 16, 16)):
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 24, 2, padding=0, bias=True), torch.nn.GELU(),
        _TorchBlock(24, widths[0]), _TorchBlock(widths[0], widths[1]),
        _TorchBlock(widths[1], widths[2]), torch.nn.MaxPool2d(3), torch.nn.Flatten(),
        torch.nn.Linear(widths[2], 10, bias=False),
    ).double()  # fmt: skip


def _copy_into(net, twin):
    ours = [p for _, p in net.named_parameters()]
    theirs = [p for _, p in twin.named_parameters()]
    assert [p.shape for p in ours] == [tuple(t.shape) for t in theirs]
    with torch.no_grad():
        for p, t in zip(ours, theirs, strict=True):
            t.copy_(torch.from_numpy(p.data.astype(np.float64)))


def test_airbench_network_matches_torch_in_training_and_eval_mode():
    opts = cnn_arch.AIRBENCH94_OPTIONS
    net = cnn_arch.build(SMALL, (32, 32, 3), 10, rng=0, **opts).astype(np.float64)
    twin = _torch_airbench()
    _copy_into(net, twin)
    x = np.random.default_rng(0).standard_normal((6, 3, 32, 32))
    g = np.random.default_rng(1).standard_normal((6, 10))
    y = net.forward(x)
    net.backward(g)
    tx = torch.from_numpy(x)
    ty = twin(tx) / 9  # airbench's Mul(1/9)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-7, atol=1e-9)
    grads = [p.grad for p in net.parameters() if p.trainable]
    t_grads = [t.grad for (_, p), t in zip(net.named_parameters(), twin.parameters(), strict=True)
               if p.trainable]  # fmt: skip
    for a, b in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-9)
    net.eval()
    twin.eval()
    np.testing.assert_allclose(net.forward(x), twin(tx).detach().numpy() / 9, rtol=1e-7,
                               atol=1e-9)  # fmt: skip


def test_airbench_options_dirac_frozen_scale_and_frozen_stem():
    net = cnn_arch.build(SMALL, (32, 32, 3), 10, rng=0, **cnn_arch.AIRBENCH94_OPTIONS)
    convs = [m for m in net.layers if isinstance(m, nn.Conv2d)]
    assert not convs[0].weight.trainable and convs[0].bias.trainable  # the stem
    for c in convs[1:]:  # dirac: the first C_in filters are the identity
        k = min(c.in_channels, c.out_channels)
        w = c.weight.data[:k]
        eye = np.zeros_like(w)
        eye[np.arange(k), np.arange(k), 1, 1] = 1
        np.testing.assert_array_equal(w, eye)
        if c.out_channels > c.in_channels:
            assert np.abs(c.weight.data[k:]).sum() > 0  # the rest stay random
    bns = [m for m in net.layers if isinstance(m, nn.BatchNorm2d)]
    assert all(not b.weight.trainable and b.eps == 1e-12 and b.momentum == 0.4 for b in bns)
    head = next(m for m in net.layers if isinstance(m, nn.Linear))
    assert head.bias is None and isinstance(net.layers[-1], nn.Scale)
    assert net.layers[-1].factor == pytest.approx(1 / 9)


def test_whitening_stem_whitens_the_sample_patches():
    images = load_split(None, "train", progress=False).images[:500]
    pre = ImagePreprocess(Preprocess("image", (32, 32, 3), Normalizer().fit(images)), False, 0)
    net = cnn_arch.build(SMALL, (32, 32, 3), 10, rng=0)
    x = pre(images, None).astype(np.float64)
    cnn_arch.whiten(net, x, eps=1e-9)
    stem = net.layers[0]
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(stem.weight.data.astype(np.float64)))
    rows = out.permute(0, 2, 3, 1).reshape(-1, 24).numpy()[:, :12]
    # float32 weights: identity to 1e-3
    np.testing.assert_allclose(rows.T @ rows / len(rows), np.eye(12), atol=1e-3)


def test_param_groups_of_the_recipe():
    est = CNNClassifier(arch=SMALL, **{k: v for k, v in AIRBENCH94.items() if k != "arch"})
    net = cnn_arch.build(SMALL, (32, 32, 3), 10, rng=0, **est._arch_options())
    groups = {g.name: g for g in est._param_groups(net, est.lr)}
    bns = [m for m in net.layers if isinstance(m, nn.BatchNorm2d)]
    assert [id(p) for p in groups["batchnorm biases"].params] == [id(b.bias) for b in bns]
    assert groups["batchnorm biases"].lr_scale == 64
    assert groups["whitening bias"].params == [net.layers[0].bias]
    assert groups["whitening bias"].epochs == 3
    everything = [p for g in groups.values() for p in g.params]
    assert len(everything) == sum(p.trainable for p in net.parameters())
    wd = AIRBENCH94["weight_decay"]
    for g in groups.values():  # the same absolute decay per update in every group
        assert g.weight_decay * est.lr * g.lr_scale == pytest.approx(wd, rel=1e-12)
    # the recipe's numbers (airbench94's hyper-parameters)
    kilostep = 1024 * (1 + 1 / 0.15)
    assert est.lr == pytest.approx(11.5 / kilostep) and wd == pytest.approx(
        0.0153 * 1024 / kilostep
    )


def _fitted_untrained(arch, x_train, seed=0):
    """A CNNClassifier as fit leaves it, with untrained (random) weights: fast."""
    est = CNNClassifier(arch=arch, **tta_params("multicrop"), **cnn_arch.AIRBENCH94_OPTIONS)
    est.preprocess_ = ImagePreprocess(
        Preprocess("image", x_train.shape[1:], Normalizer().fit(x_train)), False, 0
    )
    est.classes_ = np.arange(10)
    est.n_features_in_ = int(np.prod(x_train.shape[1:]))
    est.network_ = cnn_arch.build(arch, x_train.shape[1:], 10, rng=seed, **est._arch_options())
    est._prepare_network(est.network_, x_train)
    rng = np.random.default_rng(seed)
    for m in est.network_.layers:
        if isinstance(m, nn.BatchNorm2d):
            m.bias.data[:] = rng.normal(0, 0.3, m.num_features)
            m.running_mean.data[:] = rng.normal(0, 0.3, m.num_features)
            m.running_var.data[:] = rng.uniform(0.5, 2, m.num_features)
    est.network_.eval()
    return est


def test_multicrop_tta_is_airbench_s_six_views_with_torch_reflect_padding():
    images = load_split(None, "train", progress=False).images
    est = _fitted_untrained(SMALL, images[:300])
    x = images[300:340]
    twin = _torch_airbench()
    _copy_into(est.network_, twin)
    for b, t in zip([m for m in est.network_.layers if isinstance(m, nn.BatchNorm2d)],
                    [m for m in twin.modules() if isinstance(m, torch.nn.BatchNorm2d)],
                    strict=True):  # fmt: skip
        t.running_mean.copy_(torch.from_numpy(b.running_mean.data.astype(np.float64)))
        t.running_var.copy_(torch.from_numpy(b.running_var.data.astype(np.float64)))
    twin.eval()
    inputs = torch.from_numpy(est.preprocess_(x, None).astype(np.float64))

    def net(v):
        return twin(v) / 9

    with torch.no_grad():  # airbench94's infer_mirror_translate, as described

        def mirror(v):
            return 0.5 * net(v) + 0.5 * net(v.flip(-1))

        logits = mirror(inputs)
        padded = F.pad(inputs, (1, 1, 1, 1), mode="reflect")
        crops = [padded[:, :, 0:32, 0:32], padded[:, :, 2:34, 2:34]]
        translated = torch.stack([mirror(c) for c in crops]).mean(0)
        want = (0.5 * logits + 0.5 * translated).numpy()
    np.testing.assert_allclose(est.decision_function(x), want, rtol=1e-4, atol=1e-5)
    assert tta_params("flip") == {"tta": True, "tta_shift": 0}
    with pytest.raises(ValueError, match="--tta-mode must be one of none, flip, multicrop"):
        tta_params("crops")
