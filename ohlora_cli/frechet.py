"""The Fréchet distance between two Gaussians fitted to feature vectors (arrays in, numbers out).

d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)  (Dowson & Landau 1982; the formula FID uses).  ohlora applies
it to its own Property Score CNN's hidden features (``models.cnns.hidden_features``), so it needs no
download; it is *not* FID (no Inception network) and its values are not comparable with FID's.  Like
FID it is biased upward for few samples: compare distances computed with the same number of samples.
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance with ddof 1) of N×F features, in float64; needs N ≥ 2."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"feature_stats needs an N×F array with N >= 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def _sqrtm_psd_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr((Σ₁ Σ₂)^½) through the symmetric form (Σ₁^½ Σ₂ Σ₁^½)^½, whose eigenvalues are real and ≥ 0."""
    vals, vecs = np.linalg.eigh(s1)
    root1 = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    inner = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance d² between N(μ₁, Σ₁) and N(μ₂, Σ₂) (≥ 0; 0 for identical statistics)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError("the two sets of statistics have different feature sizes")
    d2 = float(np.square(mu1 - mu2).sum() + np.trace(sigma1) + np.trace(sigma2)
               - 2 * _sqrtm_psd_product(sigma1, sigma2))
    return max(d2, 0.0)


def frechet_between(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to feature sets ``a`` and ``b``."""
    return frechet_distance(*feature_stats(a), *feature_stats(b))
