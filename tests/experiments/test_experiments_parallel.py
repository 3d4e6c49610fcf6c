"""Experiments' runs trained on a Dask cluster give what one process gives (issue 15)."""

import json

import pytest
from threadpoolctl import threadpool_limits

from vedere.executor import DaskExecutor
from vedere.experiments import run_experiment

pytestmark = pytest.mark.slow  # a Dask cluster

pytest.importorskip("distributed")


@pytest.mark.parametrize("name", ["batch-size", "classifiers"])
def test_parallel_runs_equal_sequential_ones(tmp_path, name):
    with threadpool_limits(1):  # the workers' BLAS thread count: the same floating-point sums
        seq = run_experiment(name, tmp_path / "seq", quick=True)
    with DaskExecutor(workers=2) as ex:
        par = run_experiment(name, tmp_path / "par", quick=True, executor=ex)

    def strip(r):
        return json.loads(json.dumps(r).replace(str(tmp_path / "par"), str(tmp_path / "seq")))

    assert _without_seconds(strip(par)) == _without_seconds(seq)
    assert sorted(p.name for p in (tmp_path / "par" / "runs").iterdir()) == sorted(
        p.name for p in (tmp_path / "seq" / "runs").iterdir()
    )


def _without_seconds(obj):
    if isinstance(obj, dict):
        return {k: _without_seconds(v) for k, v in obj.items() if "second" not in k}
    if isinstance(obj, list):
        return [_without_seconds(v) for v in obj]
    return obj
