"""A learnable parameter θ: its value and the gradient dL/dθ that backpropagation fills."""

from __future__ import annotations

import numpy as np

from .gemm import gemm


class NamedArray:
    """What a :class:`Parameter` and a :class:`Buffer` share: a named array ``data`` with its
    ``shape`` and ``dtype``."""

    __slots__ = ()
    data: np.ndarray
    name: str

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``data``."""
        return self.data.dtype

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, shape={self.data.shape}, "
            f"dtype={self.data.dtype})"
        )


class Parameter(NamedArray):
    """A learnable array and its gradient.

    ``data`` holds θ; ``grad`` holds dL/dθ with the same shape and dtype. Gradients
    *accumulate* across ``backward`` calls until :meth:`zero_grad`, as in the course's
    loop (compute the gradient, step, reset). ``decay`` says whether L1/L2 penalties apply
    (weights: yes; biases: no). ``trainable`` False freezes it: it is still saved and used,
    no optimiser changes it (an airbench whitening stem, a BatchNorm scale held at 1).
    ``resting`` True says that it is trainable but not trained now (its optimiser group's
    epochs are over: :meth:`vedere.nn.optim.Optimizer.set_epoch` sets it). A layer's
    backward pass skips the products whose only use is the gradient of a parameter that is
    not :attr:`wants_grad` (frozen or resting), and a network skips the layers in front of
    the first one that wants any: such a gradient reads as zero (or stale) afterwards.

    :meth:`zero_grad` does not touch memory: it marks the gradient as zero, and the next
    contribution overwrites the buffer instead of adding to it (reading ``grad`` in between
    fills it with zeros first). On a 3072×512 layer this saves a full pass over 6 MB per step.
    """

    __slots__ = ("_grad", "_zero", "data", "decay", "name", "resting", "trainable")

    def __init__(
        self, data: np.ndarray, name: str = "", decay: bool = True, trainable: bool = True
    ) -> None:
        self.data = data
        self._grad = np.zeros_like(data)
        self._zero = False
        self.name = name
        self.decay = decay
        self.trainable = bool(trainable)
        self.resting = False

    @property
    def wants_grad(self) -> bool:
        """Whether an optimiser will read dL/dθ now: trainable and not resting."""
        return self.trainable and not self.resting

    @property
    def grad(self) -> np.ndarray:
        """dL/dθ, shape and dtype of ``data``."""
        if self._zero:
            self._grad.fill(0)
            self._zero = False
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        if value.shape != self.data.shape or value.dtype != self.data.dtype:
            raise ValueError(
                f"gradient of {self.name or 'parameter'} must have shape {self.data.shape} and "
                f"dtype {self.data.dtype}, got {value.shape} {value.dtype}"
            )
        self._grad = value
        self._zero = False

    def zero_grad(self) -> None:
        """Reset dL/dθ to zero."""
        self._zero = True

    def add_grad(self, g: np.ndarray) -> None:
        """Accumulate a gradient contribution: grad += g."""
        if self._zero:
            np.copyto(self._grad, g)
            self._zero = False
        else:
            self._grad += g

    def add_matmul_grad(self, a: np.ndarray, b: np.ndarray) -> None:
        """Accumulate grad += a @ b, writing the product in place when grad is zero."""
        gemm(a, b, self._grad, accumulate=not self._zero)
        self._zero = False


class Buffer(NamedArray):
    """A non-trainable array saved with the model (BatchNorm's running statistics).

    Like a :class:`Parameter` it has ``data``, ``shape`` and ``dtype`` and travels in the
    model file and the state dict under its name; unlike one it has no gradient and no
    optimiser ever sees it.
    """

    __slots__ = ("data", "name")

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        self.data = data
        self.name = name
