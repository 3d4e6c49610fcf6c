"""ONNX export of airbench94's layers (the whitening stem, the bias-free head ÷ 9, frozen
BatchNorm scales, the six test-time views) against onnxruntime."""

import pytest

from tests.classify.test_airbench_arch import SMALL, _fitted_untrained
from tests.export.test_onnx_export import assert_agrees
from vedere.data.dataset import load_split


@pytest.mark.parametrize("fold", [True, False], ids=["bn_folded", "bn_node"])
def test_airbench_network_exports(fold):
    images = load_split(None, "train", progress=False).images
    est = _fitted_untrained(SMALL, images[:200])
    model = assert_agrees(est, images[200:209], fold_batchnorm=fold)
    ops = [n.op_type for n in model.graph.node]
    assert "Gemm" in ops and "Mul" in ops
