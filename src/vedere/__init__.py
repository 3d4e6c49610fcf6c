"""vedere — teach a computer to see, from first principles.

Layers, lowest first. A unit imports only units of lower layers, never one of its own layer
or above (but the shared helpers use each other), and no module reaches itself through its
imports (``tests/test_layering.py`` reads every import of the source and checks both):

* layer 0, shared helpers: :mod:`vedere.text` (short reprs, terminals), :mod:`vedere.escape`
  (names made safe to print), :mod:`vedere.errors` (the error root, shared warnings),
  :mod:`vedere.fileio` (atomic writes, output checks), :mod:`vedere.parallel` (Numba's
  threading layer and the lock of parallel kernels), :mod:`vedere.executor` (where work
  that fans out runs: in process or on Dask),
  :mod:`vedere.safejson` (bounded JSON from files that may be hostile);
* layer 1: :mod:`vedere.nn` — the learning engine: layers with explicit backpropagation,
  losses, optimisers, schedules, regularisers, gradient checks, safetensors save/load and
  the one divergence rule;
* layer 2: :mod:`vedere.data` — datasets (toy 2-D problems, CIFAR-10, image-folder trees),
  transforms, stratified splits; :mod:`vedere.viz` — matplotlib figures from plain arrays;
* layer 3: :mod:`vedere.classify` — the course's classifiers with scikit-learn's contract,
  the trainer, metrics, run directories, the settings of a run;
  :mod:`vedere.detect` — Viola–Jones face detection (integral image, Haar features,
  AdaBoost, cascades, the sliding-window detector, video);
* layer 4: :mod:`vedere.export` (ONNX and OpenCV files), :mod:`vedere.experiments` (each
  lesson's figures from real runs), :mod:`vedere.batch` (predict/detect over many files),
  :mod:`vedere.sweep` (hyper-parameter sweeps), :mod:`vedere.web` (the browser
  playground), :mod:`vedere.demo`,
  :mod:`vedere.course_notebooks` (the course's notebooks, shipped);
* layer 5: :mod:`vedere.cli` — the ``vedere`` command, one module per subcommand (only the
  entry points import it).
"""

import os
import sys
from importlib.metadata import PackageNotFoundError, version

#: how long (2^n CPU cycles) an idle thread of NumPy's OpenBLAS spins before it sleeps, set
#: before NumPy loads (OpenBLAS reads it once, at load) unless the user set it. OpenBLAS's
#: own default, 2^28 cycles (about 0.1 s), keeps its workers spinning between two products;
#: on a machine where another process holds a core, a spinning worker takes the one core
#: left from the thread that has the work, and a small network's training step ran 2.3×
#: slower (BENCHMARKS.md, "Speed on every CPU"). 2^16 cycles (about 25 µs) covers the gap
#: between the products of one step and lets idle workers sleep. A Python session that
#: imported NumPy before vedere keeps OpenBLAS's default.
OPENBLAS_THREAD_TIMEOUT = "16"

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)

try:
    __version__ = version("vedere")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["OPENBLAS_THREAD_TIMEOUT", "__version__"]
