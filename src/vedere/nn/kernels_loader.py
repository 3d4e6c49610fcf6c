"""Load the compiled kernels (:mod:`vedere.nn.kernels`) on first use: ``import vedere.nn``
stays free of Numba's start-up until a layer needs one."""

from __future__ import annotations

from types import ModuleType

_MODULE: ModuleType | None = None


def kernels() -> ModuleType:
    """The :mod:`vedere.nn.kernels` module, imported (and its kernels loaded) once."""
    global _MODULE
    if _MODULE is None:
        from . import kernels as module

        _MODULE = module
    return _MODULE
