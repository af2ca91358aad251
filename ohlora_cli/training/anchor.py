"""The synthetic base recipe's supervised warm-up loss, and its use as an anchor of adversarial training.

The warm-up regresses G(z, label) (class-weighted L1 + hair-texture statistics) onto the face the
renderer draws for attributes that are a fixed function of (z, label)
(:func:`ohlora_cli.synthetic.latent_code.attributes_from_latent`).  :class:`WarmupAnchor` adds
``weight`` × that loss to every G update: the base recipe's adversarial phase
(:mod:`ohlora_cli.synthetic.train_base`) and ``finetune --anchor`` of a synthetic-world generator use it.
It lives here, below the stages, so both can.  Every tensor is made on G's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator
from ohlora_cli.properties.algorithms import (
    HAIR,
    HAIRSTYLE_DENOM_BIAS,
    HAIRSTYLE_OFFSET,
    HAIRSTYLE_ROW_START,
    scale_length,
)
from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.latent_code import (
    LATENT_ATTRIBUTES,
    AttributeStats,
    attributes_from_latent,
)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# Per-class weights of the warm-up's L1 loss: the small parts the directions must later move
# (eyes, brows, mouth) would otherwise drown in skin, hair and background pixels.  (Eyes 8 and lips 5/6/5
# gave an eyes spread of .48 once the hair-texture term shared the loss.)
CLASS_WEIGHTS = np.array([1.0, 1.0, 4.0, 4.0, 16.0, 16.0, 2.0, 8.0, 10.0, 8.0, 1.0], np.float32)


RARE_ATTRIBUTES = ("gender", "age", "glasses", "quality")

# Weight of the hair-texture term in the warm-up loss of the shipped base (train_base --hair-texture); the
# anchor of a fine-tune uses it too, so it anchors to the loss the base was trained with.
BASE_HAIR_TEXTURE = 1.0


def hair_texture_stats(images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """(N, 3) phase-free statistics of the hair texture: mean V, mean H and mean V / (H + bias).

    The seed's hairstyle score (:func:`ohlora_cli.properties.algorithms.hairstyle_score`) at any
    resolution, made differentiable: on the grey image (``images`` in [-1, 1], NCHW), V = |g - g below|,
    H = max(|g - g left|, |g - g right|) at the score's offset, over the lower half's hair pixels
    (``maps`` == hair at the pixel and its three neighbours).  They do not depend on where a strand or a
    curl lies, so G can match them with its noise inputs, which an L1 loss on pixels (that only learns
    the average hair, flat) cannot teach it.  Images without such pixels get zeros.
    """
    n = images.shape[-1]
    d = scale_length(HAIRSTYLE_OFFSET, n, minimum=1)
    y0 = scale_length(HAIRSTYLE_ROW_START, n)
    g = images.mean(1)[:, y0:]
    hair = (maps == HAIR)[:, y0:]
    c, below = g[:, :-d, d:-d], g[:, d:, d:-d]
    left, right = g[:, :-d, :-2 * d], g[:, :-d, 2 * d:]
    mask = (hair[:, :-d, d:-d] & hair[:, d:, d:-d] & hair[:, :-d, :-2 * d] & hair[:, :-d, 2 * d:]).float()
    v = (c - below).abs()
    h = torch.maximum((c - left).abs(), (c - right).abs())
    ratio = v / (h + HAIRSTYLE_DENOM_BIAS / 127.5)
    k = mask.sum((1, 2)).clamp(min=1.0)
    return torch.stack([(x * mask).sum((1, 2)) / k for x in (v, h, ratio)], 1)


def rare_tails(stats: AttributeStats) -> dict[str, tuple[float, bool]]:
    """Per rare filter attribute: the z value where it crosses 0.5 under the warm-up's quantile mapping,
    and whether the rare side is the upper tail (male, old, glasses) or the lower one (low quality)."""
    from statistics import NormalDist

    out = {}
    for name in RARE_ATTRIBUTES:
        q = stats.quantiles[renderer.ATTRIBUTE_NAMES.index(name)]
        u = float(np.searchsorted(q, 0.5) / (len(q) - 1))
        u = min(max(u, 1e-4), 1 - 1e-4)
        out[name] = (NormalDist().inv_cdf(u), name != "quality")
    return out


def oversample_rare(z: np.ndarray, rng: np.random.Generator, tails: dict[str, tuple[float, bool]],
                    fraction: float) -> np.ndarray:
    """Move each rare attribute's z dim into its rare tail for ``fraction`` of the batch (in place).

    At generation time z ~ N(0, I) keeps the natural rates; the warm-up just sees enough male / old /
    glasses / low-quality targets to learn them (at ~4–10 % they were drowned out).
    """
    from statistics import NormalDist

    inv = np.vectorize(NormalDist().inv_cdf)
    for name, (z_cut, upper) in tails.items():
        j = LATENT_ATTRIBUTES.index(name)
        pick = rng.random(len(z)) < fraction
        if pick.any():
            u_cut = NormalDist().cdf(z_cut)
            u = rng.uniform(u_cut, 1 - 1e-6, pick.sum()) if upper else rng.uniform(1e-6, u_cut, pick.sum())
            z[pick, j] = inv(u)
    return z


@dataclass
class WarmupBatch:
    z: torch.Tensor  # (N, 512)
    label: torch.Tensor  # (N, 7)
    target: torch.Tensor  # (N, 3, R, R) in [-1, 1]: what the renderer draws for (z, label)
    maps: torch.Tensor  # (N, R, R) its parsing map

    def to(self, device: torch.device) -> WarmupBatch:
        return WarmupBatch(self.z.to(device), self.label.to(device), self.target.to(device), self.maps.to(device))


def warmup_batch(rng: np.random.Generator, stats: AttributeStats, g_cfg: GeneratorConfig, batch_size: int, *,
                 tails: dict | None = None, rare_fraction: float = 0.0, texture_seeds: int = 0) -> WarmupBatch:
    """One supervised batch: z, labels ~ N(0, I) (rare tails oversampled) and the renderer's faces for them."""
    z = rng.standard_normal((batch_size, g_cfg.z_dim)).astype(np.float32)
    label = rng.standard_normal((batch_size, g_cfg.label_size)).astype(np.float32)
    if tails:
        z = oversample_rare(z, rng, tails, rare_fraction)
    attrs, tex = attributes_from_latent(z, label, stats, texture_seeds)
    images, maps = renderer.render(attrs, tex, g_cfg.resolution)
    return WarmupBatch(torch.from_numpy(z), torch.from_numpy(label), to_tensor(images), torch.from_numpy(maps))


def warmup_loss(G: StyleGANGenerator, batch: WarmupBatch,
                hair_texture: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(loss, w, hair-texture term or None): class-weighted L1 at full size + 2 × L1 at 1/4 size
    + ``hair_texture`` × L1 of :func:`hair_texture_stats`; on G's device."""
    batch = batch.to(next(G.parameters()).device)
    weight = torch.from_numpy(CLASS_WEIGHTS).to(batch.maps.device)[batch.maps.long()][:, None]
    w = G.mapping(batch.z, batch.label)
    fake = G.synthesis(G.truncation(w), "random")
    loss = ((fake - batch.target).abs() * weight).mean() / weight.mean() \
        + 2.0 * (F.avg_pool2d(fake, 4) - F.avg_pool2d(batch.target, 4)).abs().mean()
    tex_loss = None
    if hair_texture > 0:
        tex_loss = (hair_texture_stats(fake, batch.maps) - hair_texture_stats(batch.target, batch.maps)).abs().mean()
        loss = loss + hair_texture * tex_loss
    return loss, w, tex_loss


class WarmupAnchor:
    """G regulariser of the adversarial phase: ``weight`` × the warm-up loss on batch (seed, step).

    Keeps what only the warm-up teaches (which z dim draws which attribute, the hair texture) while the
    adversarial phase sharpens the faces; without it 1,000 adversarial steps undid the warm-up's hairstyle.
    The batch is drawn on the CPU from (seed, step) alone (the same on any device) and moved to G's device.
    """

    def __init__(self, G: StyleGANGenerator, stats: AttributeStats, *, seed: int, batch_size: int, weight: float,
                 hair_texture: float = 0.0) -> None:
        self.G, self.stats, self.seed, self.batch_size = G, stats, seed, batch_size
        self.weight, self.hair_texture = weight, hair_texture
        self._batch: tuple[int, WarmupBatch] | None = None

    def __call__(self, step: int) -> torch.Tensor:
        if self._batch is None or self._batch[0] != step:  # G's repeated updates of a step share its batch
            rng = np.random.default_rng([self.seed, 11, step])
            self._batch = (step, warmup_batch(rng, self.stats, self.G.cfg, self.batch_size))
        return self.weight * warmup_loss(self.G, self._batch[1], self.hair_texture)[0]
