"""The BiSeNet parser for user weights: published key layout, 19 → 11 mapping, crops, safe loading."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ohlora_cli.errors import CheckpointError, UsageError
from ohlora_cli.models.bisenet import (
    BISENET_CLASSES, BISENET_TO_OHLORA, BiSeNet, load_bisenet, normalise, ohlora_lookup,
)
from ohlora_cli.models.parsers import BiSeNetParser, FaceParser, ParseResult, face_crop_box, load_parser
from ohlora_cli.synthetic.renderer import CLASS_NAMES

SMALL = 128  # the net's input size in tests (the published size is 512; any multiple of 32 works)


# ---------------------------------------------------------------- the published layout
# zllrunning/face-parsing.PyTorch model.py (BiSeNet, ContextPath, AttentionRefinementModule,
# FeatureFusionModule, BiSeNetOutput, ConvBNReLU) and resnet.py (Resnet18, BasicBlock,
# create_layer_basic), written out independently of ohlora's module tree.

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _published_keys() -> set[str]:
    keys: set[str] = set()

    def bn(prefix):
        keys.update(f"{prefix}.{n}" for n in BN)

    def conv_bn_relu(prefix):              # ConvBNReLU: self.conv, self.bn
        keys.add(f"{prefix}.conv.weight")
        bn(f"{prefix}.bn")

    r = "cp.resnet"
    keys.add(f"{r}.conv1.weight")
    bn(f"{r}.bn1")
    for layer in (1, 2, 3, 4):
        for block in (0, 1):
            p = f"{r}.layer{layer}.{block}"
            keys.update({f"{p}.conv1.weight", f"{p}.conv2.weight"})
            bn(f"{p}.bn1")
            bn(f"{p}.bn2")
            if layer > 1 and block == 0:       # in_chan != out_chan or stride != 1
                keys.add(f"{p}.downsample.0.weight")
                bn(f"{p}.downsample.1")
    for arm in ("cp.arm16", "cp.arm32"):   # conv, conv_atten, bn_atten
        conv_bn_relu(f"{arm}.conv")
        keys.add(f"{arm}.conv_atten.weight")
        bn(f"{arm}.bn_atten")
    for m in ("cp.conv_head32", "cp.conv_head16", "cp.conv_avg", "ffm.convblk"):
        conv_bn_relu(m)
    keys.update({"ffm.conv1.weight", "ffm.conv2.weight"})
    for head in ("conv_out", "conv_out16", "conv_out32"):   # BiSeNetOutput: conv, conv_out
        conv_bn_relu(f"{head}.conv")
        keys.add(f"{head}.conv_out.weight")
    return keys


# A representative hard-coded sample with the published shapes.
PUBLISHED_SHAPES = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.bn1.weight": (64,),
    "cp.resnet.bn1.running_var": (64,),
    "cp.resnet.bn1.num_batches_tracked": (),
    "cp.resnet.layer1.0.conv1.weight": (64, 64, 3, 3),
    "cp.resnet.layer1.0.bn1.bias": (64,),
    "cp.resnet.layer1.1.conv2.weight": (64, 64, 3, 3),
    "cp.resnet.layer1.1.bn2.running_mean": (64,),
    "cp.resnet.layer2.0.conv1.weight": (128, 64, 3, 3),
    "cp.resnet.layer2.0.conv2.weight": (128, 128, 3, 3),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer2.0.downsample.1.weight": (128,),
    "cp.resnet.layer2.0.downsample.1.running_var": (128,),
    "cp.resnet.layer2.1.conv1.weight": (128, 128, 3, 3),
    "cp.resnet.layer3.0.conv1.weight": (256, 128, 3, 3),
    "cp.resnet.layer3.0.downsample.0.weight": (256, 128, 1, 1),
    "cp.resnet.layer3.1.bn2.weight": (256,),
    "cp.resnet.layer4.0.conv1.weight": (512, 256, 3, 3),
    "cp.resnet.layer4.0.downsample.0.weight": (512, 256, 1, 1),
    "cp.resnet.layer4.0.downsample.1.bias": (512,),
    "cp.resnet.layer4.1.conv2.weight": (512, 512, 3, 3),
    "cp.resnet.layer4.1.bn2.running_mean": (512,),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm16.conv.bn.weight": (128,),
    "cp.arm16.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm16.bn_atten.weight": (128,),
    "cp.arm16.bn_atten.running_var": (128,),
    "cp.arm32.conv.conv.weight": (128, 512, 3, 3),
    "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm32.bn_atten.bias": (128,),
    "cp.conv_head32.conv.weight": (128, 128, 3, 3),
    "cp.conv_head32.bn.running_mean": (128,),
    "cp.conv_head16.conv.weight": (128, 128, 3, 3),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "cp.conv_avg.bn.weight": (128,),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.convblk.bn.weight": (256,),
    "ffm.conv1.weight": (64, 256, 1, 1),
    "ffm.conv2.weight": (256, 64, 1, 1),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv.bn.weight": (256,),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out16.conv.conv.weight": (64, 128, 3, 3),
    "conv_out16.conv.bn.running_var": (64,),
    "conv_out16.conv_out.weight": (19, 64, 1, 1),
    "conv_out32.conv.conv.weight": (64, 128, 3, 3),
    "conv_out32.conv_out.weight": (19, 64, 1, 1),
}
PUBLISHED_KEY_COUNT = 191           # 160 tensors + 31 BatchNorm num_batches_tracked counters
PUBLISHED_PARAMETERS = 13_300_416   # learnable; 11,176,512 of them in the ResNet-18 trunk
PUBLISHED_FLOATS = 13_313_088       # + BN running statistics: ~53 MB of float32, the 79999_iter.pth size


@pytest.fixture(scope="module")
def net() -> BiSeNet:
    torch.manual_seed(0)
    return BiSeNet().eval()


@pytest.fixture(scope="module")
def state(net) -> dict[str, torch.Tensor]:
    """Random weights in the published layout, with non-trivial BN statistics."""
    g = torch.Generator().manual_seed(1)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    for k, v in sd.items():
        if k.endswith("running_mean") or k.endswith(".bias"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
    return sd


@pytest.fixture(scope="module")
def weights(state, tmp_path_factory):
    path = tmp_path_factory.mktemp("bisenet") / "79999_iter.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def parser(weights) -> BiSeNetParser:
    return load_parser("bisenet", weights=weights, input_size=SMALL)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(3, 256, 256, 3), dtype=np.uint8)


def test_state_dict_is_the_published_layout(net):
    sd = net.state_dict()
    assert set(sd) == _published_keys()
    assert len(sd) == PUBLISHED_KEY_COUNT
    for key, shape in PUBLISHED_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED_PARAMETERS
    assert sum(p.numel() for k, p in net.named_parameters() if k.startswith("cp.resnet.")) == 11_176_512
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) == PUBLISHED_FLOATS


def test_any_multiple_of_32(net):
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 96)
        out = net(x)
        main, out16, out32 = net(x, aux=True)
    assert out.shape == (1, 19, 64, 96)
    assert out16.shape == out32.shape == (1, 19, 64, 96)
    torch.testing.assert_close(main, out)


def test_mapping_table():
    assert len(BISENET_CLASSES) == len(BISENET_TO_OHLORA) == 19
    expected = {
        "background": "background", "skin": "skin", "l_brow": "left_brow", "r_brow": "right_brow",
        "l_eye": "left_eye", "r_eye": "right_eye", "eye_g": "skin", "l_ear": "skin", "r_ear": "skin",
        "ear_r": "background", "nose": "nose", "mouth": "inner_mouth", "u_lip": "upper_lip",
        "l_lip": "lower_lip", "neck": "background", "neck_l": "background", "cloth": "background",
        "hair": "hair", "hat": "background",
    }
    got = {b: CLASS_NAMES[o] for b, o in zip(BISENET_CLASSES, BISENET_TO_OHLORA)}
    assert got == expected
    assert set(BISENET_TO_OHLORA) == set(range(11))      # every ohlora class is reachable
    swapped = ohlora_lookup(swap_sides=True)
    assert swapped.dtype == np.uint8
    assert [int(swapped[i]) for i in (2, 3, 4, 5)] == [3, 2, 5, 4]
    assert np.array_equal(np.delete(swapped, [2, 3, 4, 5]), np.delete(ohlora_lookup(), [2, 3, 4, 5]))


def test_parse_fixed_crop(parser, images, net, state):
    import cv2

    assert isinstance(parser, FaceParser) and parser.name == "bisenet" and parser.resolution == 224
    res = parser.parse(images)
    assert isinstance(res, ParseResult) and res.crop_method == "fixed"
    assert res.maps.shape == (3, 224, 224) and res.maps.dtype == np.uint8
    assert res.crops.shape == (3, 224, 224, 3) and res.crops.dtype == np.uint8
    assert int(res.maps.max()) < 11
    for i in range(3):   # the crop is the full frame, bicubic to 224
        np.testing.assert_array_equal(res.crops[i], cv2.resize(images[i], (224, 224), interpolation=cv2.INTER_CUBIC))
    # the maps are the 19-class argmax of the net on the full frame, mapped, then nearest-resized
    ref = BiSeNet().eval()
    ref.load_state_dict(state)
    x = normalise(np.stack([cv2.resize(im, (SMALL, SMALL), interpolation=cv2.INTER_AREA) for im in images]))
    with torch.no_grad():
        raw = ref(x).argmax(1).numpy().astype(np.uint8)
    assert raw.shape == (3, SMALL, SMALL) and int(raw.max()) < 19
    want = np.stack([cv2.resize(ohlora_lookup()[m], (224, 224), interpolation=cv2.INTER_NEAREST_EXACT) for m in raw])
    np.testing.assert_array_equal(res.maps, want)
    np.testing.assert_array_equal(parser.parse(images[1:2]).maps, res.maps[1:2])  # batch-independent
    empty = parser.parse(np.zeros((0, 256, 256, 3), np.uint8))
    assert empty.maps.shape == (0, 224, 224) and empty.crops.shape == (0, 224, 224, 3)


def test_face_crop_box():
    assert face_crop_box((100, 100, 200, 200), 256, 256) == (75, 75, 225, 225)
    assert face_crop_box((10, 20, 110, 220), 256, 256) == (0, 0, 135, 256)           # clipped
    assert face_crop_box((10.7, 10.2, 50.9, 90.3), 256, 256) == (0, 0, 60, 110)      # int() truncation
    assert face_crop_box((60.5, 40.5, 180.5, 200.5), 256, 256) == (30, 0, 210, 240)
    with pytest.raises(ValueError, match="not a box"):
        face_crop_box((50, 50, 50, 80), 256, 256)
    with pytest.raises(ValueError, match="outside"):
        face_crop_box((300, 300, 400, 400), 256, 256)


def test_parse_with_boxes(weights, images, parser):
    import cv2

    p = load_parser("bisenet", weights=weights, input_size=SMALL, crop_method="box")
    boxes = np.array([[100, 100, 200, 200], [10, 20, 110, 220], [60.5, 40.5, 180.5, 200.5]])
    res = p.parse(images, boxes=boxes)
    assert res.crop_method == "box" and res.maps.shape == (3, 224, 224) and int(res.maps.max()) < 11
    for i, (c0, r0, c1, r1) in enumerate([(75, 75, 225, 225), (0, 0, 135, 256), (30, 0, 210, 240)]):
        want = cv2.resize(images[i, r0:r1, c0:c1], (224, 224), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_array_equal(res.crops[i], want)
    with pytest.raises(ValueError, match="needs boxes"):
        p.parse(images)
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        p.parse(images, boxes=boxes[:2])
    with pytest.raises(ValueError, match="crop_method='box'"):
        parser.parse(images, boxes=boxes)   # the fixed-crop parser takes no boxes


def test_loader_accepts_wrapped_and_prefixed(state, tmp_path):
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state}, wrapped)
    prefixed = tmp_path / "prefixed.pth"
    torch.save({f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}, prefixed)
    for path in (wrapped, prefixed):
        net = load_bisenet(path)
        assert not net.training
        torch.testing.assert_close(net.state_dict()["conv_out.conv_out.weight"], state["conv_out.conv_out.weight"])


def test_missing_and_unexpected_keys(state, tmp_path):
    bad = dict(state)
    del bad["ffm.conv1.weight"]
    bad["cp.resnet.fc.weight"] = torch.zeros(1000, 512)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(CheckpointError) as info:
        load_parser("bisenet", weights=path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "missing ffm.conv1.weight" in msg and "unexpected cp.resnet.fc.weight" in msg
    assert msg.endswith("Pass the face-parsing.PyTorch BiSeNet weights (79999_iter.pth, 19 classes, ResNet-18)")

    other = dict(state)
    other["conv_out.conv_out.weight"] = torch.zeros(11, 256, 1, 1)
    torch.save(other, path)
    with pytest.raises(CheckpointError, match=r"conv_out.conv_out.weight has shape \(11, 256, 1, 1\), expected \(19"):
        load_bisenet(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_bisenet(path)


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "79999_iter.pth"
    torch.save({"state_dict": _Evil(str(marker))}, path)
    with pytest.raises(CheckpointError, match="other than tensors"):
        load_parser("bisenet", weights=path)
    assert not marker.exists()


def test_usage_errors(weights):
    with pytest.raises(UsageError) as info:
        load_parser("bisenet")
    assert str(info.value) == ("the bisenet parser needs weights. "
                               "Pass --parser-weights PATH (face-parsing.PyTorch 79999_iter.pth)")
    with pytest.raises(UsageError) as info:
        load_parser("facexformer", weights=weights)
    assert str(info.value) == "unknown parser 'facexformer'. Use one of: synthetic, bisenet"
    with pytest.raises(UsageError, match="multiple of 32"):
        load_parser("bisenet", weights=weights, input_size=100)
    with pytest.raises(UsageError, match="unknown crop method"):
        load_parser("bisenet", weights=weights, crop_method="mtcnn")
