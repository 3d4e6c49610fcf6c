"""The layer contract: ``forward`` caches what ``backward`` needs; ``backward`` applies the chain
rule.

Every layer maps an input x to an output y = f(x; θ). Given the upstream gradient dL/dy,
``backward`` returns dL/dx = dL/dy · dy/dx and accumulates dL/dθ = dL/dy · dy/dθ into
each parameter's ``grad`` — the two factors of the course's chain rule, one layer at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from .parameter import Buffer, Parameter
from .validation import check_float_array

#: vedere's own layer types by bare class name (``"Linear"``): the names model files use
LAYER_TYPES: dict[str, type[Module]] = {}
#: every Module subclass, vedere's and users', by qualified name (``"mypkg.layers.ReLU"``)
QUALIFIED_TYPES: dict[str, type[Module]] = {}
_OWN_PACKAGE = "vedere.nn."


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class: unique, unlike the bare class name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def layer_type(name: str) -> type[Module] | None:
    """The layer class a model file's ``type`` names: a bare name (``"ReLU"``) means
    vedere's own layer of that name, whatever classes users define; a qualified name
    (``"vedere.nn.activations.ReLU"``) means exactly that class. None if unknown."""
    return LAYER_TYPES.get(name) or QUALIFIED_TYPES.get(name)


class Module:
    """Base class of every layer and of :class:`~vedere.nn.Sequential`.

    Subclasses implement ``_forward(x)`` and ``_backward(grad_out, need_input_grad)``;
    the public ``forward`` / ``backward`` validate their arguments first and then call them.
    """

    #: rank(s) the input may have; None accepts any rank >= 1
    input_ndim: ClassVar[int | tuple[int, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Registered by qualified name, so that a user's own ``class ReLU(Module)`` neither
        # replaces vedere's ReLU nor is taken for it; vedere's layers also by bare name,
        # the ``type`` their model files carry (files written so far keep loading).
        super().__init_subclass__(**kwargs)
        QUALIFIED_TYPES[qualified_name(cls)] = cls
        if cls.__module__.startswith(_OWN_PACKAGE):
            other = LAYER_TYPES.get(cls.__name__)
            if other is not None and qualified_name(other) != qualified_name(cls):
                raise TypeError(
                    f"two vedere layers named {cls.__name__}: {qualified_name(other)} and "
                    f"{qualified_name(cls)}; model files could not tell them apart"
                )
            LAYER_TYPES[cls.__name__] = cls

    @classmethod
    def type_name(cls) -> str:
        """The ``type`` a model file records: the bare class name for vedere's own layers,
        the qualified name (module + class) for any other."""
        return cls.__name__ if LAYER_TYPES.get(cls.__name__) is cls else qualified_name(cls)

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]] | None:
        """The shapes of the arrays ``cls(**config)`` would save (its parameters, and any
        non-trainable state), by name, computed without building it and without trusting
        ``config`` (ValueError if it is invalid).

        A model file's tensors are checked against these before any layer is allocated.
        Layers with parameters override this (containers with
        :func:`vedere.nn.io.declared_shapes` on each child's ``{"type", "config"}``); the
        default, None, means "unknown: build the layer to find out", which costs nothing
        for parameter-free layers.
        """
        return None

    def __init__(self) -> None:
        self.training = True
        self._out_shape: tuple[int, ...] | None = None

    # -- the two passes -------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute y = f(x; θ) and cache what the backward pass needs."""
        self.check_input(x, "x")
        out = self._forward(x)
        self._out_shape = out.shape
        return out

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Given dL/dy (shape of the last output), accumulate dL/dθ and return dL/dx.

        With ``need_input_grad=False`` dL/dx is not computed (saves a matrix product on
        the first layer of a network) and None is returned.
        """
        if self._out_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        check_float_array(grad_out, "grad_out", finite=False)
        if grad_out.shape != self._out_shape:
            raise ValueError(
                f"grad_out has shape {grad_out.shape} but the last forward output had shape "
                f"{self._out_shape}"
            )
        return self._backward(grad_out, need_input_grad)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``layer(x)`` is ``layer.forward(x)`` (the subclass's, if it overrides it)."""
        return self.forward(x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        raise NotImplementedError

    # -- validation ------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of this module's parameters (None for parameter-free layers)."""
        params = self.parameters()
        return params[0].dtype if params else None

    def check_input(self, x: object, name: str) -> np.ndarray:
        """Validate an input: float ndarray of the right rank and dtype, finite values."""
        check_float_array(x, name, ndim=self.input_ndim, dtype=self.dtype)
        return x  # type: ignore[return-value]

    # -- parameters and modes --------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """(name, parameter) pairs; names follow PyTorch's (``weight``, ``0.bias``...)."""
        return []

    def children(self) -> list[Module]:
        """The modules this one holds directly: attributes that are Modules, or lists and
        tuples of Modules (so containers need not declare them)."""
        out: list[Module] = []
        for v in vars(self).values():
            if isinstance(v, Module):
                out.append(v)
            elif isinstance(v, (list, tuple)):
                out.extend(m for m in v if isinstance(m, Module))
        return out

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def parameters(self) -> list[Parameter]:
        """The learnable parameters θ of this module, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def wants_grad(self) -> bool:
        """Whether any parameter of this module (or inside it) wants its gradient now
        (:attr:`Parameter.wants_grad`): if not, and dL/dx is not needed either, its backward
        pass can be skipped."""
        return any(p.wants_grad for p in self.parameters())

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        """(name, buffer) pairs of non-trainable state saved with the model (BatchNorm's
        ``running_mean``...); names follow PyTorch's state dict."""
        return []

    def buffers(self) -> list[Buffer]:
        """The non-trainable arrays of this module, in a fixed order."""
        return [b for _, b in self.named_buffers()]

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero."""
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Switch to training mode (dropout active); returns self."""
        self.training = mode
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (dropout is the identity); returns self."""
        return self.train(False)

    def astype(self, dtype: np.dtype | type) -> Module:
        """Convert every parameter (and its gradient) to ``dtype`` in place; returns self."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = np.zeros_like(p.data)
        for b in self.buffers():  # float buffers follow; counters stay integers
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype)
        return self

    # -- description -----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this module's architecture."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
