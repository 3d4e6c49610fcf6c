"""``activations``: sigmoid, tanh, ReLU and leaky ReLU — the functions, their derivatives as
the course writes them (f(1−f), 1−f², a step), checked against each layer's backward pass,
and how fast a network of each trains."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import activation
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path, finals, plot_runs
from .training import train

NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")


def _formula(name: str, z: np.ndarray, f: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return f * (1 - f)
    if name == "tanh":
        return 1 - f * f
    if name == "relu":
        return (z > 0).astype(float)
    return np.where(z > 0, 1.0, 0.01)


def run(ctx: Context) -> dict[str, Any]:
    z = np.linspace(-5, 5, 1001)
    z = z[np.abs(z) > 1e-9]  # the kink of ReLU has no derivative
    fig = new_figure(9, 3.4)
    a1, a2 = fig.subplots(1, 2)
    errors = {}
    for name in NAMES:
        layer = activation(name)
        f = layer.forward(z[None, :])[0]
        d = layer.backward(np.ones((1, len(z))))[0]
        errors[name] = float(np.abs(d - _formula(name, z, f)).max())
        a1.plot(z, f, label=name)
        a2.plot(z, d, label=name)
    a1.set_title("f(z)")
    a2.set_title("f'(z) from the backward pass")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.grid(alpha=0.3)
    p1 = save_png(fig, figure_path(ctx, "functions"))

    data = ctx.cifar(n_train=600 if ctx.quick else 10000)
    epochs = 6 if ctx.quick else 20
    runs = {}
    for name in NAMES:
        cfg = dict(
            hidden=(256, 256, 256),
            activation=name,
            init="xavier" if name in ("sigmoid", "tanh") else "he",
            epochs=epochs,
            batch_size=64,
            optimizer="momentum",
            lr=0.01,
        )
        runs[name] = ctx.cached(
            f"train-{name}", lambda cfg=cfg: train(data, seed=ctx.seed, **cfg), settings=cfg
        )
    p2 = plot_runs(ctx, "training", runs)
    rep = Report(
        ctx,
        "Activation functions and their derivatives",
        f"Derivatives read from each layer's backward pass against the course's formulas; "
        f"then a 3-hidden-layer MLP (256 units) with each activation on {data['source']} "
        f"({len(data['y_train'])} training images, {epochs} epochs, SGD with momentum, lr 0.01).",
    )
    rep.table(
        ["activation", "max |backward − formula|", "final training loss", "final val. accuracy"],
        [
            [n, f"{errors[n]:.1e}", runs[n]["final_train_loss"], runs[n]["final_val_acc"]]
            for n in NAMES
        ],
    )
    rep.figure(p1, "functions and derivatives")
    rep.figure(p2, "training curves")
    order = sorted(NAMES, key=lambda n: runs[n]["final_train_loss"])
    rep.reading(
        "The sigmoid's derivative is at most 1/4 and vanishes for large |z|, so the gradient "
        "shrinks through every layer of a deep sigmoid network; tanh's reaches 1 and ReLU's is "
        "1 wherever the unit is active. Final training losses, lowest first: "
        + ", ".join(f"{n} {runs[n]['final_train_loss']:.3g}" for n in order)
        + "."
    )
    rep.write()
    return {
        "derivative_errors": errors,
        "runs": finals(runs),
    }
