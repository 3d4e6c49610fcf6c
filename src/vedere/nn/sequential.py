"""Sequential: a network as a chain of layers, f(x) = f_L(… f_2(f_1(x)) …).

Forward runs the layers in order; backward runs them in reverse, each turning dL/d(output)
into dL/d(input) — the chain rule dL/dθ_1 = dL/dŷ · dŷ/dz_2 · dz_2/dg · dg/dz_1 · dz_1/dθ_1,
evaluated right to left one factor per layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import numpy as np

from .activations import GELU, ReLU
from .batchnorm import _BatchNorm
from .module import Module
from .parameter import Buffer, Parameter
from .validation import check_float_array


class Sequential(Module):
    """A chain of modules.  ``Sequential(Linear(3072, 512), ReLU(), Linear(512, 10))``.

    A BatchNorm followed by a ReLU, or in float32 by an exact GELU, runs as one fused pass
    each way (:mod:`vedere.nn.bn_act_kernels`; the same numbers to rounding) unless
    ``fuse_bn_act`` is set False.
    """

    #: run each BatchNorm → ReLU / GELU pair as one fused pass
    fuse_bn_act = True

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise ValueError(
                    f"layer {i} must be a vedere.nn Module, got {type(layer).__name__}"
                )
        self.layers: list[Module] = list(layers)
        dtypes = {str(p.dtype) for p in self.parameters()}
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(dtypes)}")
        # layers up to and including the first one with parameters validate their input
        n_checked = next((i + 1 for i, m in enumerate(self.layers) if m.parameters()), 1)
        self._n_checked = min(n_checked, len(self.layers))
        self._fused: dict[int, bool] = {}

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def check_input(self, x: object, name: str) -> np.ndarray:
        return check_float_array(x, name, dtype=self.dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run every layer in order; the input is validated once (dtype, shape, finite)."""
        self.check_input(x, "x")
        return self._run(x, self._n_checked)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """Run every layer without validating the input (when nested in another module)."""
        return self._run(x, 0)

    def _fusable(self, checked: int) -> dict[int, bool]:
        """{i: is it ReLU} for the BatchNorm layers i >= ``checked`` that a ReLU, or in
        float32 an exact GELU, follows as layer i + 1: each pair runs as one pass."""
        if not self.fuse_bn_act:
            return {}
        out = {}
        layers = self.layers
        for i in range(checked, len(layers) - 1):
            norm, act = layers[i], layers[i + 1]
            if not isinstance(norm, _BatchNorm):
                continue
            if type(act) is ReLU:
                out[i] = True
            elif type(act) is GELU and act.approximate == "none":
                if norm.weight.dtype == np.float32:
                    out[i] = False
        return out

    def _run(self, x: np.ndarray, checked: int) -> np.ndarray:
        """The layers in order, the first ``checked`` validating their input."""
        fused = self._fusable(checked)
        i = 0
        while i < len(self.layers):
            layer = self.layers[i]
            if i in fused:
                x = layer._forward_act(x, fused[i])  # type: ignore[attr-defined]
                i += 2
                continue
            x = layer.forward(x) if i < checked else layer._forward(x)
            i += 1
        self._fused = fused
        self._out_shape = x.shape
        return x

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        """Back through the layers, last first. Layer i returns dL/d(its input) only when
        something in front of it wants a gradient (``need_input_grad``, or a parameter of
        layers 0..i-1 that :meth:`Module.wants_grad`): in front of a frozen stem the chain
        stops, and a layer that wants nothing and feeds nothing that does is skipped."""
        g: np.ndarray | None = grad_out
        wants = [layer.wants_grad() for layer in self.layers]
        front = need_input_grad  # does layer i's input need its gradient?
        needs = []
        for w in wants:
            needs.append(front)
            front = front or w
        i = len(self.layers) - 1
        while i >= 0:
            if not (needs[i] or wants[i]):
                return None  # nothing from here to the input wants a gradient
            if i - 1 in self._fused:  # layer i is the activation of a fused pair
                g = self.layers[i - 1]._backward_act(g, needs[i - 1])  # type: ignore[attr-defined]
                i -= 2
                continue
            g = self.layers[i]._backward(g, needs[i])
            i -= 1
        return g

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate dL/d(output) through every layer, accumulating each dL/dθ.

        Returns dL/dx for the network's input only when ``need_input_grad`` is True (the
        input is data, so by default its gradient is not computed).
        """
        return super().backward(grad_out, need_input_grad)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{n}", p) for i, m in enumerate(self.layers) for n, p in m.named_parameters()]

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return [(f"{i}.{n}", b) for i, m in enumerate(self.layers) for n, b in m.named_buffers()]

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for m in self.layers:
            m.train(mode)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameter and buffer arrays by name (copies), as PyTorch's ``state_dict``."""
        state = {n: p.data.copy() for n, p in self.named_parameters()}
        state.update((n, b.data.copy()) for n, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers; names, shapes and dtypes must match
        exactly."""
        own: dict[str, Parameter | Buffer] = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(
                f"state does not match the model: missing {missing}, unexpected {extra}"
            )
        for n, p in own.items():
            a = state[n]
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(
                    f"parameter {n}: model has {p.shape} {p.dtype}, state has {a.shape} {a.dtype}"
                )
        for n, p in own.items():
            np.copyto(p.data, state[n])

    def get_config(self) -> dict[str, Any]:
        return {
            "layers": [{"type": type(m).type_name(), "config": m.get_config()} for m in self.layers]
        }

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {m!r}" for i, m in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


def mlp(
    sizes: list[int] | tuple[int, ...],
    activation: str = "relu",
    init: str = "he",
    dropout: float = 0.0,
    rng: np.random.Generator | int | None = None,
    dtype: str | np.dtype | type = "float32",
) -> Sequential:
    """A multi-layer perceptron: Linear → activation (→ Dropout) … → Linear.

    ``sizes`` = [n_in, hidden_1, …, n_out]; e.g. ``mlp([3072, 512, 10])``. All random draws
    (weights, dropout masks) come from one generator seeded by ``rng`` (an int seed or a
    Generator; None, the default, draws fresh entropy: a different network each call).
    """
    from .activations import activation as make_activation
    from .dropout import Dropout
    from .init import as_generator
    from .linear import Linear

    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {list(sizes)}")
    gen = as_generator(rng)
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        layers.append(Linear(n_in, n_out, init=init, rng=gen, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(Dropout(dropout, rng=gen))
    return Sequential(*layers)
