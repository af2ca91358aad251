"""Face parsers: RGB images in, 11-class parsing maps (docs/original.md §2.1, FaceXFormer order) out.

A parser returns the map together with the colour crop it is aligned with, because the property
algorithms read colours (hair colour, background, hairstyle) from the same pixels the map labels.

Shipped parsers (``load_parser(name)``):

- ``"synthetic"``: :class:`SyntheticParser`, a compact U-Net trained on the synthetic face world
  (recipe: ``python -m ohlora_cli.synthetic.train_parser``; weights ``assets/synthetic-parser.pt``).
  The synthetic world's images *are* the aligned face crop, so no face detection happens: the whole
  frame is resized (``cv2.INTER_AREA``) to the net's resolution and that resized frame is the crop
  (``crop_method="full-frame"``). The default parser whenever the generator is the synthetic one.
- ``"bisenet"``: :class:`BiSeNetParser`, for real (StyleGAN) faces, with weights the user brings:
  the face-parsing.PyTorch BiSeNet ``79999_iter.pth`` (CelebAMask-HQ, 19 classes; architecture and
  the 19 → 11 class table in :mod:`ohlora_cli.models.bisenet`).
  ``load_parser("bisenet", weights=PATH)``. Crops (docs/original.md §2.1), then 224x224 outputs like the seed:

  - ``crop_method="fixed"`` (default): the full frame, box ``(0, 0, W, H)``. Generator output is an
    aligned face (CelebA-HQ-like framing, the face filling most of the 256x256 frame), so the seed's
    MTCNN box enlarged by 50% and clipped to the image is, to a few pixels, the whole frame; and
    the whole aligned frame is exactly what BiSeNet was trained on (CelebAMask-HQ images at 512).
  - ``crop_method="box"``: ``parse(images, boxes=...)`` with one face box ``(x0, y0, x1, y1)``
    per image (e.g. the largest MTCNN box); each side grows by 25% of the box width/height, the
    result is clipped to the image and truncated to integers (:func:`face_crop_box`), exactly as
    the seed's ``adjust_bbox`` + ``image.crop((int(x0), int(y0), int(x1), int(y1)))``.

  The crop is resized to the net's input size (512 by default; ``cv2.INTER_LINEAR`` when
  enlarging, ``INTER_AREA`` when shrinking), ImageNet-normalised, parsed; the 19-class argmax is
  mapped to the 11 classes and resized to 224 with nearest-neighbour (pixel-centre,
  ``INTER_NEAREST_EXACT``); the colour crop is resized to 224 bicubic (docs/original.md §2.1 step 3).

Determinism: inference always runs the network on fixed-size chunks (the last one zero-padded),
so a map never depends on how many images were passed in one call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ohlora_cli.errors import CheckpointError, UsageError
from ohlora_cli.files import write_atomic
from ohlora_cli.models.bisenet import load_bisenet, normalise, ohlora_lookup
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.devices import cpu_parallel, to_host

NUM_CLASSES = 11
PARSER_FORMAT = "ohlora-parser"
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
SYNTHETIC_PARSER_FILE = ASSETS_DIR / "synthetic-parser.pt"
PARSER_NAMES = ("synthetic", "bisenet")
INFERENCE_CHUNK = 16  # images per forward pass, always (padded): maps independent of call size


@dataclass(frozen=True)
class ParseResult:
    """``maps`` uint8 (N, R, R) class ids; ``crops`` uint8 (N, R, R, 3) RGB aligned with the maps."""

    maps: np.ndarray
    crops: np.ndarray
    crop_method: str


@runtime_checkable
class FaceParser(Protocol):
    """Anything that turns uint8 RGB images (N, H, W, 3) into a :class:`ParseResult` at ``resolution``."""

    name: str
    resolution: int

    def parse(self, images: np.ndarray) -> ParseResult: ...


# ---------------------------------------------------------------- network


@dataclass(frozen=True)
class ParserNetConfig:
    """Architecture of :class:`SyntheticParserNet`; stored in the weight file."""

    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 48, 48)   # per level, level 0 at full resolution
    num_classes: int = NUM_CLASSES

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "ParserNetConfig":
        return cls(resolution=int(data["resolution"]), channels=tuple(int(c) for c in data["channels"]),
                   num_classes=int(data.get("num_classes", NUM_CLASSES)))


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class SyntheticParserNet(nn.Module):
    """Compact U-Net: ``len(channels) - 1`` max-pool downs, as many transposed-conv ups with skips.

    Input: float (N, 3, R, R) in [-1, 1]; output: (N, num_classes, R, R) logits.
    """

    def __init__(self, cfg: ParserNetConfig = ParserNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        if cfg.resolution % (2 ** (len(ch) - 1)):
            raise ValueError(f"resolution {cfg.resolution} is not divisible by 2^{len(ch) - 1}")
        self.down = nn.ModuleList()
        c = 3
        for c_out in ch:
            self.down.append(_double_conv(c, c_out))
            c = c_out
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c_skip in reversed(ch[:-1]):
            self.up.append(nn.ConvTranspose2d(c, c_skip, 2, stride=2))
            self.merge.append(_double_conv(2 * c_skip, c_skip))
            c = c_skip
        self.head = nn.Conv2d(c, cfg.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            if level:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, R, R, 3) RGB → float (N, 3, R, R) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def resize_images(images: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 (N, H, W, 3) → (N, R, R, 3) with ``cv2.INTER_AREA`` (a no-op copy at the same size)."""
    if images.shape[1:3] == (resolution, resolution):
        return np.ascontiguousarray(images)
    if len(images) == 0:
        return np.zeros((0, resolution, resolution, 3), dtype=np.uint8)
    import cv2

    return np.stack([cv2.resize(im, (resolution, resolution), interpolation=cv2.INTER_AREA) for im in images])


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    return images


# ---------------------------------------------------------------- the synthetic parser


def save_parser_weights(path: Path, net: SyntheticParserNet, *, recipe: dict | None = None,
                        metrics: dict | None = None) -> None:
    """Write ``{"format", "config", "state_dict", "recipe", "metrics"}`` atomically."""
    obj = {"format": PARSER_FORMAT, "config": net.cfg.to_dict(),
           "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
           "recipe": dict(recipe or {}), "metrics": dict(metrics or {})}
    path = Path(path)
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_parser_net(path: Path | str) -> tuple[SyntheticParserNet, dict]:
    """Network (eval mode) and the whole file dict, via the safe loader ``checkpoints.read_file``."""
    obj = read_file(path, "Check the path passed to --parser-weights")
    if not isinstance(obj, dict) or obj.get("format") != PARSER_FORMAT:
        raise CheckpointError(f"{path} is not an ohlora parser file (format {PARSER_FORMAT!r})",
                              "Re-create it with `python -m ohlora_cli.synthetic.train_parser`")
    try:
        net = SyntheticParserNet(ParserNetConfig.from_dict(obj["config"]))
        net.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"parser file {path} does not match its architecture ({first})",
                              "Re-create it with `python -m ohlora_cli.synthetic.train_parser`") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, obj


class SyntheticParser:
    """The shipped parser of the synthetic face world (see the module docstring)."""

    name = "synthetic"

    def __init__(self, path: Path | str = SYNTHETIC_PARSER_FILE, *, device: str = "cpu") -> None:
        self.path = Path(path)
        self.net, self.meta = load_parser_net(self.path)
        self.device = torch.device(device)
        self.net.to(self.device)
        self.resolution = self.net.cfg.resolution

    @classmethod
    def from_net(cls, net: SyntheticParserNet) -> "SyntheticParser":
        """Wrap an in-memory network (e.g. to evaluate it before it is saved)."""
        self = cls.__new__(cls)
        self.path, self.meta, self.device = Path("<memory>"), {}, torch.device("cpu")
        self.net = net.eval()
        self.resolution = net.cfg.resolution
        return self

    @torch.no_grad()
    def predict_maps(self, crops: np.ndarray) -> np.ndarray:
        """uint8 maps (N, R, R) for uint8 crops already at ``resolution``; fixed-size padded chunks."""
        maps = np.empty((len(crops), self.resolution, self.resolution), dtype=np.uint8)
        self.net.eval()

        def chunk(c: int) -> None:
            s = c * INFERENCE_CHUNK
            x = images_to_tensor(crops[s:s + INFERENCE_CHUNK])
            k = x.shape[0]
            if k < INFERENCE_CHUNK:
                x = torch.cat([x, x.new_zeros((INFERENCE_CHUNK - k, *x.shape[1:]))])
            logits = self.net(x.to(self.device))[:k]
            maps[s:s + k] = to_host(logits.argmax(dim=1).to(torch.uint8))

        cpu_parallel(chunk, -(-len(crops) // INFERENCE_CHUNK), self.device)  # chunks at once on the CPU
        return maps

    def parse(self, images: np.ndarray) -> ParseResult:
        """Maps and crops for uint8 RGB images (N, H, W, 3) of any size (resized with INTER_AREA)."""
        crops = resize_images(_check_images(images), self.resolution)
        return ParseResult(maps=self.predict_maps(crops), crops=crops, crop_method="full-frame")


# ---------------------------------------------------------------- the BiSeNet parser (user weights)


CROP_METHODS = ("fixed", "box")
FACE_MARGIN = 0.5          # docs/original.md §2.1: the face box grows by 50% (25% of its width/height per side)


def face_crop_box(box, width: int, height: int, *, margin: float = FACE_MARGIN) -> tuple[int, int, int, int]:
    """The seed's crop for one face box ``(x0, y0, x1, y1)``: enlarged, clipped, truncated to ints.

    Each side moves out by ``margin / 2`` of the box width (x) or height (y), the box is clipped to
    ``[0, width] x [0, height]`` and every coordinate is truncated with ``int()`` (docs/original.md §2.1).
    ``ValueError`` when the box is not finite or leaves an empty crop.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(np.isfinite((x0, y0, x1, y1))) or x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {(x0, y0, x1, y1)} is not a box (x0 < x1, y0 < y1)")
    dx, dy = (x1 - x0) * margin / 2, (y1 - y0) * margin / 2
    c0, r0 = int(max(0.0, x0 - dx)), int(max(0.0, y0 - dy))
    c1, r1 = int(min(float(width), x1 + dx)), int(min(float(height), y1 + dy))
    if c1 <= c0 or r1 <= r0:
        raise ValueError(f"face box {(x0, y0, x1, y1)} lies outside the {width}x{height} image")
    return c0, r0, c1, r1


class BiSeNetParser:
    """face-parsing.PyTorch BiSeNet with the user's weights, mapped to the 11 classes (module docstring).

    ``input_size``: the square size the crop is resized to for the net (512 as published; any
    multiple of 32). ``resolution``: the size of the returned maps and crops (224, docs/original.md §2.1).
    ``swap_sides``: exchange left/right brows and eyes, should a weight file follow the opposite
    left/right convention to the one documented in :mod:`ohlora_cli.models.bisenet`.
    """

    name = "bisenet"

    def __init__(self, weights: Path | str, *, crop_method: str = "fixed", input_size: int = 512,
                 resolution: int = 224, swap_sides: bool = False, chunk: int = 4, device: str = "cpu") -> None:
        if crop_method not in CROP_METHODS:
            raise UsageError(f"unknown crop method {crop_method!r}", "Use one of: " + ", ".join(CROP_METHODS))
        if input_size < 32 or input_size % 32:
            raise UsageError(f"BiSeNet input size {input_size} is not a positive multiple of 32",
                             "Use 512 (the published size) or another multiple of 32")
        self.path = Path(weights)
        self.crop_method, self.input_size, self.resolution = crop_method, int(input_size), int(resolution)
        self.chunk = int(chunk)
        self.device = torch.device(device)
        self.net = load_bisenet(self.path).to(self.device)
        self.lookup = ohlora_lookup(swap_sides=swap_sides)

    def _crops(self, images: np.ndarray, boxes) -> list[np.ndarray]:
        n, h, w = images.shape[:3]
        if self.crop_method == "fixed":
            if boxes is not None:
                raise ValueError("boxes were given but crop_method is 'fixed'; use crop_method='box'")
            return [images[i] for i in range(n)]
        if boxes is None:
            raise ValueError("crop_method 'box' needs boxes: one (x0, y0, x1, y1) per image")
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4), got {boxes.shape}")
        out = []
        for i in range(n):
            c0, r0, c1, r1 = face_crop_box(boxes[i], w, h)
            out.append(images[i, r0:r1, c0:c1])
        return out

    @staticmethod
    def _resize(image: np.ndarray, size: int, interpolation: int | None = None) -> np.ndarray:
        import cv2

        if image.shape[:2] == (size, size):
            return np.ascontiguousarray(image)
        if interpolation is None:
            interpolation = cv2.INTER_AREA if min(image.shape[:2]) > size else cv2.INTER_LINEAR
        return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)

    @torch.no_grad()
    def predict_maps(self, inputs: np.ndarray) -> np.ndarray:
        """19-class uint8 maps (N, S, S) for uint8 RGB inputs already at ``input_size``; fixed-size chunks."""
        s = self.input_size
        maps = np.empty((len(inputs), s, s), dtype=np.uint8)

        def chunk(c: int) -> None:
            start = c * self.chunk
            x = normalise(inputs[start:start + self.chunk])
            k = x.shape[0]
            if k < self.chunk:
                x = torch.cat([x, x.new_zeros((self.chunk - k, *x.shape[1:]))])
            logits = self.net(x.to(self.device))[:k]
            maps[start:start + k] = to_host(logits.argmax(dim=1).to(torch.uint8))

        cpu_parallel(chunk, -(-len(inputs) // self.chunk), self.device)  # chunks at once on the CPU
        return maps

    def parse(self, images: np.ndarray, *, boxes=None) -> ParseResult:
        """11-class maps and colour crops, both ``resolution`` square, for uint8 RGB (N, H, W, 3)."""
        import cv2

        images = _check_images(images)
        r = self.resolution
        if len(images) == 0:
            if boxes is not None and len(boxes):
                raise ValueError(f"boxes must have shape (0, 4), got {np.shape(boxes)}")
            return ParseResult(np.zeros((0, r, r), np.uint8), np.zeros((0, r, r, 3), np.uint8), self.crop_method)
        crops = self._crops(images, boxes)
        net_in = np.stack([self._resize(c, self.input_size) for c in crops])
        raw = self.predict_maps(net_in)
        maps = np.stack([self._resize(self.lookup[m], r, cv2.INTER_NEAREST_EXACT) for m in raw])
        out_crops = np.stack([self._resize(c, r, cv2.INTER_CUBIC) for c in crops])
        return ParseResult(maps=maps, crops=out_crops, crop_method=self.crop_method)


def load_parser(name: str = "synthetic", *, weights: Path | str | None = None, **options) -> FaceParser:
    """A parser by name; ``UsageError`` for an unknown name or a bisenet parser without weights.

    ``weights`` replaces the shipped synthetic parser file, and is required for ``"bisenet"``;
    ``options`` go to the parser's constructor (e.g. ``crop_method``, ``input_size``, ``device``).
    """
    if name == "synthetic":
        return SyntheticParser(weights, **options) if weights is not None else SyntheticParser(**options)
    if name == "bisenet":
        if weights is None:
            raise UsageError("the bisenet parser needs weights",
                             "Pass --parser-weights PATH (face-parsing.PyTorch 79999_iter.pth)")
        return BiSeNetParser(weights, **options)
    raise UsageError(f"unknown parser {name!r}", "Use one of: " + ", ".join(PARSER_NAMES))


__all__ = ["FaceParser", "ParseResult", "ParserNetConfig", "SyntheticParserNet", "SyntheticParser",
           "BiSeNetParser", "face_crop_box", "load_parser", "load_parser_net", "save_parser_weights",
           "images_to_tensor", "resize_images", "PARSER_NAMES", "CROP_METHODS", "SYNTHETIC_PARSER_FILE"]
