"""The course as experiments: ``vedere experiment NAME`` regenerates each lesson's figure from
real runs (one module per experiment; see :mod:`vedere.experiments.base`)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from .base import Context, _plain
from .training import PROGRESS

EXPERIMENTS = {
    "learning-rate": "learning_rate",
    "optimizers": "optimizers",
    "batch-size": "batch_size",
    "init": "init",
    "activations": "activations",
    "overfitting": "overfitting",
    "nonlinear": "nonlinear",
    "difficulties": "difficulties",
    "classifiers": "classifiers",
    "gradient-check": "gradient_check",
    "viola-jones": "viola_jones",
    "convolution": "convolution",
    "fast-cifar": "fast_cifar",
}


def run_experiment(
    name: str,
    out: str | Path,
    quick: bool = False,
    seed: int = 0,
    data: str | None = None,
    executor: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """Run one experiment; writes figures and ``report.md`` to ``out``; returns its results.

    ``executor`` (:mod:`vedere.executor`) trains the experiment's independent runs in
    parallel (learning-rate, batch-size, optimizers, init, overfitting, classifiers)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    module = importlib.import_module(f".{EXPERIMENTS[name]}", __name__)
    ctx = Context(
        name, Path(out), quick=quick, seed=seed, data=data, options=dict(options), executor=executor
    )
    token = PROGRESS.set(not quick)
    try:
        result = module.run(ctx, **options)
    finally:
        PROGRESS.reset(token)
    # plain JSON types (string keys, lists): what a resumed run reads back is identical
    return json.loads(json.dumps(_plain(result)))


__all__ = ["EXPERIMENTS", "Context", "run_experiment"]
