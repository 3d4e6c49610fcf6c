"""A residual connection (He et al. 2016): y = body(x) + shortcut(x).

The shortcut is the identity unless given (a 1×1 convolution when the body changes the
number of channels or the resolution), so a ResNet block reads::

    Residual(Sequential(Conv2d(c, c, 3, padding=1), BatchNorm2d(c), ReLU(),
                        Conv2d(c, c, 3, padding=1), BatchNorm2d(c)))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .module import Module
from .parameter import Buffer, Parameter
from .validation import check_float_array


class Residual(Module):
    """y = body(x) + shortcut(x), shortcut = identity when None.

    Shapes: body(x) and shortcut(x) must have the same shape (that of y).

    Backward: the sum sends dL/dy unchanged down both branches, and dL/dx adds what comes
    back: dL/dx = body'ᵀ dL/dy + shortcut'ᵀ dL/dy (= body'ᵀ dL/dy + dL/dy for the identity).
    Parameters are named ``body.…`` and ``shortcut.…``, as the same module in PyTorch.
    """

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(body, Module):
            raise ValueError(f"body must be a vedere.nn Module, got {type(body).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise ValueError(
                f"shortcut must be a vedere.nn Module or None, got {type(shortcut).__name__}"
            )
        self.body, self.shortcut = body, shortcut
        dtypes = {str(p.dtype) for p in self.parameters()}
        if len(dtypes) > 1:
            raise ValueError(f"body and shortcut must share one dtype, got {sorted(dtypes)}")

    @classmethod
    def from_config(
        cls, config: dict[str, Any], build: Callable[[dict[str, Any]], Module]
    ) -> Residual:
        """Rebuild from :meth:`get_config` (``build`` turns each child's dict into a module)."""
        cls._check_config(config)
        shortcut = config.get("shortcut")
        return cls(build(config["body"]), None if shortcut is None else build(shortcut))

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The children's declared shapes (:func:`vedere.nn.io.declared_shapes`), prefixed
        ``body.`` and ``shortcut.``."""
        from .io import declared_shapes

        cls._check_config(config)
        out = {f"body.{n}": s for n, s in declared_shapes(config["body"]).items()}
        if config.get("shortcut") is not None:
            shortcut = declared_shapes(config["shortcut"])
            out.update((f"shortcut.{n}", s) for n, s in shortcut.items())
        return out

    @staticmethod
    def _check_config(config: Any) -> None:
        if not isinstance(config, dict) or not isinstance(config.get("body"), dict):
            raise ValueError("Residual needs a config with a 'body' architecture")
        shortcut = config.get("shortcut")
        if shortcut is not None and not isinstance(shortcut, dict):
            raise ValueError("Residual's 'shortcut' must be an architecture or null")
        if set(config) - {"body", "shortcut"}:
            raise ValueError("Residual's config holds only 'body' and 'shortcut'")

    def check_input(self, x: object, name: str) -> np.ndarray:
        x = check_float_array(x, name, dtype=self.dtype)
        self.body.check_input(x, name)
        if self.shortcut is not None:
            self.shortcut.check_input(x, name)
        return x

    def _forward(self, x: np.ndarray) -> np.ndarray:
        y = self.body._forward(x)
        s = x if self.shortcut is None else self.shortcut._forward(x)
        if y.shape != s.shape:
            raise ValueError(
                f"Residual: body output has shape {y.shape} but the shortcut gives {s.shape} "
                f"(input shape {x.shape}); give a shortcut that matches the body"
            )
        self.body._out_shape = y.shape
        return y + s

    def _backward(self, grad_out: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        dx = self.body._backward(grad_out, need_input_grad)  # body'ᵀ dL/dy
        if self.shortcut is None:
            ds = grad_out  # the identity passes dL/dy through
        else:
            ds = self.shortcut._backward(grad_out, need_input_grad)
        if not need_input_grad:
            return None
        return dx + ds

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        out = [(f"body.{n}", p) for n, p in self.body.named_parameters()]
        if self.shortcut is not None:
            out += [(f"shortcut.{n}", p) for n, p in self.shortcut.named_parameters()]
        return out

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        out = [(f"body.{n}", b) for n, b in self.body.named_buffers()]
        if self.shortcut is not None:
            out += [(f"shortcut.{n}", b) for n, b in self.shortcut.named_buffers()]
        return out

    def train(self, mode: bool = True) -> Residual:
        self.training = mode
        self.body.train(mode)
        if self.shortcut is not None:
            self.shortcut.train(mode)
        return self

    def get_config(self) -> dict[str, Any]:
        def arch(m: Module) -> dict[str, Any]:
            return {"type": type(m).type_name(), "config": m.get_config()}

        return {
            "body": arch(self.body),
            "shortcut": None if self.shortcut is None else arch(self.shortcut),
        }

    def __repr__(self) -> str:
        return f"Residual(body={self.body!r}, shortcut={self.shortcut!r})"
