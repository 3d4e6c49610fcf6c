"""The demo job: train an MLP on a toy 2-D set with the engine and report its accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import nn
from .data import toy
from .nn import optim


@dataclass
class DemoResult:
    dataset: str
    hidden: tuple[int, ...]
    n_classes: int
    epochs: int
    final_loss: float
    train_accuracy: float
    test_accuracy: float


def run_demo(
    dataset: str = "spirals",
    hidden: tuple[int, ...] = (64, 64),
    epochs: int = 600,
    lr: float = 0.01,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Train ``mlp([2, *hidden, n_classes])`` with Adam (full batch) and measure accuracy.

    400 training and 400 test points are drawn from ``dataset`` with seeds ``seed`` and
    ``seed + 1``; accuracy = fraction of points whose arg-max class is right.
    """
    x, y = toy.make(dataset, n=400, seed=seed)
    x_test, y_test = toy.make(dataset, n=400, seed=seed + 1)
    n_classes = int(y.max()) + 1
    model = nn.mlp([2, *hidden, n_classes], activation="tanh", init="xavier", rng=seed)
    loss_fn = nn.SoftmaxCrossEntropy()
    opt = optim.Adam(model.parameters(), lr=lr)
    bar = tqdm(
        range(epochs),
        desc=f"training on {dataset}",
        disable=not progress,
        unit="epoch",
        mininterval=0.5,
    )
    loss = float("nan")
    for epoch in bar:
        model.train()
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        opt.zero_grad()
        if epoch % 20 == 0:
            bar.set_postfix(loss=f"{loss:.4f}")
    model.eval()

    def accuracy(a: np.ndarray, b: np.ndarray) -> float:
        return float((model.forward(a).argmax(axis=1) == b).mean())

    return DemoResult(
        dataset, tuple(hidden), n_classes, epochs, loss, accuracy(x, y), accuracy(x_test, y_test)
    )
