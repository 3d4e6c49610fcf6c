"""Conv2d: forward and backward against PyTorch (float64), gradient checks and bad input."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vedere import parallel
from vedere.nn import Conv2d, Sequential, gradcheck
from vedere.nn.gradcheck_suite import cases


def _torch_conv(layer: Conv2d) -> torch.nn.Conv2d:
    ref = torch.nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        bias=layer.bias is not None,
        dtype=torch.float64,
    )
    ref.load_state_dict({n: torch.from_numpy(p.data) for n, p in layer.named_parameters()})
    return ref


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv2d_matches_torch(n, c_in, c_out, size, kernel, stride, padding, bias, seed):
    """Every code path the kernels can take (parallel and serial builds; im2col for stride
    1 and for other strides) against PyTorch: forward, dL/dx,
    dL/dW, dL/db."""
    assume(all(k <= s + 2 * p for k, s, p in zip(kernel, size, padding, strict=True)))
    rng = np.random.default_rng(seed)
    layer = Conv2d(c_in, c_out, kernel, stride, padding, bias, rng=seed, dtype="float64")
    ref = _torch_conv(layer)
    x = rng.standard_normal((n, c_in, *size))
    tx = torch.from_numpy(x).requires_grad_()
    ty = ref(tx)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.from_numpy(g))
    for threshold in (0, 2**40):  # every job parallel, then every job serial
        parallel.set_parallel_min_work(threshold)
        try:
            layer.zero_grad()
            y = layer.forward(x)
            dx = layer.backward(g)
        finally:
            parallel.set_parallel_min_work(None)
        np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), atol=1e-6, rtol=0)
        if bias:
            np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), atol=1e-6, rtol=0)


def test_conv2d_float32_close_to_torch(rng):
    layer = Conv2d(3, 8, 3, padding=1, rng=0)
    ref = torch.nn.Conv2d(3, 8, 3, padding=1)
    ref.load_state_dict({n: torch.from_numpy(p.data) for n, p in layer.named_parameters()})
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_conv2d_accepts_channels_last_and_plain_layouts_alike(rng):
    layer = Conv2d(2, 3, 3, padding=1, rng=0, dtype="float64")
    x = rng.standard_normal((2, 2, 5, 5))
    x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    g = rng.standard_normal((2, 3, 5, 5))
    y1, dx1 = layer.forward(x), layer.backward(g)
    y2, dx2 = layer.forward(x_cl), layer.backward(np.asfortranarray(g))
    np.testing.assert_allclose(y1, y2, atol=1e-12)
    np.testing.assert_allclose(dx1, dx2, atol=1e-12)


def test_conv2d_gradients_accumulate_and_first_layer_skips_input_grad(rng):
    layer = Conv2d(2, 3, 2, rng=0, dtype="float64")
    x = rng.standard_normal((2, 2, 4, 4))
    g = rng.standard_normal((2, 3, 3, 3))
    layer.forward(x)
    assert layer.backward(g, need_input_grad=False) is None
    once = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)


def test_conv2d_default_init_is_pytorchs_uniform():
    layer = Conv2d(16, 32, 3, rng=0)
    bound = 1 / np.sqrt(16 * 9)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (32, 16, 3, 3) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # U(-a, a) has std a/√3
    he = Conv2d(16, 32, 3, rng=0, init="he", bias=False)
    assert abs(he.weight.data.std() - np.sqrt(2 / (16 * 9))) < 0.05 * np.sqrt(2 / 144)
    assert he.bias is None and [n for n, _ in he.named_parameters()] == ["weight"]


def test_gradcheck_covers_every_layer(monkeypatch):
    """Every layer class of vedere.nn is built by some case of the gradient-check suite
    (recorded while the cases run, not listed by hand): a new layer without a gradient
    check fails here."""
    import vedere.nn  # noqa: F401 (every layer module registers its classes)
    from vedere.nn import module

    built: set[type] = set()
    init = module.Module.__init__

    def record(self, *args, **kwargs):
        built.add(type(self))
        init(self, *args, **kwargs)

    monkeypatch.setattr(module.Module, "__init__", record)
    for _, check in cases():
        check()
    layers = {cls for name, cls in module.LAYER_TYPES.items() if not name.startswith("_")}
    missing = sorted(cls.__name__ for cls in layers - built)
    assert not missing, f"no gradient check builds {missing}"


def test_conv2d_gradcheck_with_stride_and_padding(rng):
    layer = Conv2d(2, 3, (2, 3), stride=(1, 2), padding=(2, 1), rng=4, dtype="float64")
    report = gradcheck(layer, rng.standard_normal((2, 2, 5, 6)))
    assert report.max_rel_error < 1e-6, str(report)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 4, 8, 8), r"x has shape \(2, 4, 8, 8\) but this Conv2d expects 3 input channels"),
        ((2, 3, 8), r"x must be 4-D, got shape \(2, 3, 8\)"),
        ((2, 3, 1, 8), r"x has shape \(2, 3, 1, 8\): the 3x3 kernel .* larger than the padded"),
        ((0, 3, 8, 8), r"x has shape \(0, 3, 8, 8\): the batch is empty"),
    ],
)
def test_conv2d_rejects_bad_shapes(shape, match):
    layer = Conv2d(3, 4, 3, rng=0)
    with pytest.raises(ValueError, match=match):
        layer.forward(np.zeros(shape, dtype=np.float32))


def test_conv2d_kernel_larger_than_padded_input():
    layer = Conv2d(1, 1, 5, padding=1, rng=0)
    with pytest.raises(ValueError, match=r"5x5 kernel .* larger than the padded input 4x4"):
        layer.forward(np.zeros((1, 1, 2, 2), dtype=np.float32))
    np.testing.assert_equal(layer.forward(np.zeros((1, 1, 3, 3), np.float32)).shape, (1, 1, 1, 1))


def test_conv2d_rejects_non_finite_and_wrong_dtype():
    layer = Conv2d(1, 2, 1, rng=0)
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    x[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"x \(shape \(1, 1, 3, 3\)\) contains 1 NaN"):
        layer.forward(x)
    with pytest.raises(ValueError, match=r"x has dtype float64 but the model computes in float32"):
        layer.forward(np.ones((1, 1, 3, 3)))


def test_conv2d_inside_sequential_reports_the_mismatch():
    # the second convolution is not validated by Sequential.forward, but still checks shapes
    model = Sequential(Conv2d(3, 4, 3, rng=0), Conv2d(5, 2, 3, rng=1))
    with pytest.raises(ValueError, match=r"expects 5 input channels"):
        model.forward(np.zeros((1, 3, 8, 8), dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, "in_channels must be a positive integer"),
        ({"kernel_size": (3, 0)}, "kernel_size must be an int >= 1"),
        ({"kernel_size": (1, 2, 3)}, "kernel_size must be an int or a pair"),
        ({"stride": 0}, "stride must be an int >= 1"),
        ({"padding": -1}, "padding must be an int >= 0"),
        ({"padding": 1.5}, "padding must be an int >= 0"),
        ({"dtype": "int32"}, "dtype must be float32 or float64"),
        ({"init": "bogus"}, "unknown initialisation"),
    ],
)
def test_conv2d_rejects_bad_arguments(kwargs, match):
    args = {"in_channels": 3, "out_channels": 4, "kernel_size": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        Conv2d(**args)


def test_conv2d_training_step_holds_one_block_not_the_whole_im2col_matrix(rng):
    """Memory: forward + backward of a 3×3 convolution allocate the output, dL/dx and one
    cache-sized block of im2col rows, never the (N·H·W, 9·C) matrix of the whole batch."""
    import tracemalloc

    from vedere.nn import conv

    layer = Conv2d(16, 16, 3, padding=1, rng=0)
    # channels-last arrays, as the layers pass them to each other (no layout copies)
    x = rng.standard_normal((32, 32, 32, 16)).astype(np.float32).transpose(0, 3, 1, 2)  # 2 MiB
    g = rng.standard_normal((32, 32, 32, 16)).astype(np.float32).transpose(0, 3, 1, 2)
    layer.forward(x)
    layer.backward(g)  # warm-up: the workspace exists from here on
    full_cols = 32 * 32 * 32 * 9 * 16 * 4  # 18 MiB
    tracemalloc.start()
    layer.forward(x)
    layer.backward(g)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2.5 * x.nbytes + conv.BLOCK_BYTES  # y, dL/dx and a block
    assert peak < full_cols / 2
    assert conv.workspace((1,), np.float32).base.nbytes <= conv.BLOCK_BYTES + 9 * 16 * 4 * 1024


@pytest.mark.parametrize("block_bytes", [1, 10**9])
def test_conv2d_result_does_not_depend_on_the_block_size(block_bytes, rng, monkeypatch):
    from vedere.nn import conv

    layer = Conv2d(3, 4, 3, stride=2, padding=1, rng=0, dtype="float64")
    x = rng.standard_normal((5, 3, 9, 9))
    g = rng.standard_normal((5, 4, 5, 5))
    y0, dx0 = layer.forward(x), layer.backward(g)
    w0 = layer.weight.grad.copy()
    layer.zero_grad()
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(conv, "BLOCK_MIN_ROWS", 1)
    np.testing.assert_allclose(layer.forward(x), y0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(g), dx0, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, w0, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(4, 7),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    size=st.tuples(st.integers(2, 9), st.integers(2, 9)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    frozen=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv2d_blocks_on_worker_threads_match_torch(
    n, c_in, c_out, size, kernel, stride, padding, frozen, seed
):
    """The path that shares a big layer's blocks among worker threads, each on one BLAS
    thread (nn.conv_blocks), forced for small layers: forward, dL/dx, dL/dW (the sum of
    the workers' parts), dL/db against PyTorch, and the path was taken."""
    import numba

    from vedere.nn import conv_blocks

    if numba.get_num_threads() < 2 or not conv_blocks.blas.threads_settable():
        pytest.skip("the worker path needs two threads and NumPy's OpenBLAS thread control")
    assume(all(k <= s + 2 * p for k, s, p in zip(kernel, size, padding, strict=True)))
    rng = np.random.default_rng(seed)
    layer = Conv2d(c_in, c_out, kernel, stride, padding, True, rng=seed, dtype="float64")
    layer.weight.trainable = not frozen
    ref = _torch_conv(layer)
    x = rng.standard_normal((n, c_in, *size))
    tx = torch.from_numpy(x).requires_grad_()
    ty = ref(tx)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.from_numpy(g))
    saved = conv_blocks.PARALLEL_BYTES, conv_blocks.WORKER_BLOCK_BYTES, conv_blocks.run
    calls = []

    def counted(job, blocks):
        calls.append(sum(len(b) for b in blocks))
        return saved[2](job, blocks)

    conv_blocks.PARALLEL_BYTES, conv_blocks.WORKER_BLOCK_BYTES, conv_blocks.run = 0, 64, counted
    try:
        layer.zero_grad()
        y = layer.forward(x)
        dx = layer.backward(g)
    finally:
        conv_blocks.PARALLEL_BYTES, conv_blocks.WORKER_BLOCK_BYTES, conv_blocks.run = saved
    assert len(calls) == 2 and min(calls) >= 2  # forward and backward, several blocks each
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), atol=1e-6, rtol=0)
    if frozen:
        assert not layer.weight.grad.any()
    else:
        np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), atol=1e-6, rtol=0)


def test_worker_blocks_share_the_images_evenly():
    from vedere.nn import conv_blocks

    for n, total, workers in ((256, 226 * 2**20, 2), (9, 10**9, 2), (5, 1, 3), (4, 2**30, 2)):
        per_worker = conv_blocks.worker_blocks(n, total, workers)
        assert len(per_worker) == workers
        blocks = sorted(b for w in per_worker for b in w)
        assert blocks[0][0] == 0 and blocks[-1][1] == n  # every image once, in order
        assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
        counts = [len(w) for w in per_worker]
        assert max(counts) - min(counts) <= 1
        sizes = [e - s for s, e in blocks]
        assert max(sizes) - min(sizes) <= 1
