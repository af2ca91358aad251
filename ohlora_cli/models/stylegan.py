"""StyleGAN v1 generator and discriminator with GenForce's state-dict layout.

State-dict names, shapes and runtime semantics follow GenForce's StyleGAN
("celeba-partial-256x256" and friends) and the Oh-LoRA conditional variant
(docs/original.md §1.2–1.3): a ``k×label_dim`` ``mapping.label_weight`` whose embedding is
concatenated with ``z`` before the pixel norm, and a discriminator that
concatenates the label just before its last dense layer.

What differs from GenForce is speed, not numbers: inference uses cached
equalised-lr weights, fused instance norm and, optionally, channels-last
memory and bf16 autocast.  Only the configuration the Oh-LoRA models use is
supported: ``repeat_w=True``, ``const_input=True``, spatial noise, wscale on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ohlora_cli.models.devices import to_host

INIT_RES = 4
WSCALE_GAIN = math.sqrt(2.0)
AUTO_FUSED_SCALE_MIN_RES = 128
RESOLUTIONS_ALLOWED = (8, 16, 32, 64, 128, 256, 512, 1024)

NoiseMode = Literal["const", "random", "none"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a :class:`StyleGANGenerator` (everything a checkpoint must record)."""

    resolution: int
    z_dim: int = 512
    w_dim: int = 512
    label_size: int = 0
    label_dim: int = 16
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lr_mul: float = 0.01
    fmaps_base: int = 16 << 10
    fmaps_max: int = 512
    fused_scale: bool | str = "auto"
    image_channels: int = 3
    final_tanh: bool = False

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS_ALLOWED:
            raise ValueError(f"resolution {self.resolution} is not one of {RESOLUTIONS_ALLOWED}")

    @property
    def num_layers(self) -> int:
        return int(math.log2(self.resolution // INIT_RES * 2)) * 2

    def channels(self, res: int) -> int:
        return min(self.fmaps_base // res, self.fmaps_max)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Architecture of a :class:`StyleGANDiscriminator`.

    ``label_mode`` ``concat`` is the Oh-LoRA layout (label joined before the
    last dense layer, whose weight is ``(1, nf + k)``); ``project`` is
    GenForce's own (last layer outputs ``k`` values, summed against the label).
    """

    resolution: int
    label_size: int = 0
    label_mode: str = "concat"
    mbstd_group_size: int = 4
    mbstd_channels: int = 1
    fmaps_base: int = 16 << 10
    fmaps_max: int = 512
    fused_scale: bool | str = "auto"
    image_channels: int = 3

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS_ALLOWED:
            raise ValueError(f"resolution {self.resolution} is not one of {RESOLUTIONS_ALLOWED}")
        if self.label_mode not in ("concat", "project"):
            raise ValueError(f"label_mode must be concat or project, not {self.label_mode!r}")

    def channels(self, res: int) -> int:
        return min(self.fmaps_base // res, self.fmaps_max)

    def to_dict(self) -> dict:
        return asdict(self)


def _fused(fused_scale: bool | str, res: int) -> bool:
    return res >= AUTO_FUSED_SCALE_MIN_RES if fused_scale == "auto" else bool(fused_scale)


def _blur_kernel(channels: int) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0])
    k = torch.outer(k, k)
    k = k / k.sum()
    return k.expand(channels, 1, 3, 3).contiguous()


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``, but batch-invariant when no gradient is needed.

    BLAS picks different kernels for different batch sizes, so row i of a
    batched ``F.linear`` can differ in the last bits from the same row alone.
    One small GEMM per sample (``baddbmm``) gives bit-identical rows at any
    batch size, which is what lets a catalog row re-render exactly.
    """
    if torch.is_grad_enabled():
        return F.linear(x, weight, bias)
    n = x.shape[0]
    rows = x.unsqueeze(1)
    weight_t = weight.t().expand(n, -1, -1)
    if bias is None:
        return torch.bmm(rows, weight_t).squeeze(1)
    return torch.baddbmm(bias.expand(n, 1, -1), rows, weight_t).squeeze(1)


def _sum4(weight: torch.Tensor) -> torch.Tensor:
    """GenForce's fused-scale kernel: pad a 3×3 kernel to 5×5 and sum 4 shifted copies → 4×4."""
    w = F.pad(weight, (1, 1, 1, 1))
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


class _ScaledWeights(nn.Module):
    """Base for layers whose effective weight is ``weight * wscale``.

    In eval mode the product is cached (keyed on the parameter's version
    counter), so inference does no per-call weight arithmetic.
    """

    weight: nn.Parameter
    wscale: float

    def _effective_weight(self) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return self._make_weight()
        key = (self.weight._version, self.weight.data_ptr(), self.weight.dtype, self.weight.device)
        cache = getattr(self, "_wcache", None)
        if cache is None or cache[0] != key:
            cache = (key, self._make_weight().detach())
            object.__setattr__(self, "_wcache", cache)
        return cache[1]

    def _make_weight(self) -> torch.Tensor:
        return self.weight * self.wscale


class DenseBlock(_ScaledWeights):
    """Equalised-lr linear layer + optional LeakyReLU(0.2) (GenForce ``DenseBlock``)."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = WSCALE_GAIN,
                 lr_mul: float = 1.0, activation: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.wscale = gain / math.sqrt(in_features) * lr_mul
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.bscale = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _linear(x.flatten(1), self._effective_weight(), self.bias * self.bscale)
        return F.leaky_relu(x, 0.2) if self.activation else x


class MappingNetwork(nn.Module):
    """z (+ label) → w: optional label embedding, pixel norm, ``mapping_layers`` dense layers."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.z_dim, self.label_size = cfg.z_dim, cfg.label_size
        self.num_layers = cfg.mapping_layers
        in_dim = cfg.z_dim
        if cfg.label_size:
            self.label_weight = nn.Parameter(torch.randn(cfg.label_size, cfg.label_dim))
            in_dim += cfg.label_dim
        for i in range(cfg.mapping_layers):
            out_dim = cfg.w_dim if i == cfg.mapping_layers - 1 else cfg.mapping_fmaps
            self.add_module(f"dense{i}", DenseBlock(in_dim, out_dim, lr_mul=cfg.mapping_lr_mul))
            in_dim = out_dim

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if self.label_size:
            if label is None or label.shape != (z.shape[0], self.label_size):
                raise ValueError(f"this generator needs a label of shape (N, {self.label_size})")
            z = torch.cat([z, _linear(label.to(z.dtype), self.label_weight.to(z.dtype).t())], dim=1)
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for i in range(self.num_layers):
            x = getattr(self, f"dense{i}")(x)
        return x


class Truncation(nn.Module):
    """w → wp (N × num_layers × w_dim), with the truncation trick toward ``w_avg``."""

    def __init__(self, w_dim: int, num_layers: int) -> None:
        super().__init__()
        self.w_dim, self.num_layers = w_dim, num_layers
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, w: torch.Tensor, psi: float = 1.0, layers: int = 0) -> torch.Tensor:
        wp = w.unsqueeze(1).expand(-1, self.num_layers, -1) if w.ndim == 2 else w
        if psi < 1.0 and layers > 0:
            cut = min(layers, self.num_layers)
            head = self.w_avg + psi * (wp[:, :cut] - self.w_avg)
            wp = torch.cat([head, wp[:, cut:]], dim=1)
        return wp

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor, decay: float = 0.995) -> None:
        """GenForce's moving average, applied while training: w_avg ← decay·w_avg + (1−decay)·mean(w)."""
        self.w_avg.copy_(self.w_avg * decay + w.detach().mean(dim=0) * (1 - decay))


class NoiseInput(nn.Module):
    """Per-pixel noise, ``noise(1×1×R×R) · weight(C)``; the buffer is the fixed inference noise."""

    def __init__(self, res: int, channels: int) -> None:
        super().__init__()
        self.res = res
        self.register_buffer("noise", torch.randn(1, 1, res, res))
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise_mode: NoiseMode) -> torch.Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.res, self.res, device=x.device, dtype=x.dtype)
        else:
            noise = self.noise.to(x.dtype)
        return x + noise * self.weight.to(x.dtype).view(1, -1, 1, 1)


class StyleMod(nn.Module):
    """AdaIN style: ``y = w·W/√w_dim + b`` split into scale/shift, ``x·(1+scale) + shift``."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.randn(channels * 2, w_dim))
        self.wscale = 1.0 / math.sqrt(w_dim)
        self.bias = nn.Parameter(torch.zeros(channels * 2))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = _linear(w, self.weight * self.wscale, self.bias).to(x.dtype)
        scale, shift = style.view(-1, 2, self.channels, 1, 1).unbind(1)
        return torch.addcmul(shift, x, scale + 1)


class SynthesisLayer(_ScaledWeights):
    """One styled conv layer: [const | (upsample+)conv3×3 (+blur)] → noise → bias → lrelu → IN → style."""

    def __init__(self, in_channels: int, out_channels: int, res: int, w_dim: int, *,
                 const: bool = False, upsample: bool = False, fused: bool = False) -> None:
        super().__init__()
        self.const_input, self.upsample, self.fused = const, upsample, upsample and fused
        if const:
            self.const = nn.Parameter(torch.ones(1, in_channels, res, res))
        else:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.wscale = WSCALE_GAIN / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if upsample:
            self.blur = Blur(out_channels)
        self.apply_noise = NoiseInput(res, out_channels)
        self.style = StyleMod(w_dim, out_channels)

    def _make_weight(self) -> torch.Tensor:
        w = self.weight * self.wscale
        return _sum4(w).permute(1, 0, 2, 3) if self.fused else w  # transposed conv takes (in, out, k, k)

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise_mode: NoiseMode) -> torch.Tensor:
        if self.const_input:
            x = self.const.to(w.dtype).expand(w.shape[0], -1, -1, -1)
        else:
            weight = self._effective_weight().to(x.dtype)
            if self.fused:
                x = F.conv_transpose2d(x, weight, stride=2, padding=1)
            else:
                if self.upsample:
                    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                x = F.conv2d(x, weight, padding=1)
            if self.upsample:
                x = self.blur(x)
        x = self.apply_noise(x, noise_mode)
        x = F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), 0.2)
        x = F.instance_norm(x, eps=1e-8)
        return self.style(x, w)


class ToRGB(_ScaledWeights):
    """1×1 conv with gain 1, linear (GenForce ``output{i}``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.wscale = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self._effective_weight().to(x.dtype), self.bias.to(x.dtype))


class Blur(nn.Module):
    """Depthwise [1,2,1]⊗[1,2,1]/16 blur; the kernel is a (persistent) buffer as in GenForce."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", _blur_kernel(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=self.channels)


class SynthesisNetwork(nn.Module):
    """wp (N × num_layers × w_dim) → image in about [-1, 1] at ``lod = 0``."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.num_layers = cfg.num_layers
        self.w_dim = cfg.w_dim
        self.final_tanh = cfg.final_tanh
        self.register_buffer("lod", torch.zeros(()))
        self.num_blocks = self.num_layers // 2
        for b in range(self.num_blocks):
            res = INIT_RES * 2**b
            nf = cfg.channels(res)
            if b == 0:
                first = SynthesisLayer(nf, nf, res, cfg.w_dim, const=True)
            else:
                first = SynthesisLayer(cfg.channels(res // 2), nf, res, cfg.w_dim, upsample=True,
                                       fused=_fused(cfg.fused_scale, res))
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", SynthesisLayer(nf, nf, res, cfg.w_dim))
            self.add_module(f"output{b}", ToRGB(nf, cfg.image_channels))

    def forward(self, wp: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """Render ``wp`` (or a single ``w`` of shape N×w_dim, broadcast to every layer)."""
        if wp.ndim == 2:
            wp = wp.unsqueeze(1).expand(-1, self.num_layers, -1)
        if wp.ndim != 3 or wp.shape[1:] != (self.num_layers, self.w_dim):
            raise ValueError(f"wp must have shape (N, {self.num_layers}, {self.w_dim}), got {tuple(wp.shape)}")
        x = None
        for i in range(self.num_layers):
            x = getattr(self, f"layer{i}")(x, wp[:, i], noise_mode)
        image = getattr(self, f"output{self.num_blocks - 1}")(x)
        return torch.tanh(image) if self.final_tanh else image


class StyleGANGenerator(nn.Module):
    """GenForce StyleGAN v1 generator; ``mapping``/``truncation``/``synthesis`` as in its state dict."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.truncation = Truncation(cfg.w_dim, cfg.num_layers)
        self.synthesis = SynthesisNetwork(cfg)

    @property
    def num_layers(self) -> int:
        return self.cfg.num_layers

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None, *, psi: float = 1.0,
                trunc_layers: int = 0, noise_mode: NoiseMode = "const") -> torch.Tensor:
        w = self.mapping(z, label)
        return self.synthesis(self.truncation(w, psi, trunc_layers), noise_mode)


class MinibatchStd(nn.Module):
    """Minibatch standard deviation over groups of ``group_size`` samples (GenForce layout)."""

    def __init__(self, group_size: int, new_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.new_channels = group_size, new_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:  # GenForce requires divisibility; fall back to the largest divisor
            g -= 1
        nc = self.new_channels
        y = x.view(g, -1, nc, c // nc, h, w)
        y = (y - y.mean(dim=0, keepdim=True)).square().mean(dim=0)
        y = torch.sqrt(y + 1e-8).mean(dim=[2, 3, 4]).view(-1, nc, 1, 1)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class DiscriminatorConv(_ScaledWeights):
    """D conv: [mbstd] → [blur] → conv (fused stride-2 or plain) → [avg-pool] → lrelu."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3,
                 downsample: bool = False, fused: bool = False, mbstd_group_size: int = 0,
                 mbstd_channels: int = 1) -> None:
        super().__init__()
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_channels) if mbstd_group_size > 1 else None
        if self.mbstd is not None:
            in_channels += mbstd_channels
        self.downsample, self.fused = downsample, downsample and fused
        if downsample:
            self.blur = Blur(in_channels)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.wscale = WSCALE_GAIN / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.padding = kernel_size // 2

    def _make_weight(self) -> torch.Tensor:
        w = self.weight * self.wscale
        return _sum4(w) * 0.25 if self.fused else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        if self.downsample:
            x = self.blur(x)
        weight = self._effective_weight().to(x.dtype)
        bias = self.bias.to(x.dtype)
        if self.fused:
            x = F.conv2d(x, weight, bias, stride=2, padding=1)
        else:
            x = F.conv2d(x, weight, bias, padding=self.padding)
            if self.downsample:
                x = F.avg_pool2d(x, 2)
        return F.leaky_relu(x, 0.2)


class StyleGANDiscriminator(nn.Module):
    """GenForce StyleGAN v1 discriminator (``input{i}``, ``layer{0..2n}``), label per ``label_mode``."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("lod", torch.zeros(()))
        final_log2 = int(math.log2(cfg.resolution))
        self.num_blocks = final_log2 - int(math.log2(INIT_RES)) + 1
        for i in range(self.num_blocks):
            res = cfg.resolution // 2**i
            nf = cfg.channels(res)
            self.add_module(f"input{i}", DiscriminatorConv(cfg.image_channels, nf, kernel_size=1))
            if res != INIT_RES:
                self.add_module(f"layer{2 * i}", DiscriminatorConv(nf, nf))
                self.add_module(f"layer{2 * i + 1}", DiscriminatorConv(
                    nf, cfg.channels(res // 2), downsample=True, fused=_fused(cfg.fused_scale, res)))
            else:
                self.add_module(f"layer{2 * i}", DiscriminatorConv(
                    nf, nf, mbstd_group_size=cfg.mbstd_group_size, mbstd_channels=cfg.mbstd_channels))
                hidden = cfg.channels(res // 2)
                self.add_module(f"layer{2 * i + 1}", DenseBlock(nf * res * res, hidden))
                concat = cfg.label_size if cfg.label_mode == "concat" else 0
                out = cfg.label_size if (cfg.label_size and cfg.label_mode == "project") else 1
                self.add_module(f"layer{2 * i + 2}", DenseBlock(hidden + concat, out, gain=1.0, activation=False))

    def forward(self, image: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """Score images (N×C×R×R) → logits (N×1)."""
        cfg = self.cfg
        if cfg.label_size and (label is None or label.shape != (image.shape[0], cfg.label_size)):
            raise ValueError(f"this discriminator needs a label of shape (N, {cfg.label_size})")
        x = self.input0(image)
        for i in range(self.num_blocks):
            x = getattr(self, f"layer{2 * i}")(x)
            x = getattr(self, f"layer{2 * i + 1}")(x)
        last = getattr(self, f"layer{2 * self.num_blocks}")
        if cfg.label_size and cfg.label_mode == "concat":
            return last(torch.cat([x, label.to(x.dtype)], dim=1))
        x = last(x)
        if cfg.label_size:
            x = (x * label.to(x.dtype)).sum(dim=1, keepdim=True)
        return x


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def to_uint8(images: torch.Tensor) -> "numpy.ndarray":  # noqa: F821
    """[-1, 1] NCHW float → NHWC uint8 RGB, exactly the seed's ``(x+1)·127.5 + 0.5`` then clip."""
    x = (images.detach().float() + 1.0) * 127.5 + 0.5
    return to_host(x.clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))


__all__ = [
    "DiscriminatorConfig", "GeneratorConfig", "StyleGANDiscriminator", "StyleGANGenerator",
    "count_parameters", "to_uint8",
]
