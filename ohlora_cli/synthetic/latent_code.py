"""The embedded world's latent code: how a (z, label) pair names a rendered face.

The 7 label dims are the renderer's eyes, hair colour / length, mouth, pose and background mean / std,
normalised by the population statistics; z[:, 0..4] carry hairstyle, gender, age, glasses and quality
through their quantiles, z[:, 5] the texture seed.  The base recipe regresses G onto this function,
the acceptance check reads it back, and the CNN recipe labels generated faces with it.  Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import erf, sqrt

import numpy as np

from ohlora_cli.synthetic import renderer

LABEL_ATTRIBUTES = ("eyes", "hair_color", "hair_length", "mouth", "pose", "background_mean", "background_std")


LATENT_ATTRIBUTES = ("hairstyle", "gender", "age", "glasses", "quality")


STATS_SEEDS = range(10_000_000, 10_020_000)


@dataclass(frozen=True)
class AttributeStats:
    """Population statistics of the renderer's attributes (for label normalisation and quantiles)."""

    mean: np.ndarray  # (12,)
    std: np.ndarray  # (12,)
    quantiles: np.ndarray  # (12, 1001): value at probability k/1000

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "quantiles": self.quantiles.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "AttributeStats":
        return cls(np.array(d["mean"], np.float32), np.array(d["std"], np.float32),
                   np.array(d["quantiles"], np.float32))


def attribute_stats() -> AttributeStats:
    attrs = renderer.sample_attributes(np.array(STATS_SEEDS))
    q = np.quantile(attrs, np.linspace(0, 1, 1001), axis=0).T
    return AttributeStats(attrs.mean(0), attrs.std(0, ddof=1), q.astype(np.float32))


def _index(names) -> list[int]:
    return [renderer.ATTRIBUTE_NAMES.index(n) for n in names]


def labels_from_attributes(attrs: np.ndarray, stats: AttributeStats) -> np.ndarray:
    """(N, 12) renderer attributes → (N, 7) normalised labels (the original's 7 label dims)."""
    idx = _index(LABEL_ATTRIBUTES)
    return ((attrs[:, idx] - stats.mean[idx]) / stats.std[idx]).astype(np.float32)


def attributes_from_latent(z: np.ndarray, label: np.ndarray, stats: AttributeStats,
                           texture_seeds: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The fixed function (z, label) → (renderer attributes (N, 12), texture seeds (N,)) of the warm-up.

    The renderer's seed sets textures and small jitters.  ``texture_seeds`` = 0 draws it from z[:, 5]
    over the whole seed range (a chaotic function of z: L1 can only learn its average, so curls and
    strands blur into the same flat hair); K ≥ 1 uses just K seeds (0 .. K-1, by z[:, 5]'s quantile),
    so hairstyle and background texture become learnable and the adversarial phase adds the variety.
    """
    n = len(z)
    attrs = np.zeros((n, len(renderer.ATTRIBUTE_NAMES)), np.float32)
    idx = _index(LABEL_ATTRIBUTES)
    lo = np.array([renderer.ATTRIBUTE_RANGES[a][0] for a in LABEL_ATTRIBUTES], np.float32)
    hi = np.array([renderer.ATTRIBUTE_RANGES[a][1] for a in LABEL_ATTRIBUTES], np.float32)
    attrs[:, idx] = np.clip(stats.mean[idx] + stats.std[idx] * label, lo, hi)
    phi = np.vectorize(lambda x: 0.5 * (1 + erf(x / sqrt(2))))
    for j, name in enumerate(LATENT_ATTRIBUTES):
        k = renderer.ATTRIBUTE_NAMES.index(name)
        u = phi(z[:, j].astype(np.float64))
        attrs[:, k] = np.interp(u, np.linspace(0, 1, 1001), stats.quantiles[k])
    g = renderer.ATTRIBUTE_NAMES.index("glasses")
    attrs[:, g] = (attrs[:, g] >= 0.5).astype(np.float32)
    u = phi(z[:, len(LATENT_ATTRIBUTES)].astype(np.float64))
    if texture_seeds > 0:
        return attrs, np.minimum((u * texture_seeds).astype(np.int64), texture_seeds - 1)
    return attrs, (u * (2**31 - 1)).astype(np.int64)
