"""Cache, stratified split, normalisation and augmentation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import write_folder
from vedere.data.cache import cached, content_hash
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split
from vedere.data.transforms import Normalizer, augment, random_crop, random_flip


def test_cache_hit_is_memory_mapped_and_keyed_by_content(tmp_path):
    root = tmp_path / "d"
    write_folder(root, {"train": {"a": 2, "b": 2}})
    cache = tmp_path / "cache"
    first = load_split(root, "train", cache_dir=cache, progress=False)
    calls = []

    def loader():
        calls.append(1)
        raise AssertionError("should have come from the cache")

    again = cached(root, "train", "folder|size=None", loader, cache)
    assert not calls and isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(again.images, first.images)
    before = content_hash(root)
    write_folder(root, {"train": {"a": 3}}, seed=5)  # change the content
    assert content_hash(root) != before
    assert len(load_split(root, "train", cache_dir=cache, progress=False)) == 5
    assert not list(cache.glob(".*"))  # no temporary entries left


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    root = tmp_path / "d"
    write_folder(root, {"train": {"a": 2, "b": 1}})
    cache = tmp_path / "cache"
    load_split(root, "train", cache_dir=cache, progress=False)
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    (entry / "images.npy").write_bytes(b"garbage")
    assert len(load_split(root, "train", cache_dir=cache, progress=False)) == 3


def test_stratified_split_keeps_proportions():
    labels = np.repeat(np.arange(10), 500)
    tr, va = stratified_split(labels, 500, seed=3)
    assert len(va) == 500 and len(tr) == 4500
    assert np.bincount(labels[va]).tolist() == [50] * 10
    assert not set(tr) & set(va)
    _, va2 = stratified_split(labels, 500, seed=3)
    np.testing.assert_array_equal(va, va2)
    assert not np.array_equal(va, stratified_split(labels, 500, seed=4)[1])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=5, max_size=200), st.floats(0.05, 0.9), st.integers(0, 99)
)
def test_split_properties(labels, frac, seed):
    labels = np.array(labels)
    tr, va = stratified_split(labels, frac, seed)
    assert len(tr) + len(va) == len(labels)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(len(labels)))
    k = len(va)
    for c in np.unique(labels):
        share = (labels == c).sum() * k / len(labels)
        assert abs((labels[va] == c).sum() - share) <= 1


def test_normalizer_matches_numpy(rng):
    images = rng.integers(0, 256, (50, 6, 5, 3), dtype=np.uint8)
    norm = Normalizer().fit(images, chunk=7)
    ref = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(norm.mean, ref.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.std, ref.std(0), rtol=1e-5)
    out = norm(images)
    assert out.shape == (50, 90) and out.dtype == np.float32
    per_channel = out.reshape(-1, 3)
    np.testing.assert_allclose(per_channel.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(0), 1, atol=1e-4)
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again(images), out)


def test_flip_and_crop(rng):
    batch = rng.integers(1, 256, (64, 8, 8, 3), dtype=np.uint8)
    flipped = random_flip(batch, np.random.default_rng(0))
    same = (flipped == batch).all(axis=(1, 2, 3))
    mirrored = (flipped == batch[:, :, ::-1]).all(axis=(1, 2, 3))
    assert (same | mirrored).all() and 10 < mirrored.sum() < 54
    np.testing.assert_array_equal(random_crop(batch, np.random.default_rng(0), pad=0), batch)
    cropped = random_crop(batch, np.random.default_rng(1), pad=2)
    for img, out in zip(batch, cropped, strict=True):
        # each output is the input shifted by (dy, dx) in [-2, 2], zeros where it came from padding
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = np.zeros_like(img)
                src = img[max(dy, 0) : 8 + min(dy, 0), max(dx, 0) : 8 + min(dx, 0)]
                ref[max(-dy, 0) : 8 + min(-dy, 0), max(-dx, 0) : 8 + min(-dx, 0)] = src
                found |= np.array_equal(ref, out)
        assert found
    a = augment(batch, np.random.default_rng(7))
    b = augment(batch, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)  # seeded


def test_embedded_sample_is_there():
    s = load_split(None, "train", cache_dir="", progress=False)
    t = load_split(None, "test", cache_dir="", progress=False)
    assert s.images.shape == (1200, 32, 32, 3) and t.images.shape == (300, 32, 32, 3)
    assert s.counts().tolist() == [120] * 10 and s.classes[3] == "cat"


def test_bad_val_split():
    with pytest.raises(ValueError, match="val_split must be a count"):
        stratified_split(np.zeros(10, int), 10)
