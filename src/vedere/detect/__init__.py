"""Viola–Jones face detection: integral image, Haar-like features (AdaBoost and the cascade
are still to come; see issue 4)."""
