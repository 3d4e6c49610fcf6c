"""README's examples run as written: every ```python block, and the command that extracts the
image the predict example classifies."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[tuple[str, str]]:
    """(heading above, code) of every fenced block of ``lang`` in README, in order."""
    out, heading = [], ""
    fence = re.compile(r"^(#+ [^\n]*)$|^```(\w*)\n(.*?)^```$", re.M | re.S)
    for m in fence.finditer(README.read_text()):
        if m.group(1):
            heading = m.group(1).lstrip("# ")
        elif m.group(2) == lang:
            out.append((heading, m.group(3)))
    return out


PYTHON = blocks("python")


def test_readme_has_the_python_api_examples():
    headings = {h for h, _ in PYTHON}
    assert "Python API" in headings and len(PYTHON) >= 3


def run_block(i: int) -> None:
    """Run python block ``i`` on its own; if it needs names it does not define (NameError),
    it continues the blocks before it in its section (the Python API's training uses the data
    its first block loads): run those first, in order, in one namespace."""
    heading, code = PYTHON[i]
    try:
        exec(compile(code, f"README.md ({heading})", "exec"), {})
        return
    except NameError:
        pass
    start = i
    while start > 0 and PYTHON[start - 1][0] == heading:
        start -= 1
    namespace: dict = {}
    for h, earlier in PYTHON[start : i + 1]:
        exec(compile(earlier, f"README.md ({h})", "exec"), namespace)


ONNX_SECTION = "Using vedere's models elsewhere"


def onnx_files(folder: Path):
    """What the onnxruntime example reads: a greyscale 28×28 classifier exported by vedere as
    ``model.onnx`` and an image ``digit.png``; returns the classifier and the image."""
    import numpy as np
    from PIL import Image

    from vedere.classify import SoftmaxClassifier
    from vedere.export import export_classifier

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 28, 28, 1), dtype=np.uint8)
    est = SoftmaxClassifier(epochs=2).fit(x, np.arange(60) % 3)
    est.save(folder / "model.safetensors")
    export_classifier(folder / "model.safetensors", folder / "model.onnx")
    Image.fromarray(x[0, :, :, 0], mode="L").save(folder / "digit.png")
    return est, x[:1]


@pytest.mark.parametrize("i", range(len(PYTHON)), ids=[h for h, _ in PYTHON])
def test_python_block_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that save files write them here
    if PYTHON[i][0] == ONNX_SECTION:
        onnx_files(tmp_path)
    run_block(i)


def test_onnxruntime_example_gives_vedere_probabilities(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    est, image = onnx_files(tmp_path)
    (code,) = [c for h, c in PYTHON if h == ONNX_SECTION]
    assert len([ln for ln in code.splitlines() if ln.strip()]) == 5
    namespace: dict = {}
    exec(compile(code, "README.md (onnx)", "exec"), namespace)
    np.testing.assert_allclose(namespace["probabilities"], est.predict_proba(image), atol=1e-5)


def test_predict_example_image_can_be_extracted(tmp_path):
    bash = "\n".join(code for _, code in blocks("bash"))
    extract = next(ln for ln in bash.splitlines() if ln.startswith("python -c "))
    predict = next(ln for ln in bash.splitlines() if ln.startswith("vedere predict runs/first "))
    argv = shlex.split(extract)
    argv[0] = sys.executable
    subprocess.run(argv, cwd=tmp_path, check=True, timeout=60)
    image = shlex.split(predict)[3]
    assert (tmp_path / image).is_file(), image
