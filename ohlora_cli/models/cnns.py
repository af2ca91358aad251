"""The original's CNNs (docs/original.md §3): four filter CNNs and the merged Property Score CNN.

Written from the class definitions in WannaBeSuperteur/AI_Projects, with the **same module names and
layer order**, so an original ``state_dict`` loads strictly into the 256-pixel models here:

- ``V3/stylegan/generate_dataset/cnn_{gender,quality,age,glass}.py`` (``GenderCNN`` ... ``GlassCNN``)
  → :class:`FilterCNN`. Keys: ``conv{i}.0.weight``, ``conv{i}.0.bias`` for each conv block
  (``conv{i} = Sequential(Conv2d, LeakyReLU, Dropout2d)``), ``fc1.0.weight``, ``fc1.0.bias``
  (``fc1 = Sequential(Linear, Tanh, Dropout)``), ``fc_final.0.weight``, ``fc_final.0.bias``
  (``fc_final = Sequential(Linear, Sigmoid)``). Pools (``pool{j}``) hold no weights.
- ``V3/property_score_cnn/run_merged_cnn.py::MergedPropertyScoreCNN`` (sub-CNN classes from the same
  file; the hairstyle one from ``run_train_cnn.py::HairstyleScoreCNN`` / ``HairstyleScorePartCNN``)
  → :class:`PropertyScoreCNN`. Sub-modules ``eyes_score_cnn``, ``mouth_score_cnn``,
  ``pose_score_cnn``, ``hair_color_score_cnn``, ``hair_length_score_cnn``, ``background_score_cnn``
  (each ``conv{i}.0.*``, ``fc1.0.*``, ``fc_final.*`` — here ``fc_final`` is a bare ``Linear``) and
  ``hairstyle_score_cnn`` (``bottom_left_cnn.conv{i}.0.*``, ``bottom_right_cnn.conv{i}.0.*``,
  ``fc1.0.*``, ``fc_final.*``). :func:`expected_state_keys` lists them all.

Each network crops its own input inside ``forward`` (as the original filter CNNs and hairstyle CNN
do), so every model takes the *whole* image: (N, 3, R, R), in [0, 1] for the filter CNNs
(``ToTensor``) and in [-1, 1] for the Property Score CNN (``Normalize(0.5, 0.5)``). :func:`predict`
does that conversion from uint8 images.

Differences from the original, on purpose: models are used in ``eval()`` mode at inference (the
original left dropout on, docs/original.md §3.2 caveat), and other resolutions than 256 are supported:

**Resolution rule.** Crop boxes are given at 256 px and scaled to R with floor division
(``v * R // 256``, exact for R = 64 and 128, and the same integer arithmetic as the original's
``IMG_RESOLUTION // 4`` forms). The 256-px layer list (convs and pools, in order) is then kept up to
the first layer whose output would be smaller than ``MIN_SPATIAL`` = 2 px on either side; that layer
and all later ones are dropped. (Once a 3×3 valid conv or a 2×2 pool would go below 2 px, every later
one would too, so this is the same as dropping any such layer.) The flatten size is the shape that
follows — 3×3 valid conv: −2, 2×2 max-pool: floor /2 — and ``fc1`` is sized from it; tests check it
against a real forward. At R = 256 nothing is dropped, so the architecture is exactly the original's.

**Width.** ``width`` (default 1.0, the original) multiplies every conv channel count and every hidden
``fc1`` size (rounded, at least 4); key names are unchanged.  The synthetic world's shipped CNNs use
``width = 0.25`` at 64 px, so twenty fold models fit the package's size budget; files record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Union

import numpy as np
import torch
from torch import nn

from ohlora_cli.models.devices import cpu_parallel, to_host
from ohlora_cli.models.parsers import resize_images

REFERENCE_RESOLUTION: Final = 256
MIN_SPATIAL: Final = 2
INFERENCE_CHUNK: Final = 16  # images per forward pass, always (padded): scores independent of call size
POOL: Final = "P"

FILTER_PROPS: Final = ("gender", "quality", "age", "glass")

Layers = tuple[Union[int, str], ...]  # conv output channels, or POOL
Box = tuple[int, int, int, int]       # rows r0:r1, columns c0:c1 at 256 px


@dataclass(frozen=True)
class TowerSpec:
    """One conv tower of the original: its crop at 256 px and its layer list (docs/original.md §3 tables)."""

    crop: Box
    layers: Layers


_P = POOL
FILTER_SPECS: Final[dict[str, TowerSpec]] = {
    "gender": TowerSpec((0, 256, 0, 256), (32, 64, _P, 128, _P, 128, _P, 256, _P, 256, _P)),
    "quality": TowerSpec((0, 64, 64, 192), (32, 64, _P, 128, _P, 128, _P, 256)),
    "age": TowerSpec((0, 128, 0, 256), (32, 64, _P, 128, _P, 128, _P, 256, _P, 256)),
    "glass": TowerSpec((80, 128, 64, 192), (32, 64, _P, 128, _P, 128, _P, 256)),
}
FILTER_FLATTEN_256: Final = {"gender": 256 * 6 * 6, "quality": 256 * 4 * 12, "age": 256 * 4 * 12,
                             "glass": 256 * 2 * 12}

_EYES_LAYERS: Layers = (32, 64, _P, 64, _P, 128, _P)
_LENGTH_LAYERS: Layers = (32, 64, _P, 64, _P, 128, _P, 128, _P, 128)
# sub-CNN attribute name → (spec, outputs); registration order = the original's
PROPERTY_SPECS: Final[dict[str, tuple[TowerSpec, int]]] = {
    "eyes_score_cnn": (TowerSpec((96, 144, 64, 192), _EYES_LAYERS), 1),
    "mouth_score_cnn": (TowerSpec((160, 208, 96, 160), _EYES_LAYERS), 1),
    "pose_score_cnn": (TowerSpec((112, 160, 88, 168), (32, 64, _P, 64, _P, 128, 128)), 1),
    "hair_color_score_cnn": (TowerSpec((0, 256, 0, 256), (32, 64, _P, 64, _P, 128, _P, 128, _P, 128, _P)), 1),
    "hair_length_score_cnn": (TowerSpec((128, 256, 0, 256), _LENGTH_LAYERS), 1),
    "background_score_cnn": (TowerSpec((0, 128, 0, 256), _LENGTH_LAYERS), 2),
}
HAIRSTYLE_LAYERS: Final[Layers] = (32, 64, _P, 64, _P, 96, _P, 128, 128)
HAIRSTYLE_TOWERS: Final = {"bottom_left_cnn": TowerSpec((128, 256, 0, 96), HAIRSTYLE_LAYERS),
                           "bottom_right_cnn": TowerSpec((128, 256, 160, 256), HAIRSTYLE_LAYERS)}
PROPERTY_FLATTEN_256: Final = {"eyes_score_cnn": 7168, "mouth_score_cnn": 3072, "pose_score_cnn": 10752,
                               "hair_color_score_cnn": 4608, "hair_length_score_cnn": 6144,
                               "background_score_cnn": 6144, "hairstyle_score_cnn": 15360}
# output columns of the merged CNN, in PROPERTY_NAMES order
PROPERTY_OUTPUT_ORDER: Final = ("eyes_score_cnn", "hair_color_score_cnn", "hair_length_score_cnn",
                                "mouth_score_cnn", "pose_score_cnn", "background_score_cnn",
                                "hairstyle_score_cnn")


# ---------------------------------------------------------------- shape rule


def scale_box(box: Box, resolution: int) -> Box:
    """A 256-px crop box at ``resolution`` (floor of ``v * R / 256``); ValueError if it vanishes."""
    r0, r1, c0, c1 = (v * resolution // REFERENCE_RESOLUTION for v in box)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"crop {box} is empty at resolution {resolution}")
    return r0, r1, c0, c1


def plan_layers(layers: Layers, hw: tuple[int, int]) -> tuple[Layers, tuple[int, int, int]]:
    """The kept prefix of ``layers`` for an input of size ``hw`` and the output (C, H, W).

    Layers are kept up to the first one whose output would be under ``MIN_SPATIAL`` px (module doc).
    """
    h, w = hw
    c = 3
    kept: list[int | str] = []
    for layer in layers:
        nh, nw = (h // 2, w // 2) if layer == POOL else (h - 2, w - 2)
        if min(nh, nw) < MIN_SPATIAL:
            break
        kept.append(layer)
        h, w = nh, nw
        if layer != POOL:
            c = int(layer)
    return tuple(kept), (c, h, w)


def scaled(n: int, width: float) -> int:
    """A channel / hidden size times ``width`` (rounded, at least 4; exact at width 1)."""
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    return n if width == 1.0 else max(4, int(round(n * width)))


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3), nn.LeakyReLU(0.01), nn.Dropout2d(0.05))


class _ConvStack(nn.Module):
    """Registers ``conv1..convK`` / ``pool1..poolM`` directly on the module (original key names)."""

    crop: Box
    flatten_size: int

    def _build_convs(self, spec: TowerSpec, resolution: int, width: float = 1.0) -> None:
        self.crop = scale_box(spec.crop, resolution)
        r0, r1, c0, c1 = self.crop
        layers = tuple(layer if layer == POOL else scaled(int(layer), width) for layer in spec.layers)
        self.layers, out = plan_layers(layers, (r1 - r0, c1 - c0))
        self.flatten_size = out[0] * out[1] * out[2]
        self._order: list[str] = []
        c_in, n_conv, n_pool = 3, 0, 0
        for layer in self.layers:
            if layer == POOL:
                n_pool += 1
                name = f"pool{n_pool}"
                setattr(self, name, nn.MaxPool2d(2, 2))
            else:
                n_conv += 1
                name = f"conv{n_conv}"
                setattr(self, name, _conv_block(c_in, int(layer)))
                c_in = int(layer)
            self._order.append(name)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        r0, r1, c0, c1 = self.crop
        x = x[:, :, r0:r1, c0:c1]
        for name in self._order:
            x = getattr(self, name)(x)
        return x.flatten(1)


# ---------------------------------------------------------------- filter CNNs


class FilterCNN(_ConvStack):
    """Gender / quality / age / glass CNN (docs/original.md §3.1). Input (N, 3, R, R) in [0, 1] → (N, 1) in (0, 1)."""

    def __init__(self, prop: str, resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> None:
        super().__init__()
        if prop not in FILTER_SPECS:
            raise ValueError(f"unknown filter CNN {prop!r}; expected one of {', '.join(FILTER_PROPS)}")
        self.prop, self.resolution, self.width = prop, int(resolution), float(width)
        self._build_convs(FILTER_SPECS[prop], self.resolution, self.width)
        hidden = scaled(512, self.width)
        self.fc1 = nn.Sequential(nn.Linear(self.flatten_size, hidden), nn.Tanh(), nn.Dropout(0.45))
        self.fc_final = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_final(self.fc1(self._features(x)))


# ---------------------------------------------------------------- property score CNN


class PropertySubCNN(_ConvStack):
    """One of the six non-hairstyle sub-CNNs: crop → convs → Linear 256 → Tanh → Dropout 0.45 → Linear."""

    def __init__(self, spec: TowerSpec, outputs: int, resolution: int = REFERENCE_RESOLUTION,
                 width: float = 1.0) -> None:
        super().__init__()
        self._build_convs(spec, resolution, width)
        hidden = scaled(256, width)
        self.fc1 = nn.Sequential(nn.Linear(self.flatten_size, hidden), nn.Tanh(), nn.Dropout(0.45))
        self.fc_final = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_final(self.fc1(self._features(x)))


class HairstyleTower(_ConvStack):
    """``HairstyleScorePartCNN``: convs only, flattened output."""

    def __init__(self, spec: TowerSpec, resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> None:
        super().__init__()
        self._build_convs(spec, resolution, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)


class HairstyleCNN(nn.Module):
    """``HairstyleScoreCNN``: two towers on the lower corners, concatenated → 512 → Tanh → Dropout 0.25 → 1."""

    def __init__(self, resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> None:
        super().__init__()
        self.bottom_left_cnn = HairstyleTower(HAIRSTYLE_TOWERS["bottom_left_cnn"], resolution, width)
        self.bottom_right_cnn = HairstyleTower(HAIRSTYLE_TOWERS["bottom_right_cnn"], resolution, width)
        self.flatten_size = self.bottom_left_cnn.flatten_size + self.bottom_right_cnn.flatten_size
        hidden = scaled(512, width)
        self.fc1 = nn.Sequential(nn.Linear(self.flatten_size, hidden), nn.Tanh(), nn.Dropout(0.25))
        self.fc_final = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.bottom_left_cnn(x), self.bottom_right_cnn(x)], dim=1)
        return self.fc_final(self.fc1(x))


class PropertyScoreCNN(nn.Module):
    """The merged Property Score CNN (docs/original.md §3.2). Input (N, 3, R, R) in [-1, 1] → (N, 8), columns in
    ``PROPERTY_NAMES`` order: eyes, hair_color, hair_length, mouth, pose, background_mean,
    background_std, hairstyle."""

    def __init__(self, resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> None:
        super().__init__()
        self.resolution, self.width = int(resolution), float(width)
        for name, (spec, outputs) in PROPERTY_SPECS.items():
            setattr(self, name, PropertySubCNN(spec, outputs, self.resolution, self.width))
        self.hairstyle_score_cnn = HairstyleCNN(self.resolution, self.width)

    def flatten_sizes(self) -> dict[str, int]:
        """fc1 input size of each sub-CNN (7168, 3072, ... at 256)."""
        return {name: getattr(self, name).flatten_size for name in PROPERTY_FLATTEN_256}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in PROPERTY_OUTPUT_ORDER], dim=1)


CNNModel = Union[FilterCNN, PropertyScoreCNN]


def kaiming_init(model: nn.Module) -> nn.Module:
    """Re-initialise every conv with He-normal weights for LeakyReLU(0.01) and zero bias (in place).

    PyTorch's default conv init shrinks the signal at every layer; in the narrow deep towers trained
    from scratch (the gender CNN at width 0.25) the output then starts at the class prior and never
    leaves it.  The caller seeds torch.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.01, nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)
    return model


def build_filter_cnn(prop: str, resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> FilterCNN:
    return FilterCNN(prop, resolution, width)


def build_property_cnn(resolution: int = REFERENCE_RESOLUTION, width: float = 1.0) -> PropertyScoreCNN:
    return PropertyScoreCNN(resolution, width)


def expected_state_keys(kind: str, resolution: int = REFERENCE_RESOLUTION) -> list[str]:
    """The state-dict keys of a model (``kind`` = a filter prop or ``"property"``), from the layer plan
    alone — the documented key list the tests compare the modules against."""

    def tower(prefix: str, spec: TowerSpec) -> list[str]:
        r0, r1, c0, c1 = scale_box(spec.crop, resolution)
        kept, _ = plan_layers(spec.layers, (r1 - r0, c1 - c0))
        n = sum(1 for layer in kept if layer != POOL)
        return [f"{prefix}conv{i}.0.{p}" for i in range(1, n + 1) for p in ("weight", "bias")]

    def head(prefix: str, final_in_sequential: bool) -> list[str]:
        final = "fc_final.0" if final_in_sequential else "fc_final"
        return [f"{prefix}fc1.0.weight", f"{prefix}fc1.0.bias", f"{prefix}{final}.weight", f"{prefix}{final}.bias"]

    if kind in FILTER_SPECS:
        return tower("", FILTER_SPECS[kind]) + head("", True)
    if kind != "property":
        raise ValueError(f"unknown CNN kind {kind!r}")
    keys: list[str] = []
    for name, (spec, _) in PROPERTY_SPECS.items():
        keys += tower(f"{name}.", spec) + head(f"{name}.", False)
    for name, spec in HAIRSTYLE_TOWERS.items():
        keys += tower(f"hairstyle_score_cnn.{name}.", spec)
    return keys + head("hairstyle_score_cnn.", False)


# ---------------------------------------------------------------- inference


def images_to_input(images: np.ndarray, model: CNNModel) -> torch.Tensor:
    """uint8 (N, R, R, 3) → float (N, 3, R, R): [0, 1] for filter CNNs, [-1, 1] for the property CNN."""
    # contiguous NCHW always: a channels-last view would pick other conv kernels (last-bit differences)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().float()
    return x / 255.0 if isinstance(model, FilterCNN) else x / 127.5 - 1.0


def check_images(images: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 RGB (N, H, W, 3); resized to ``resolution`` with ``cv2.INTER_AREA`` when H, W differ."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    return resize_images(images, resolution)


@torch.no_grad()
def predict(model: CNNModel, images: np.ndarray, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Scores for uint8 RGB images (N, H, W, 3), model in eval mode.

    A :class:`FilterCNN` gives (N,) float32 probabilities; a :class:`PropertyScoreCNN` gives (N, 8)
    float32 normalised scores. The crop happens in ``forward``; the value range is chosen here. Runs
    on fixed chunks of ``INFERENCE_CHUNK`` images (the last zero-padded), so a score never depends on
    how many images were passed in one call.
    """
    if not isinstance(model, (FilterCNN, PropertyScoreCNN)):
        raise TypeError(f"predict() takes a FilterCNN or PropertyScoreCNN, not {type(model).__name__}")
    images = check_images(images, model.resolution)
    model.eval()
    width = 1 if isinstance(model, FilterCNN) else 8
    out = np.empty((len(images), width), dtype=np.float32)
    device = torch.device(device)

    def chunk(c: int) -> None:
        s = c * INFERENCE_CHUNK
        x = images_to_input(images[s:s + INFERENCE_CHUNK], model)
        k = x.shape[0]
        if k < INFERENCE_CHUNK:
            x = torch.cat([x, x.new_zeros((INFERENCE_CHUNK - k, *x.shape[1:]))])
        out[s:s + k] = to_host(model(x.to(device))[:k].float())

    cpu_parallel(chunk, -(-len(images) // INFERENCE_CHUNK), device)  # chunks at once on the CPU
    return out[:, 0] if width == 1 else out



def _hidden(model: "PropertyScoreCNN", x: torch.Tensor) -> torch.Tensor:
    parts = [getattr(model, name).fc1(getattr(model, name)._features(x))
             for name in PROPERTY_OUTPUT_ORDER if name != "hairstyle_score_cnn"]
    hs = model.hairstyle_score_cnn
    parts.append(hs.fc1(torch.cat([hs.bottom_left_cnn(x), hs.bottom_right_cnn(x)], dim=1)))
    return torch.cat(parts, dim=1)


def hidden_features(model: "PropertyScoreCNN", images: np.ndarray, *, device: str | torch.device = "cpu") -> np.ndarray:
    """(N, F) float32: the Property Score CNN's hidden layer (each tower's fc1 after its Tanh, concatenated;
    F = 6 × 256·width + 512·width), in eval mode and the same fixed chunks as :func:`predict`.  The feature
    space of ohlora's Fréchet distance (``ohlora_cli.frechet``)."""
    if not isinstance(model, PropertyScoreCNN):
        raise TypeError(f"hidden_features() takes a PropertyScoreCNN, not {type(model).__name__}")
    images = check_images(images, model.resolution)
    model.eval()
    device = torch.device(device)
    parts = []
    with torch.no_grad():
        for s in range(0, len(images), INFERENCE_CHUNK):
            x = images_to_input(images[s:s + INFERENCE_CHUNK], model)
            k = x.shape[0]
            if k < INFERENCE_CHUNK:
                x = torch.cat([x, x.new_zeros((INFERENCE_CHUNK - k, *x.shape[1:]))])
            parts.append(to_host(_hidden(model, x.to(device))[:k].float()))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

__all__ = ["hidden_features", "FilterCNN", "PropertyScoreCNN", "PropertySubCNN", "HairstyleCNN", "HairstyleTower", "TowerSpec",
           "FILTER_PROPS", "FILTER_SPECS", "FILTER_FLATTEN_256", "PROPERTY_SPECS", "PROPERTY_FLATTEN_256",
           "HAIRSTYLE_TOWERS", "MIN_SPATIAL", "REFERENCE_RESOLUTION", "build_filter_cnn", "build_property_cnn",
           "expected_state_keys", "kaiming_init", "plan_layers", "scale_box", "images_to_input", "check_images", "predict"]
