"""Lookahead / EMA of the weights, buffers included, against a literal re-computation of
airbench94's rule (ema ← lerp(ema, net, 1 - d); net ← ema, every 5 steps; d = 1 at the end)."""

import numpy as np
import pytest

from vedere import nn
from vedere.nn.averaging import Lookahead, WeightAverage


def _net():
    return nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=1))


def _fake_training_step(net, rng):
    """An "update": every parameter moves, and a forward pass moves the running stats."""
    for p in net.parameters():
        p.data += rng.standard_normal(p.shape).astype(p.dtype) * 0.1
    net.train()
    net.forward(rng.standard_normal((8, 3)).astype(np.float32))


@pytest.mark.parametrize("total", [12, 10, 3])
def test_lookahead_is_airbench_s_rule_on_weights_and_buffers(total):
    net = _net()
    look = Lookahead(net)
    # the literal re-computation on plain dicts of the same tensors
    state = {k: v.copy() for k, v in net.state_dict().items()}
    ema = {k: v.astype(np.float64) for k, v in state.items() if v.dtype.kind == "f"}
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    twin = _net()
    for step in range(1, total + 1):
        _fake_training_step(net, rng_a)
        look.after_step(step, total)
        _fake_training_step(twin, rng_b)
        live = twin.state_dict()
        if step % 5 == 0:
            d = 0.95**5 * (step / total) ** 3
            for k in ema:
                ema[k] = ema[k] + (1 - d) * (live[k] - ema[k])
            twin.load_state_dict({**live, **{k: v.astype(np.float32) for k, v in ema.items()}})
        if step >= total:
            twin.load_state_dict({**live, **{k: v.astype(np.float32) for k, v in ema.items()}})
    got = net.state_dict()
    for k, v in twin.state_dict().items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
    assert "1.running_mean" in ema  # the buffers were averaged too
    assert got["1.num_batches_tracked"] == total  # counters are not averaged


def test_ema_without_copy_back_leaves_the_live_weights_until_swapped_in():
    net = _net()
    avg = WeightAverage(net, copy_back=False)
    start = {k: v.copy() for k, v in net.state_dict().items()}
    _fake_training_step(net, np.random.default_rng(0))
    live = {k: v.copy() for k, v in net.state_dict().items()}
    avg.update(0.75)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, live[k])
    avg.swap_in()
    w = net.state_dict()["0.weight"]
    np.testing.assert_allclose(w, 0.75 * start["0.weight"] + 0.25 * live["0.weight"], rtol=1e-6)


def test_average_state_round_trips_and_is_checked():
    net = _net()
    avg = WeightAverage(net)
    arrays = avg.state_arrays()
    other = WeightAverage(_net())
    other.load_state_arrays(arrays)
    for k in arrays:
        np.testing.assert_array_equal(other.average[k], arrays[k])
    with pytest.raises(ValueError, match="do not match"):
        other.load_state_arrays({"nope": np.zeros(1)})
    with pytest.raises(ValueError, match="decay must be in"):
        avg.update(1.5)
