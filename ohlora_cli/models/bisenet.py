"""BiSeNet face parser, state-dict compatible with zllrunning/face-parsing.PyTorch (``79999_iter.pth``).

Written for ohlora from the published architecture (``model.py`` + ``resnet.py`` of that
repository); no code from it and no torchvision. The module *names* and tensor shapes are exactly
the published ones, so the published weight file loads with a strict key check:

- ``cp.resnet.*``: a ResNet-18 trunk without ``fc`` (``conv1`` 7x7/2, ``bn1``, max-pool 3x3/2,
  ``layer1..4`` of two BasicBlocks each; 64, 128, 256, 512 channels; the first block of layers
  2-4 strides by 2 and has ``downsample.0`` (1x1 conv) + ``downsample.1`` (BN)).
- ``cp.arm16`` / ``cp.arm32``: attention refinement (``conv`` = ConvBNReLU 3x3 to 128,
  ``conv_atten`` 1x1 + ``bn_atten`` + sigmoid on the global average) on the 1/16 and 1/32 features.
- ``cp.conv_avg`` (ConvBNReLU 1x1, 512 to 128, on the global average of the 1/32 features),
  ``cp.conv_head32`` / ``cp.conv_head16`` (ConvBNReLU 3x3, 128 to 128).
- ``ffm``: feature fusion of the 1/8 ResNet features (the "spatial path" replacement) and the
  context path: ``convblk`` (ConvBNReLU 1x1, 256 to 256), channel attention ``conv1`` (256 to 64)
  + ReLU + ``conv2`` (64 to 256) + sigmoid, output ``feat * att + feat``.
- ``conv_out`` (ConvBNReLU 3x3 256 to 256 + 1x1 to 19), ``conv_out16`` / ``conv_out32`` (the
  auxiliary training heads, 128 to 64 to 19). Only ``conv_out`` is used at inference; the others
  exist so the published file loads strictly.

Every ConvBNReLU is ``conv`` (bias-free) + ``bn`` + ReLU. 19 CelebAMask-HQ classes; inputs are RGB
in [0, 1] normalised with the ImageNet mean/std; the repository's inference size is 512x512, but
any size that is a multiple of 32 works (all resampling uses explicit target sizes).

State dict: 191 entries (160 without the 31 BatchNorm ``num_batches_tracked`` counters);
13,300,416 learnable parameters (11,176,512 of them in the ResNet-18 trunk, i.e. torchvision's
resnet18 minus ``fc``) and 13,313,088 float32 values with the BN running statistics, about 53 MB,
the size of the published ``79999_iter.pth``.

Class order (CelebAMask-HQ as the repository merges it; checked against the list in its
``transform.py`` comment, where the flip augmentation swaps 2/3, 4/5 and 7/8):
0 background, 1 skin, 2 l_brow, 3 r_brow, 4 l_eye, 5 r_eye, 6 eye_g, 7 l_ear, 8 r_ear, 9 ear_r,
10 nose, 11 mouth, 12 u_lip, 13 l_lip, 14 neck, 15 neck_l, 16 cloth, 17 hair, 18 hat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ohlora_cli.errors import CheckpointError
from ohlora_cli.models.checkpoints import read_file

BISENET_CLASSES: Final = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
NUM_BISENET_CLASSES: Final = len(BISENET_CLASSES)
IMAGENET_MEAN: Final = (0.485, 0.456, 0.406)
IMAGENET_STD: Final = (0.229, 0.224, 0.225)
INPUT_SIZE: Final = 512          # the repository's inference size (test.py resizes to 512x512)

# The 19 CelebAMask-HQ classes onto the 11 ohlora / FaceXFormer classes (docs/original.md §2.1).
#
# | BiSeNet (CelebAMask-HQ) | ohlora            | why                                                       |
# |-------------------------|-------------------|-----------------------------------------------------------|
# | 0 background            | 0 background      |                                                           |
# | 1 skin                  | 1 skin            |                                                           |
# | 2 l_brow                | 2 left brow       | same image side, see "Left and right" below               |
# | 3 r_brow                | 3 right brow      |                                                           |
# | 4 l_eye                 | 4 left eye        |                                                           |
# | 5 r_eye                 | 5 right eye       |                                                           |
# | 6 eye_g (glasses)       | 1 skin            | the frames and lenses lie on the skin around the eyes; as |
# |                         |                   | eye they would inflate the eye-openness span, as          |
# |                         |                   | background they would punch holes in the face. The        |
# |                         |                   | synthetic world also keeps skin/eye under its glasses.    |
# |                         |                   | Caveat: where the net labels an eye behind a lens eye_g,  |
# |                         |                   | that eye is missing from the map (eyes reads low).        |
# | 7 l_ear, 8 r_ear        | 1 skin            | no ear class in the 11; ears are face skin, not scenery   |
# | 9 ear_r (earring)       | 0 background      | an accessory, like the necklace                           |
# | 10 nose                 | 6 nose            |                                                           |
# | 11 mouth                | 8 inner mouth     | CelebAMask-HQ "mouth" is the opening between the lips     |
# | 12 u_lip                | 7 upper lip       |                                                           |
# | 13 l_lip                | 9 lower lip       |                                                           |
# | 14 neck, 15 neck_l,     | 0 background      | the 11-class world (FaceXFormer/LaPa, the synthetic       |
# | 16 cloth, 18 hat        |                   | renderer) counts neck, clothes and headwear as background |
# | 17 hair                 | 10 hair           |                                                           |
#
# Left and right: ohlora's class 4 "left eye" is the eye on the *image's* left (smaller column):
# the synthetic renderer draws class 4 at negative face-local x, and the seed's eye algorithm scans
# class 4 in the left window S[:, 0:168] (docs/original.md §2.2). CelebAMask-HQ's l_*/r_* are taken to follow
# the same viewer's convention (l_eye = image left = the subject's right eye), so the sides map
# straight through. This is an assumption: the repository never says which side it means, and the
# only outside hint found (a third-party port of this network that renames 4/5 to the subject's
# "r_eye"/"l_eye") agrees with it. It has not been checked on the real 79999_iter.pth; should a
# weight file prove the opposite, ``BiSeNetParser(..., swap_sides=True)`` exchanges 2<->3, 4<->5.
BISENET_TO_OHLORA: Final[tuple[int, ...]] = (
    0,   # 0 background
    1,   # 1 skin
    2,   # 2 l_brow
    3,   # 3 r_brow
    4,   # 4 l_eye
    5,   # 5 r_eye
    1,   # 6 eye_g
    1,   # 7 l_ear
    1,   # 8 r_ear
    0,   # 9 ear_r
    6,   # 10 nose
    8,   # 11 mouth
    7,   # 12 u_lip
    9,   # 13 l_lip
    0,   # 14 neck
    0,   # 15 neck_l
    0,   # 16 cloth
    10,  # 17 hair
    0,   # 18 hat
)


def ohlora_lookup(*, swap_sides: bool = False) -> np.ndarray:
    """uint8 lookup table (19,) from BiSeNet class ids to ohlora class ids."""
    table = np.array(BISENET_TO_OHLORA, dtype=np.uint8)
    if swap_sides:
        swap = {2: 3, 3: 2, 4: 5, 5: 4}
        table = np.array([swap.get(int(c), int(c)) for c in table], dtype=np.uint8)
    return table


# ---------------------------------------------------------------- building blocks


class ConvBNReLU(nn.Module):
    """``conv`` (no bias) + ``bn`` + ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, identity or 1x1-conv+BN shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


class ResNet18Trunk(nn.Module):
    """ResNet-18 without pooling head and ``fc``; returns the 1/8, 1/16 and 1/32 features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(64, 64, 1)
        self.layer2 = self._stage(64, 128, 2)
        self.layer3 = self._stage(128, 256, 2)
        self.layer4 = self._stage(256, 512, 2)

    @staticmethod
    def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        f8 = self.layer2(self.layer1(x))
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return f8, f16, f32


class AttentionRefinement(nn.Module):
    """``conv`` then a sigmoid channel gate computed from the global average (``conv_atten``, ``bn_atten``)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, c_out, 3)
        self.conv_atten = nn.Conv2d(c_out, c_out, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))
        return feat * gate


class ContextPath(nn.Module):
    """ResNet trunk + attention refinement + global context; features at 1/8 (x2) and 1/16."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18Trunk()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3)
        self.conv_head16 = ConvBNReLU(128, 128, 3)
        self.conv_avg = ConvBNReLU(512, 128, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f8, f16, f32 = self.resnet(x)
        context = self.conv_avg(F.adaptive_avg_pool2d(f32, 1))
        up32 = self.arm32(f32) + F.interpolate(context, size=f32.shape[2:], mode="nearest")
        up32 = self.conv_head32(F.interpolate(up32, size=f16.shape[2:], mode="nearest"))
        up16 = self.arm16(f16) + up32
        up16 = self.conv_head16(F.interpolate(up16, size=f8.shape[2:], mode="nearest"))
        return f8, up16, up32          # 1/8 trunk, 1/8 context, 1/16 context


class FeatureFusion(nn.Module):
    """Concatenate, ``convblk``, then a squeeze-excitation style gate added back: ``f * g + f``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(c_in, c_out, 1)
        self.conv1 = nn.Conv2d(c_out, c_out // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out // 4, c_out, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat * gate + feat


class OutputHead(nn.Module):
    """``conv`` (ConvBNReLU 3x3) + ``conv_out`` (1x1, no bias) to class logits."""

    def __init__(self, c_in: int, c_mid: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, c_mid, 3)
        self.conv_out = nn.Conv2d(c_mid, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """The face-parsing.PyTorch BiSeNet (ResNet-18 context path, 1/8 ResNet features as spatial path).

    ``forward(x)``: float (N, 3, H, W) ImageNet-normalised RGB, H and W multiples of 32 → logits
    (N, n_classes, H, W) of the main head (bilinear, ``align_corners=True``, as published).
    ``forward(x, aux=True)`` also returns the two auxiliary heads (training only in the original).
    """

    def __init__(self, n_classes: int = NUM_BISENET_CLASSES) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(self, x: torch.Tensor, *, aux: bool = False):
        size = x.shape[2:]
        f8, c8, c16 = self.cp(x)
        out = _upsample(self.conv_out(self.ffm(f8, c8)), size)
        if not aux:
            return out
        return out, _upsample(self.conv_out16(c8), size), _upsample(self.conv_out32(c16), size)


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def normalise(images: np.ndarray) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) → float (N, 3, H, W): ``(x / 255 - mean) / std`` (ImageNet)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------- loading


_FIX = "Pass the face-parsing.PyTorch BiSeNet weights (79999_iter.pth, 19 classes, ResNet-18)"


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:4])
    return shown + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")


def load_bisenet(path: Path | str) -> BiSeNet:
    """A :class:`BiSeNet` in eval mode from a bare state dict or ``{"state_dict": ...}``.

    Reads through ``checkpoints.read_file`` (``torch.load(weights_only=True)``: no code runs).
    Keys are checked strictly; the only tolerated differences are a ``module.`` prefix on every
    key (a DataParallel save) and absent BatchNorm ``num_batches_tracked`` counters, which do not
    affect inference. Anything else raises a one-line :class:`CheckpointError`.
    """
    obj = read_file(path, "Check the path passed to --parser-weights")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"bisenet weights {path} are not a state dict of tensors", _FIX)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    net = BiSeNet()
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + \
                ([f"unexpected {_names(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"bisenet weights {path} do not match face-parsing.PyTorch BiSeNet: "
                              + "; ".join(parts), _FIX)
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"bisenet weights {path}: {k} has shape {tuple(state[k].shape)}, "
                              f"expected {tuple(own[k].shape)}", _FIX)
    net.load_state_dict(state, strict=False)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


__all__ = ["BiSeNet", "BISENET_CLASSES", "BISENET_TO_OHLORA", "NUM_BISENET_CLASSES", "IMAGENET_MEAN",
           "IMAGENET_STD", "INPUT_SIZE", "load_bisenet", "normalise", "ohlora_lookup"]
