"""Models out of vedere: a fitted classifier as an ONNX graph (:mod:`vedere.export.onnx_model`).

Face cascades already leave as OpenCV XML (:mod:`vedere.detect.opencv_xml`); ``vedere
export`` writes either, by what it is given.
"""

from .onnx_model import OPSET, export_classifier, to_onnx

__all__ = ["OPSET", "export_classifier", "to_onnx"]
