"""airbench94's augmentation: reflect-padded translation against PyTorch's reflect padding,
and the alternating-flip pattern."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vedere.data.transforms import AlternatingFlip, random_crop


def test_reflect_translation_windows_are_torch_reflect_padding_crops():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (400, 8, 8, 3), dtype=np.uint8)
    out = random_crop(x, np.random.default_rng(1), pad=2, mode="reflect")
    padded = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (2, 2, 2, 2), mode="reflect")
    padded = padded.permute(0, 2, 3, 1).numpy()
    seen = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(out[i], padded[i, dy : dy + 8, dx : dx + 8])]  # fmt: skip
        assert len(hits) == 1, i  # exactly one window of the reflect-padded image
        seen.add(hits[0])
    assert len(seen) == 25  # every shift in -2 … 2 × -2 … 2 occurs


def test_zero_padding_is_still_the_default_and_bad_modes_are_refused():
    x = np.full((50, 6, 6, 1), 200, np.uint8)
    out = random_crop(x, np.random.default_rng(0), pad=2)
    assert (out == 0).any()  # zeros came in at the borders
    with pytest.raises(ValueError, match="padding mode must be"):
        random_crop(x, np.random.default_rng(0), pad=2, mode="wrap")
    with pytest.raises(ValueError, match="reflect padding of 6"):
        random_crop(x, np.random.default_rng(0), pad=6, mode="reflect")


def test_alternating_flip_pattern():
    n = 2000
    flip = AlternatingFlip(n, seed=3)
    idx = np.arange(n)
    first = flip.flips(idx, 0)
    assert 0.45 < first.mean() < 0.55  # epoch 0: a fair coin per image
    for e in range(1, 6):  # then each image alternates relative to its first choice
        np.testing.assert_array_equal(flip.flips(idx, e), first ^ (e % 2 == 1))
    np.testing.assert_array_equal(AlternatingFlip(n, seed=3).flips(idx, 0), first)  # seeded
    assert not np.array_equal(AlternatingFlip(n, seed=4).flips(idx, 0), first)


def test_alternating_flip_mirrors_exactly_the_chosen_images_of_a_batch():
    x = np.random.default_rng(0).integers(0, 256, (10, 4, 5, 3), dtype=np.uint8)
    flip = AlternatingFlip(100, seed=0)
    idx = np.array([3, 97, 0, 41, 5, 6, 7, 8, 9, 10])
    for epoch in (0, 1):
        out = flip(x, idx, epoch)
        mirrored = flip.flips(idx, epoch)
        for i in range(10):
            want = x[i, :, ::-1] if mirrored[i] else x[i]
            np.testing.assert_array_equal(out[i], want)
    with pytest.raises(ValueError, match="image indices must be in 0"):
        flip.flips(np.array([100]), 0)
