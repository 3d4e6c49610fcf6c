"""Hyper-parameter sweeps: Optuna searches ``vedere train`` settings, an executor (in-process
or Dask) trains the trials, each in an ordinary run directory.

- :mod:`~vedere.sweep.spec`: the TOML specification and its checks;
- :mod:`~vedere.sweep.trial`: one trial (a training run, reporting epochs to the pruner);
- :mod:`~vedere.sweep.study`: the ask–train–tell loop, trials.csv, the ``best`` link, resume;
- :mod:`~vedere.sweep.report`: report.md and its figures.
"""

from .spec import Spec, SpecError, load
from .study import SweepError, SweepResult, run_sweep

__all__ = ["Spec", "SpecError", "SweepError", "SweepResult", "load", "run_sweep"]
