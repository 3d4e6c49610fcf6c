"""What one detection may cost: the caps the detector enforces on a scan (no imports, so the
command line can show them in ``--help`` without loading the compiled kernels)."""

#: ``vedere detect``'s default cap on the pixels scanned (4 megapixels); larger images are
#: scanned shrunk (:mod:`vedere.detect.downscale`)
DEFAULT_MAX_PIXELS = 4_000_000
#: the smallest pyramid scale factor: closer to 1 the pyramid practically never ends
#: (1.01 already means ~440 levels for a 2000-pixel photo)
MIN_SCALE_FACTOR = 1.01
#: the most pyramid levels one scan may have
MAX_LEVELS = 1000
