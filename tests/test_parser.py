"""The shipped synthetic face parser: accuracy on held-out faces, interface, determinism, safe loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ohlora_cli.errors import CheckpointError, UsageError
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.parsers import (
    PARSER_FORMAT, SYNTHETIC_PARSER_FILE, FaceParser, ParseResult, SyntheticParser, SyntheticParserNet,
    load_parser, load_parser_net,
)
from ohlora_cli.synthetic.renderer import NUM_CLASSES, render, sample_attributes
from ohlora_cli.synthetic.train_parser import TRAIN_SEED_MIN, augment, evaluate_parser


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """A 64 px U-Net gains nothing from threads, and loses a lot when a core is busy elsewhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def parser(_one_thread) -> SyntheticParser:
    return load_parser("synthetic")


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    seeds = np.arange(0, 24, dtype=np.int64)
    return render(sample_attributes(seeds), seeds, 64)


def test_held_out_mean_iou(parser):
    metrics = evaluate_parser(parser, n=200, seed_start=0, resolution=64)
    assert set(metrics["iou"]) == {"background", "skin", "left_brow", "right_brow", "left_eye", "right_eye",
                                   "nose", "upper_lip", "inner_mouth", "lower_lip", "hair"}
    assert metrics["mean_iou"] >= 0.85, metrics["iou"]
    assert min(metrics["iou"].values()) >= 0.6, metrics["iou"]
    assert min(metrics["property_r"].values()) >= 0.8, metrics["property_r"]


def test_interface_shapes_and_dtypes(parser, faces):
    images, _ = faces
    assert isinstance(parser, FaceParser)
    assert parser.name == "synthetic" and parser.resolution == 64
    res = parser.parse(images[:5])
    assert isinstance(res, ParseResult)
    assert res.maps.shape == (5, 64, 64) and res.maps.dtype == np.uint8
    assert res.crops.shape == (5, 64, 64, 3) and res.crops.dtype == np.uint8
    assert res.crop_method == "full-frame"
    assert int(res.maps.max()) < NUM_CLASSES
    np.testing.assert_array_equal(res.crops, images[:5])  # same size: the crop is the image itself
    with pytest.raises(AttributeError):
        res.maps = res.maps  # frozen
    empty = parser.parse(np.zeros((0, 64, 64, 3), np.uint8))
    assert empty.maps.shape == (0, 64, 64) and empty.crops.shape == (0, 64, 64, 3)
    assert parser.parse(np.zeros((0, 128, 128, 3), np.uint8)).maps.shape == (0, 64, 64)


def test_bad_images_rejected(parser):
    with pytest.raises(ValueError, match="uint8 RGB"):
        parser.parse(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        parser.parse(np.zeros((2, 64, 64, 3), np.float32))


def test_deterministic_and_batch_size_independent(parser, faces):
    images, _ = faces
    full = parser.parse(images).maps
    np.testing.assert_array_equal(parser.parse(images).maps, full)
    for i in (0, 5, 17, 23):
        np.testing.assert_array_equal(parser.parse(images[i:i + 1]).maps, full[i:i + 1])
    np.testing.assert_array_equal(parser.parse(images[7:20]).maps, full[7:20])
    np.testing.assert_array_equal(parser.parse(images[::-1]).maps, full[::-1])


def test_resizes_larger_input(parser):
    seeds = np.arange(100, 108, dtype=np.int64)
    attrs = sample_attributes(seeds)
    big, _ = render(attrs, seeds, 128)
    _, true64 = render(attrs, seeds, 64)
    res = parser.parse(big)
    assert res.maps.shape == (8, 64, 64) and res.crops.shape == (8, 64, 64, 3)
    assert res.crop_method == "full-frame"
    assert float((res.maps == true64).mean()) > 0.9  # a 128 px face parses like its 64 px rendering


def test_unknown_parser_name():
    with pytest.raises(UsageError) as info:
        load_parser("facexformer")
    assert str(info.value) == "unknown parser 'facexformer'. Use one of: synthetic, bisenet"


def test_weight_file_is_plain_and_small():
    assert SYNTHETIC_PARSER_FILE.stat().st_size <= 2 * 1024 * 1024
    obj = read_file(SYNTHETIC_PARSER_FILE)  # torch.load(weights_only=True)
    assert obj["format"] == PARSER_FORMAT
    assert set(obj) >= {"config", "state_dict", "recipe"}
    assert all(isinstance(v, torch.Tensor) for v in obj["state_dict"].values())

    def plain(x) -> bool:
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, (str, int, float, bool, torch.Tensor))

    assert plain(obj)
    assert obj["recipe"]["train_seed_min"] >= TRAIN_SEED_MIN
    net, _ = load_parser_net(SYNTHETIC_PARSER_FILE)
    assert isinstance(net, SyntheticParserNet) and not net.training


def test_unsafe_weight_file_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": PARSER_FORMAT, "config": np.dtype("float32")}, bad)
    with pytest.raises(CheckpointError, match="other than tensors"):
        load_parser_net(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="not an ohlora parser file"):
        load_parser_net(other)


def test_augment_keeps_shape_and_is_seeded(faces):
    images, _ = faces
    a = augment(images[:6], np.random.default_rng(3))
    b = augment(images[:6], np.random.default_rng(3))
    assert a.shape == images[:6].shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
