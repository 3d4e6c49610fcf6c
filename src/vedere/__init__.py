"""vedere — teach a computer to see, from first principles.

Sub-packages: :mod:`vedere.nn` (the learning engine), :mod:`vedere.data` (datasets),
:mod:`vedere.cli` (the ``vedere`` command).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vedere")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
