"""Viola–Jones face detection, one concept per module, data flowing one way:

- :mod:`~vedere.detect.integral`, :mod:`~vedere.detect.haar`,
  :mod:`~vedere.detect.rect_features`, :mod:`~vedere.detect.lbp`,
  :mod:`~vedere.detect.normalize`: integral images (upright and rotated 45°), Haar-like
  features in OpenCV's weighted-rectangle form (upright and tilted), multi-block LBP codes,
  variance normalisation;
- :mod:`~vedere.detect.adaboost`, :mod:`~vedere.detect.trees`,
  :mod:`~vedere.detect.training`, :mod:`~vedere.detect.mining`,
  :mod:`~vedere.detect.samples`: boosted stumps (threshold or 256-code categorical) and
  trees, cascade training with hard-negative mining, training windows;
- :mod:`~vedere.detect.opencv_xml` (OpenCV's XML ↔ a cascade document) →
  :mod:`~vedere.detect.cascade` (the cascade, its JSON file, validation of every file) →
  :mod:`~vedere.detect.library` (names: ``frontalface``, ``opencv:NAME`` for OpenCV's Haar
  and LBP cascades from opencv-python or Debian's opencv-data, paths);
- :mod:`~vedere.detect.detector` (pyramid, compiled scan :mod:`~vedere.detect.scan_kernels`,
  grouping :mod:`~vedere.detect.grouping`), within the caps of :mod:`~vedere.detect.limits`
  (large photos scanned shrunk: :mod:`~vedere.detect.downscale`); each grouped window is
  reported as the face box its cascade maps it to (:mod:`~vedere.detect.facebox`).
"""
