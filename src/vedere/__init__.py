"""vedere — teach a computer to see, from first principles.

Sub-packages, lower layers first (data flows one way: a package imports only those above it
in this list):

* :mod:`vedere.nn` — the learning engine: layers with explicit backpropagation, losses,
  optimisers, schedules, regularisers, gradient checks, safetensors save/load, and the one
  divergence rule (:mod:`vedere.nn.divergence`);
* :mod:`vedere.data` — datasets: the course's toy 2-D problems, CIFAR-10 (official archives,
  checksummed) and image-folder trees, transforms, stratified splits;
* :mod:`vedere.classify` — the course's classifiers (perceptron, logistic regression, softmax,
  linear SVM, MLP) with scikit-learn's estimator contract, the trainer, metrics, run
  directories;
* :mod:`vedere.detect` — Viola–Jones face detection: integral image, Haar-like features,
  AdaBoost, the attentional cascade (ours or OpenCV's XML), the sliding-window detector;
* :mod:`vedere.viz` — matplotlib figures from plain arrays: curves, confusion matrices, weight
  templates, Haar features, detections;
* :mod:`vedere.experiments` — ``vedere experiment NAME``: each lesson's figures and report
  regenerated from real runs;
* :mod:`vedere.web` — the browser playground;
* :mod:`vedere.cli` — the ``vedere`` command, one module per subcommand.

Shared helpers: :mod:`vedere.fileio` (atomic writes), :mod:`vedere.safejson` (bounded JSON
from files that may be hostile).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vedere")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
