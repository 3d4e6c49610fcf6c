"""Optimisers: how a step θ ← θ - α·(something built from dL/dθ) is taken.

Each follows PyTorch's ``torch.optim`` update rule exactly (tests compare the first steps),
written in place on the parameters. g = dL/dθ, t = step number (from 1), α = ``lr``.

- SGD:       θ ← θ - α g                                     (the course's rule)
- momentum:  v ← μ v + g;  θ ← θ - α v                       (``SGD(momentum=μ)``)
- Nesterov:  v ← μ v + g;  θ ← θ - α (g + μ v)               (``SGD(momentum=μ, nesterov=True)``)
- AdaGrad:   G ← G + g²;   θ ← θ - α g / (√G + ε)
- RMSProp:   s ← ρ s + (1-ρ) g²;  θ ← θ - α g / (√s + ε)
- Adam:      m ← β₁m + (1-β₁)g;  v ← β₂v + (1-β₂)g²;  θ ← θ - α/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
- AdamW:     θ ← θ(1 - α λ), then the Adam step (decoupled weight decay)

``weight_decay`` λ in SGD, AdaGrad, RMSProp and Adam adds λθ to g (coupled, = L2 penalty).

Parameter groups (PyTorch's ``param_groups``): ``params`` may mix Parameters and
:class:`ParamGroup` s. A group's parameters step with α·``lr_scale`` and their own
``weight_decay`` λ_g (None: the optimiser's λ), and a group with ``epochs`` = E trains only
while :meth:`Optimizer.set_epoch` was told an epoch < E (airbench's whitening bias trains
for 3 epochs, then stays). Frozen parameters (``trainable`` False) are never changed.

Decay as a fraction of the rate (airbench's convention): with λ_g = w / (α₀·s_g), a group of
rate α₀·s_g gets the same absolute decay α₀·s_g·λ_g·θ = w·θ per step (times the schedule's
factor) whatever its scale s_g — :func:`decay_per_step` computes λ_g.

The updates run in place and allocate nothing: SGD's (plain, momentum, Nesterov, with its
coupled decay) as one compiled pass per parameter (:func:`vedere.nn.kernels.sgd_step`: each
value of θ, g and v read once, where three BLAS calls read θ three times and v twice), the
others through BLAS ``axpy``/``scal`` (:mod:`vedere.nn.blas`) and one scratch buffer per
parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .blas import axpby, axpy, scal
from .kernels_loader import kernels
from .param_group import ParamGroup, _check_positive, _check_unit
from .parameter import Parameter


def _flat_ok(p: Parameter, state: np.ndarray) -> bool:
    """Whether ``p``'s update can run as one compiled pass over flat views of its arrays
    (θ and its ``state`` buffer written through them)."""
    d = p.data
    return (
        d.dtype in (np.float32, np.float64)
        and d.flags.c_contiguous
        and d.flags.writeable
        and state.flags.c_contiguous
        and state.dtype == d.dtype
    )


def _adaptive_step(
    p: Parameter,
    num: np.ndarray,
    acc: np.ndarray,
    work: np.ndarray,
    lr: float,
    eps: float,
    scale: float = 1.0,
) -> None:
    """θ ← θ - lr · num / (scale·√acc + ε), in place, with ``work`` as scratch space."""
    np.sqrt(acc, out=work)
    if scale != 1.0:
        work *= p.dtype.type(scale)
    work += p.dtype.type(eps)
    np.divide(num, work, out=work)
    axpy(-lr, work, p.data)


class Optimizer:
    """Base class: holds the parameters (in groups), the learning rate ``lr`` and
    per-parameter state. ``params``: Parameters and/or :class:`ParamGroup` s (the loose
    Parameters form one default group)."""

    def __init__(
        self, params: Iterable[Parameter | ParamGroup], lr: float, weight_decay: float = 0.0
    ) -> None:
        loose: list[Parameter] = []
        groups: list[ParamGroup] = []
        for i, p in enumerate(list(params)):
            if isinstance(p, ParamGroup):
                groups.append(p)
            elif isinstance(p, Parameter):
                loose.append(p)
            else:
                raise ValueError(
                    f"params[{i}] is a {type(p).__name__}, not a vedere Parameter or ParamGroup"
                )
        if loose:
            groups.insert(0, ParamGroup(loose, name="default"))
        self.groups = groups
        self.params = [p for g in groups for p in g.params]
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise ValueError(f"params[{i}] is a {type(p).__name__}, not a vedere Parameter")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("a parameter appears in more than one optimizer group")
        self._group_of = [g for g in groups for _ in g.params]
        for g in groups:  # a parameter rested by an earlier optimiser trains again in this one
            for p in g.params:
                p.resting = not g.active
        self.lr = _check_positive("lr", lr)
        self.weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
        self.t = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._scratch: dict[int, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        """Activate the groups that train in ``epoch`` (0-based): those without ``epochs``
        and those with ``epochs`` > epoch. The others' parameters are marked ``resting``, so
        that backward passes skip their gradients."""
        for g in self.groups:
            g.active = g.epochs is None or epoch < g.epochs
            for p in g.params:
                p.resting = not g.active

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every trainable parameter of every active group once from its gradient
        (the others keep their values; their state buffers exist, at zero, for checkpoints)."""
        self.t += 1
        for p, state, g in zip(self.params, self.state, self._group_of, strict=True):
            if g.active and p.trainable:
                wd = self.weight_decay if g.weight_decay is None else g.weight_decay
                self._update(p, state, self.lr * g.lr_scale, wd)
            else:
                for name in self.buffer_names():
                    self._buffer(state, name, p.data)

    def _buffer(self, state: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
        buf = state.get(name)
        if buf is None:
            buf = state[name] = np.zeros_like(like)
        return buf

    def _scratch_for(self, p: Parameter) -> np.ndarray:
        """A reusable work array shaped like ``p`` (not part of the saved state)."""
        buf = self._scratch.get(id(p))
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
            buf = self._scratch[id(p)] = np.empty_like(p.data)
        return buf

    def _grad(self, p: Parameter, wd: float) -> np.ndarray:
        """g, plus λθ when coupled weight decay is on."""
        if wd:
            return p.grad + p.dtype.type(wd) * p.data
        return p.grad

    def _update(self, p: Parameter, state: dict[str, np.ndarray], lr: float, wd: float) -> None:
        """One step of parameter ``p`` at rate ``lr`` with coupled decay ``wd``."""
        raise NotImplementedError

    def buffer_names(self) -> tuple[str, ...]:
        """The state buffers every parameter has once a step was taken (for checkpoints)."""
        return ()

    # -- checkpoints ---------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every state buffer as ``"{param index}.{buffer}"`` -> array (for checkpoints)."""
        return {f"{i}.{k}": v for i, s in enumerate(self.state) for k, v in s.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], t: int, lr: float) -> None:
        """Restore buffers saved by :meth:`state_arrays`, the step count and the rate."""
        state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        for key, arr in arrays.items():
            i_str, _, name = key.partition(".")
            i = int(i_str)
            if not 0 <= i < len(self.params) or arr.shape != self.params[i].shape:
                raise ValueError(f"optimizer state {key!r} does not match the parameters")
            state[i][name] = arr.astype(self.params[i].dtype, copy=True)
        self.state, self.t, self.lr = state, int(t), float(lr)

    def get_config(self) -> dict[str, Any]:
        """The optimiser's hyper-parameters (learning rate, weight decay, groups), JSON-ready."""
        cfg: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if len(self.groups) > 1 or self.groups[0].name != "default":
            cfg["groups"] = [g.describe() for g in self.groups]
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum μ.  See the module docstring."""

    def __init__(
        self,
        params: Iterable[Parameter | ParamGroup],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_unit("momentum", momentum)
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, p: Parameter, state: dict[str, np.ndarray], lr: float, wd: float) -> None:
        v = self._buffer(state, "velocity", p.data) if self.momentum else p.data[:0]
        if _flat_ok(p, v):  # one compiled pass (kernels.sgd_step) instead of three BLAS calls
            t = p.dtype.type
            kind = 2 if self.nesterov else 1 if self.momentum else 0
            a_v = -lr * self.momentum if self.nesterov else -lr
            kernels().sgd_step(
                p.data.reshape(-1), p.grad.reshape(-1), v.reshape(-1), kind,
                t(-lr), t(a_v), t(self.momentum), t(wd),
            )  # fmt: skip
            return
        g = self._grad(p, wd)
        if not self.momentum:
            axpy(-lr, g, p.data)  # θ ← θ - α g
            return
        axpby(1.0, g, self.momentum, v)  # v ← μ v + g
        if self.nesterov:
            axpy(-lr, g, p.data)
            axpy(-lr * self.momentum, v, p.data)  # θ ← θ - α (g + μ v)
        else:
            axpy(-lr, v, p.data)  # θ ← θ - α v

    def buffer_names(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


def Momentum(
    params: Iterable[Parameter | ParamGroup], lr: float = 0.01, momentum: float = 0.9, **kw: Any
) -> SGD:
    """SGD with (heavy-ball) momentum μ."""
    return SGD(params, lr=lr, momentum=momentum, **kw)


def Nesterov(
    params: Iterable[Parameter | ParamGroup], lr: float = 0.01, momentum: float = 0.9, **kw: Any
) -> SGD:
    """SGD with Nesterov momentum μ."""
    return SGD(params, lr=lr, momentum=momentum, nesterov=True, **kw)


class AdaGrad(Optimizer):
    """Per-coordinate rates that shrink with the sum of past squared gradients."""

    def __init__(
        self,
        params: Iterable[Parameter | ParamGroup],
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.eps = _check_positive("eps", eps)

    def _update(self, p: Parameter, state: dict[str, np.ndarray], lr: float, wd: float) -> None:
        g = self._grad(p, wd)
        acc = self._buffer(state, "sum_sq", p.data)
        work = self._scratch_for(p)
        np.multiply(g, g, out=work)
        axpy(1.0, work, acc)  # G ← G + g²
        _adaptive_step(p, g, acc, work, lr, self.eps)  # θ ← θ - α g / (√G + ε)

    def buffer_names(self) -> tuple[str, ...]:
        return ("sum_sq",)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "eps": self.eps}


class RMSProp(Optimizer):
    """Per-coordinate rates from a moving average of squared gradients (decay ``alpha`` = ρ)."""

    def __init__(
        self,
        params: Iterable[Parameter | ParamGroup],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha = _check_unit("alpha", alpha)
        self.eps = _check_positive("eps", eps)

    def _update(self, p: Parameter, state: dict[str, np.ndarray], lr: float, wd: float) -> None:
        g = self._grad(p, wd)
        s = self._buffer(state, "mean_sq", p.data)
        work = self._scratch_for(p)
        np.multiply(g, g, out=work)
        axpby(1 - self.alpha, work, self.alpha, s)  # s ← ρ s + (1-ρ) g²
        _adaptive_step(p, g, s, work, lr, self.eps)  # θ ← θ - α g / (√s + ε)

    def buffer_names(self) -> tuple[str, ...]:
        return ("mean_sq",)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "eps": self.eps}


class Adam(Optimizer):
    """Adaptive moments: momentum on g and RMSProp on g², both bias-corrected."""

    decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter | ParamGroup],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.betas = (_check_unit("betas[0]", betas[0]), _check_unit("betas[1]", betas[1]))
        self.eps = _check_positive("eps", eps)

    def _update(self, p: Parameter, state: dict[str, np.ndarray], lr: float, wd: float) -> None:
        if self.decoupled:
            if wd:
                scal(1 - lr * wd, p.data)  # θ ← θ(1 - αλ)
            g = p.grad
        else:
            g = self._grad(p, wd)
        b1, b2 = self.betas
        m = self._buffer(state, "m", p.data)
        v = self._buffer(state, "v", p.data)
        work = self._scratch_for(p)
        axpby(1 - b1, g, b1, m)  # m ← β₁m + (1-β₁)g
        np.multiply(g, g, out=work)
        axpby(1 - b2, work, b2, v)  # v ← β₂v + (1-β₂)g²
        bc1 = 1 - b1**self.t
        bc2 = 1 - b2**self.t
        # θ ← θ - α/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
        _adaptive_step(p, m, v, work, lr / bc1, self.eps, 1 / math.sqrt(bc2))

    def buffer_names(self) -> tuple[str, ...]:
        return ("m", "v")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "betas": list(self.betas), "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ(1 - αλ) before each step."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter | ParamGroup],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


def make_optimizer(
    name: str, params: Iterable[Parameter | ParamGroup], lr: float, **kw: Any
) -> Optimizer:
    """An optimiser by the command line's name (sgd, momentum, nesterov, adagrad, …)."""
    key = name.lower()
    makers: dict[str, Any] = {
        "sgd": SGD,
        "momentum": Momentum,
        "nesterov": Nesterov,
        "adagrad": AdaGrad,
        "rmsprop": RMSProp,
        "adam": Adam,
        "adamw": AdamW,
    }
    if key not in makers:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return makers[key](params, lr=lr, **kw)


def clip_grad_norm(params: Iterable[Parameter | ParamGroup], max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    ‖g‖ = sqrt(Σ_p Σ g²); if ‖g‖ > max_norm every g is multiplied by max_norm / (‖g‖ + 1e-6).
    Returns ‖g‖ before clipping (as ``torch.nn.utils.clip_grad_norm_`` does).
    """
    max_norm = _check_positive("max_norm", max_norm)
    params = list(params)
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for p in params:
            scal(coef, p.grad)
    return total
