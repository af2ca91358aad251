"""The synthetic face renderer: determinism, shapes, classes, errors, imbalance, files, ground truth."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch
from ohlora_cli.synthetic.dataset import render_to_dir
from ohlora_cli.synthetic.renderer import (
    ATTRIBUTE_NAMES, ATTRIBUTE_RANGES, NUM_CLASSES, hand_labels, render, sample_attributes,
)

COL = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    ranks = np.empty(len(x))
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _mixed_attrs(seeds: np.ndarray) -> np.ndarray:
    """Sampled attributes with the rare branches (male, old, glasses, low quality) forced on."""
    a = sample_attributes(seeds)
    a[1::4, COL["gender"]] = 0.9
    a[2::4, COL["age"]] = 0.8
    a[3::4, COL["glasses"]] = 1.0
    a[::3, COL["quality"]] = 0.2
    return a


def test_attribute_names_and_ranges():
    assert ATTRIBUTE_NAMES == ("eyes", "mouth", "pose", "hair_color", "hair_length", "hairstyle",
                               "background_mean", "background_std", "gender", "age", "glasses", "quality")
    assert ATTRIBUTE_RANGES["pose"] == (-1.0, 1.0)
    assert all(ATTRIBUTE_RANGES[n] == (0.0, 1.0) for n in ATTRIBUTE_NAMES if n != "pose")


def test_same_seed_same_face():
    seeds = np.array([7, 7, 8])
    a = sample_attributes(seeds)
    assert np.array_equal(a[0], a[1]) and not np.array_equal(a[0], a[2])
    im1, mp1 = render(a, seeds)
    im2, mp2 = render(a, seeds)
    assert np.array_equal(im1, im2) and np.array_equal(mp1, mp2)
    assert np.array_equal(im1[0], im1[1]) and np.array_equal(mp1[0], mp1[1])


def test_batch_size_independence():
    seeds = np.arange(10)
    a = _mixed_attrs(seeds)
    images, maps = render(a, seeds)
    for i in range(10):
        one_im, one_mp = render(a[i:i + 1], seeds[i:i + 1])
        assert np.array_equal(one_im[0], images[i]), i
        assert np.array_equal(one_mp[0], maps[i]), i
    rev_im, rev_mp = render(a[::-1], seeds[::-1])
    assert np.array_equal(rev_im[::-1], images) and np.array_equal(rev_mp[::-1], maps)


def test_sample_attributes_per_row_rng():
    seeds = np.arange(20)
    assert np.array_equal(sample_attributes(seeds)[5:6], sample_attributes(np.array([5])))


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_and_dtypes(resolution):
    seeds = np.array([3, 4])
    images, maps = render(sample_attributes(seeds), seeds, resolution)
    assert images.shape == (2, resolution, resolution, 3) and images.dtype == np.uint8
    assert maps.shape == (2, resolution, resolution) and maps.dtype == np.uint8
    assert int(maps.max()) < NUM_CLASSES
    for m in maps:  # every class except maybe the inner mouth
        assert set(range(NUM_CLASSES)) - {8} <= set(np.unique(m).tolist())


def test_all_classes_present():
    seeds = np.arange(200)
    a = _mixed_attrs(seeds)
    a[::2, COL["mouth"]] = np.maximum(a[::2, COL["mouth"]], 0.3)
    _, maps = render(a, seeds)
    assert int(maps.max()) < NUM_CLASSES
    for i, m in enumerate(maps):
        present = set(np.unique(m).tolist())
        expected = set(range(NUM_CLASSES)) - ({8} if a[i, COL["mouth"]] < 0.3 else set())
        assert expected <= present, (i, sorted(expected - present))
    # background in the top half (rows 0..111 at 224 scale) and hair reaching the bottom row
    assert all((m[:32] == 0).any() for m in maps)
    long_hair = a[:, COL["hair_length"]] > 0.6
    assert all((maps[i, -1] == 10).sum() >= 6 for i in np.flatnonzero(long_hair))


def test_closed_mouth_has_no_inner_mouth_and_open_mouth_grows():
    seeds = np.array([11, 11, 11])
    a = sample_attributes(seeds)
    a[:, COL["mouth"]] = [0.0, 0.5, 1.0]
    _, maps = render(a, seeds)
    inner = [(m == 8).sum() for m in maps]
    assert inner[0] == 0 < inner[1] < inner[2]


@pytest.mark.parametrize("resolution", [0, 16, 48, 100, 65])
def test_invalid_resolution(resolution):
    seeds = np.array([0])
    with pytest.raises(ValueError) as err:
        render(sample_attributes(seeds), seeds, resolution)
    assert str(err.value) == f"resolution must be a power of two >= 32, got {resolution}"


@pytest.mark.parametrize("name, value, message", [
    ("eyes", 1.5, "attribute 'eyes' must be in [0, 1], got 1.5 (row 1)"),
    ("pose", -1.25, "attribute 'pose' must be in [-1, 1], got -1.25 (row 1)"),
    ("quality", float("nan"), "attribute 'quality' must be in [0, 1], got nan (row 1)"),
    ("glasses", 0.5, "attribute 'glasses' must be 0 or 1, got 0.5 (row 1)"),
])
def test_out_of_range_attribute(name, value, message):
    seeds = np.array([0, 1])
    a = sample_attributes(seeds)
    a[1, COL[name]] = value
    with pytest.raises(ValueError) as err:
        render(a, seeds)
    assert str(err.value) == message


def test_imbalance_rates():
    a = sample_attributes(np.arange(2000))
    assert a.shape == (2000, 12) and a.dtype == np.float32
    for j, name in enumerate(ATTRIBUTE_NAMES):
        lo, hi = ATTRIBUTE_RANGES[name]
        assert lo <= a[:, j].min() and a[:, j].max() <= hi
    assert abs(np.mean(a[:, COL["gender"]] >= 0.5) - 0.10) < 0.025
    assert abs(np.mean(a[:, COL["quality"]] < 0.5) - 0.04) < 0.015
    assert abs(np.mean(a[:, COL["age"]] >= 0.5) - 0.06) < 0.02
    assert abs(np.mean(a[:, COL["glasses"]] == 1.0) - 0.05) < 0.02
    assert set(np.unique(a[:, COL["glasses"]]).tolist()) == {0.0, 1.0}
    # continuous face attributes spread over their range
    for name in ("eyes", "mouth", "hair_color", "hair_length", "hairstyle", "background_mean"):
        assert a[:, COL[name]].std() > 0.2


def test_hand_label_polarity():
    a = sample_attributes(np.arange(4))
    a[:, COL["gender"]] = [0.1, 0.9, 0.49, 0.5]
    a[:, COL["quality"]] = [0.9, 0.1, 0.5, 0.49]
    a[:, COL["age"]] = [0.9, 0.1, 0.5, 0.49]
    a[:, COL["glasses"]] = [1, 0, 1, 0]
    labels = hand_labels(a)
    assert labels.tolist() == [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]


def test_render_to_dir(tmp_path):
    calls = []
    out = render_to_dir(tmp_path / "set", n=5, resolution=32, seed_start=10, batch_size=2, progress=calls.append)
    assert calls == [2, 2, 1]
    names = [f"{s:06d}.png" for s in range(10, 15)]
    assert sorted(p.name for p in (out / "images").iterdir()) == names
    assert sorted(p.name for p in (out / "maps").iterdir()) == names
    assert (out / "contact_sheet.png").is_file()
    with open(out / "attributes.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seed", *ATTRIBUTE_NAMES] and len(rows) == 6
    seeds = np.array([int(r[0]) for r in rows[1:]])
    attrs = np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float32)
    assert np.array_equal(attrs, sample_attributes(seeds))
    with open(out / "hand_labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "gender", "quality", "age", "glass"]
    assert rows[1][0] == "images/000010.png"
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == hand_labels(attrs).tolist()
    from PIL import Image

    images, maps = render(attrs, seeds, 32)
    assert np.array_equal(np.asarray(Image.open(out / "images" / "000012.png").convert("RGB")), images[2])
    assert np.array_equal(np.asarray(Image.open(out / "maps" / "000012.png")), maps[2])


def test_render_to_dir_unwritable(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        render_to_dir(blocker / "set", n=1, resolution=32)


@pytest.mark.slow
def test_algorithms_recover_attributes():
    """Ground truth: algorithm 2 on the true maps/images recovers the attributes (64 x 64, 2,000 faces)."""
    seeds = np.arange(2000)
    a = sample_attributes(seeds)
    images, maps = render(a, seeds, 64)
    props = compute_properties_batch(maps, images, mode="fixed")
    rho = {name: spearman(a[:, COL[name]], props[:, j]) for j, name in enumerate(PROPERTY_NAMES)}
    for name in ("eyes", "mouth", "hair_color", "hair_length", "background_mean"):
        assert rho[name] >= 0.9, (name, rho)
    assert abs(rho["pose"]) >= 0.9, rho
    assert rho["hairstyle"] >= 0.7, rho
    assert rho["background_std"] >= 0.8, rho
