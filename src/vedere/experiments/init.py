"""``init``: zeros, 0.01·N(0, 1), 1/sqrt(n) (Xavier) and He initialisation of a deep MLP (8
hidden layers) with tanh and ReLU — per-layer activations at initialisation (the vanishing
and exploding picture), training curves, and the symmetry that zero initialisation never
breaks."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..data.transforms import Normalizer
from ..nn import Linear, mlp
from ..viz.curves import epoch_axis
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import train

INITS = {"zeros": "zeros", "0.01·N(0,1)": "small", "1/sqrt(n)": "xavier", "He": "he"}
DEPTH = 8


def _layer_stats(
    x: np.ndarray, act: str, init: str, seed: int
) -> tuple[list[float], list[np.ndarray]]:
    net = mlp([x.shape[1], *([256] * DEPTH), 10], act, init, rng=seed)
    net.eval()
    stds, samples = [], []
    h = x
    for layer in net.layers:
        h = layer.forward(h)
        if not isinstance(layer, Linear):  # after each activation
            stds.append(float(h.std()))
            samples.append(h.ravel()[:20000])
    return stds, samples


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=300 if ctx.quick else 5000)
    x = Normalizer().fit(data["x_train"])(data["x_train"][:256])
    results: dict[str, Any] = {"std": {}, "train": {}, "symmetric": {}}
    figs = []
    for act in ("tanh", "relu"):
        fig = new_figure(2.2 * len(INITS), 2.0 * 4)
        axes = fig.subplots(4, len(INITS))
        for j, (label, init) in enumerate(INITS.items()):
            stds, samples = _layer_stats(x, act, init, ctx.seed)
            results["std"][f"{act}/{label}"] = stds
            for row, layer in enumerate((0, 2, 5, DEPTH - 1)):
                ax = axes[row, j]
                ax.hist(samples[layer], bins=50, color="C0")
                ax.set_yticks([])
                ax.tick_params(labelsize=6)
                ax.set_title(f"{label} layer {layer + 1}\nσ = {stds[layer]:.2g}", fontsize=7)
        figs.append((act, save_png(fig, figure_path(ctx, f"histograms_{act}"))))
    epochs = 3 if ctx.quick else 15
    jobs = {
        f"{act}/{label}": (
            f"train-{act}-{init}",
            partial(_train_and_symmetry, data, act, init, epochs, ctx.seed),
            {"activation": act, "init": init, "epochs": epochs},
        )
        for act in ("tanh", "relu")
        for label, init in INITS.items()
    }
    results["train"].update(ctx.cached_many(jobs))
    for key in jobs:
        results["symmetric"][key] = results["train"][key]["symmetric"]
    fig = new_figure(9, 3.4)
    axes = fig.subplots(1, 2)
    for ax, act in zip(axes, ("tanh", "relu"), strict=True):
        for label in INITS:
            r = results["train"][f"{act}/{label}"]
            ax.plot(r["epoch"], r["train_loss"], label=label)
        ax.set_title(f"{DEPTH}-hidden-layer {act} MLP")
        epoch_axis(ax)
        ax.set_ylabel("training loss")
        ax.legend(fontsize=7)
    curves = save_png(fig, figure_path(ctx, "training"))
    rep = Report(
        ctx,
        "Initialisation of a deep network",
        f"MLP 3072 → {DEPTH}×256 → 10 on {data['source']}: the spread of each layer's "
        f"activations at initialisation (256 images), then {epochs} epochs of training.",
    )
    rep.table(
        ["network", "σ layer 1", f"σ layer {DEPTH}", "final loss", "hidden units identical"],
        [
            [k, v[0], v[-1], results["train"][k]["final_train_loss"], results["symmetric"][k]]
            for k, v in results["std"].items()
        ],
    )
    for act, p in figs:
        rep.figure(p, f"activation histograms, {act}")
    rep.figure(curves, "training curves")
    rep.reading(
        "Too small a scale (0.01) makes the activations shrink layer by layer until the deep "
        "layers carry nothing (vanishing); 1/sqrt(n) keeps tanh's spread and He keeps ReLU's. "
        "Zero initialisation gives every hidden unit the same gradient, so they stay identical "
        "and the network never learns more than one feature per layer."
    )
    rep.write()
    return results


def _train_and_symmetry(data: dict, act: str, init: str, epochs: int, seed: int) -> dict:
    r = train(
        data,
        hidden=(256,) * DEPTH,
        activation=act,
        init=init,
        seed=seed,
        keep_model=True,
        epochs=epochs,
        batch_size=64,
        optimizer="momentum",
        lr=0.01,
    )
    first = r["model"].layers[0].weight.data  # (in, out) or (out, in): compare units
    w = first if first.shape[0] == 256 else first.T
    r["symmetric"] = bool(np.allclose(w, w[:1], atol=1e-6))
    r.pop("model")
    r.pop("scaler")
    return r
