"""The piecewise-linear schedule against airbench94's get_lr, re-computed literally."""

import pytest

from vedere.nn.schedules import PiecewiseLinear, make_schedule


def airbench_factor(step, total):
    """airbench94's get_lr(step), written out as in its description."""
    warmup_steps = int(total * 0.23)
    warmdown_steps = total - warmup_steps
    if step < warmup_steps:
        frac = step / warmup_steps
        return 0.2 * (1 - frac) + 1.0 * frac
    frac = (step - warmup_steps) / warmdown_steps
    return 1.0 * (1 - frac) + 0.07 * frac


@pytest.mark.parametrize("total", [476, 426, 37, 4, 1])
def test_piecewise_default_is_airbench_s_factor_at_every_step(total):
    s = PiecewiseLinear(2.0)
    for k in range(total):
        assert s.at_step(k, total) == pytest.approx(2.0 * airbench_factor(k, total), rel=1e-12)


def test_piecewise_knots_and_per_epoch_use():
    s = PiecewiseLinear(1.0, [(0, 1.0), (0.5, 3.0), (1, 1.0)], epochs=4)
    assert [s(t) for t in range(5)] == pytest.approx([1.0, 2.0, 3.0, 2.0, 1.0])
    assert make_schedule("piecewise", 0.5, 9.9).per_step
    with pytest.raises(ValueError, match="piecewise knots"):
        PiecewiseLinear(1.0, [(0.1, 1.0), (1, 1.0)])
    with pytest.raises(ValueError, match="holds its own warm-up"):
        make_schedule("piecewise", 0.5, 10, warmup=1)
