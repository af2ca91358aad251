"""ohlora's Fréchet distance: the formula against scipy's matrix square root, and the feature extractor."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ohlora_cli.frechet import feature_stats, frechet_between, frechet_distance


def _scipy_d2(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("n, f", [(200, 4), (50, 20), (10, 30)], ids=["many", "some", "fewer-than-dims"])
def test_matches_the_textbook_formula(n, f):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, f)) @ rng.normal(size=(f, f))
    b = rng.normal(size=(n, f)) * 2 + 1
    mine = frechet_between(a, b)
    ref = _scipy_d2(*feature_stats(a), *feature_stats(b))
    assert mine == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_zero_for_the_same_set_and_the_mean_shift_alone():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(100, 8))
    assert frechet_between(a, a) == pytest.approx(0.0, abs=1e-9)
    mu, s = feature_stats(a)
    assert frechet_distance(mu, s, mu + 3, s) == pytest.approx(9 * 8, rel=1e-9)


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(5)], ids=["one-row", "1-d"])
def test_needs_two_rows(bad):
    with pytest.raises(ValueError, match="N×F array with N >= 2"):
        feature_stats(bad)


def test_property_cnn_features_of_the_embedded_set(catalog_path):
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.scoring.features import PropertyFeatures

    cat = open_catalog(catalog_path)
    try:
        ext = PropertyFeatures(cat)
        rng = np.random.default_rng(0)
        res = ext.model.resolution
        images = rng.integers(0, 256, size=(5, res, res, 3), dtype=np.uint8)
        f = ext.features(images)
        assert f.shape[0] == 5 and f.shape[1] > 8 and np.isfinite(f).all() and np.abs(f).max() <= 1  # after Tanh
        assert np.array_equal(ext.features(images[:2]), f[:2])  # independent of how many are passed
    finally:
        cat.close()
