"""Which cascade a name means: vedere's own (shipped in the package), OpenCV's stock ones
(read where an installed opencv-python keeps them, or from Debian's opencv-data in
/usr/share/opencv4/), or any file.

- ``frontalface`` (or any name of a file in ``vedere/detect/cascades/``): trained by vedere
  itself (``bench/train_frontalface.py``);
- ``opencv:NAME``: OpenCV's ``haarcascade_NAME.xml``, e.g. ``opencv:frontalface_default``,
  or ``lbpcascade_NAME.xml`` given with its prefix, e.g. ``opencv:lbpcascade_frontalface``
  (:func:`vedere.detect.opencv_xml.opencv_cascade_path`; ``vedere cascades`` lists them);
- anything else: a path to a vedere JSON or OpenCV XML cascade.
"""

from __future__ import annotations

from pathlib import Path

from vedere.detect.cascade import Cascade, load_cascade
from vedere.detect.opencv_xml import opencv_cascade_path

SHIPPED = Path(__file__).resolve().parent / "cascades"


def shipped_names() -> list[str]:
    """The names of the cascades shipped with vedere (``frontalface``, …), sorted."""
    return sorted(p.stem for p in SHIPPED.glob("*.json"))


def cascade_path(spec: str) -> Path:
    """The file a cascade name or path refers to (FileNotFoundError naming it otherwise)."""
    if spec.startswith("opencv:"):
        return opencv_cascade_path(spec.split(":", 1)[1])
    shipped = SHIPPED / f"{spec}.json"
    if "/" not in spec and "\\" not in spec and shipped.is_file():
        return shipped
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(shipped_names()) or "none"
        raise FileNotFoundError(
            f"no cascade {spec!r}: not a file, not a shipped cascade ({names}), and not opencv:NAME"
        )
    return path


def resolve_cascade(spec: str) -> Cascade:
    """Load the cascade a name or path refers to."""
    return load_cascade(cascade_path(spec))
