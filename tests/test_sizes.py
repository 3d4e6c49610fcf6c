"""Small modules and short functions (issue 26): no module of ``src/vedere`` over 450 lines,
no function over 80. The allow-list names each exception and why it stands; an entry that is
no longer needed fails too, so the list only shrinks."""

from __future__ import annotations

import ast
from pathlib import Path

import vedere

SRC = Path(vedere.__file__).resolve().parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80

#: "path" (a module), "path:function" or "path:*" (its functions) → why it is longer for now
ALLOWED = {
    # being changed by concurrent work (cascades, kernels, hostile input) this session:
    # split after it lands rather than under it
    "detect/cascade.py": "cascade features in flight (issue: cascades)",
    "detect/kernels.py": "Numba kernels in flight (issue: speed)",
    # Numba kernels: each is one compiled launch, and splitting one costs launches
    "detect/kernels.py:*": "Numba kernels (one launch each)",
    "detect/training.py:train_cascade": "cascade training in flight (issue: cascades)",
    "detect/opencv_xml.py:_parse": "cascade file formats in flight (issue: cascades)",
    "detect/video.py:detect_video": "output checks in flight (issue 27)",
    "cli/detect.py:detect": "output checks in flight (issue 27)",
    "cli/train_detector.py:train_detector": "feature kinds in flight (issue: cascades)",
    "batch.py:run_batch": "output checks in flight (issue 27)",
    "export/onnx_model.py": "ONNX export in flight (issue: export)",
    "nn/io.py": "model-file format and its hostile-input checks, one reader",
}


def _measure() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES:
            found[rel] = n
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{rel}:{node.name}"] = length
    return found


def _allowed(key: str) -> bool:
    return key in ALLOWED or (":" in key and key.split(":")[0] + ":*" in ALLOWED)


def test_modules_and_functions_are_short():
    found = _measure()
    over = {k: v for k, v in found.items() if not _allowed(k)}
    assert not over, "\n".join(
        f"{k}: {v} lines (at most {MAX_FUNCTION_LINES if ':' in k else MAX_MODULE_LINES})"
        for k, v in sorted(over.items())
    )


def test_the_allow_list_only_holds_what_is_still_long():
    found = _measure()
    stale = sorted(
        k
        for k in ALLOWED
        if k not in found and not (k.endswith(":*") and any(f.startswith(k[:-1]) for f in found))
    )
    assert not stale, f"short now, remove from ALLOWED: {stale}"
