"""`vedere experiment fast-cifar --quick`: every ablation variant trained at every budget on
the sample, the multi-crop ablation read from the full recipe's own models, resumable."""

import numpy as np
import pytest

from vedere.experiments import run_experiment
from vedere.experiments.fast_cifar import ABLATIONS, NO_MULTICROP


@pytest.mark.slow  # trains end to end
def test_fast_cifar_quick_runs_every_variant_and_resumes(tmp_path):
    out = tmp_path / "fast"
    r = run_experiment("fast-cifar", out, quick=True)
    assert r["budgets"] == [1, 2]
    assert set(r["accuracy"]) == {*ABLATIONS, NO_MULTICROP}
    for accs in r["accuracy"].values():
        assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
    assert (out / "ablation.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "no whitening" in report and "| variant | 1 epochs | 2 epochs |" in report
    # runs are stored: a second invocation trains nothing and gives the same numbers
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == len(ABLATIONS) * 2
    again = run_experiment("fast-cifar", out, quick=True)
    np.testing.assert_array_equal(
        [again["accuracy"][k] for k in ABLATIONS], [r["accuracy"][k] for k in ABLATIONS]
    )
