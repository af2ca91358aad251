"""Direction calibration (pure math: arrays in, arrays out): how far one unit of a direction moves its property.

Directions are unit vectors in w, so a raw scale says how far w moves, not how much the face changes.
A calibration renders k base images at a few scales s along one direction, measures the property,
and fits one least-squares slope of the measured value (in population standard deviations) against s,
shared by the k images (each image keeps its own intercept): ``sigma_per_unit``.  One population
standard deviation is then ``1 / sigma_per_unit`` raw units (:func:`to_raw`).  ``r`` is the pooled
correlation of that fit (how straight the response is), ``scale_range`` the raw scales measured.

The vectorfind stage renders and measures; these functions only fit, store and convert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Raw scales each property is measured at.  The original's test grid (stages/evaluate.py, edit_grid) edits
# eyes within ±1.2, mouth within ±1.8 and pose within -1.8..0.6; calibrations are symmetric and twice the
# eyes range, so the scales σ units are used at (±2σ, a blink is -2σ: about ±3 raw on the embedded
# generator) lie within 1.5× of it.  On the embedded generator all three respond about linearly there
# (README "Edits"); pose flattens beyond ±2.
SCALES = {"eyes": (-2.4, -1.2, 0.0, 1.2, 2.4), "mouth": (-2.4, -1.2, 0.0, 1.2, 2.4),
          "pose": (-2.4, -1.2, 0.0, 1.2, 2.4)}
DEFAULT_SCALES = (-2.4, -1.2, 0.0, 1.2, 2.4)  # every other property
RANGE_SLACK = 1.5  # a scale beyond this many times the calibrated range gets a warning
KEYS = ("sigma_per_unit", "calibration_r", "calibrated_range")  # what a Direction row's metrics_json holds


@dataclass(frozen=True)
class Calibration:
    """One direction's calibration: σ of its property per raw unit, the fit's r, the raw scales measured."""

    sigma_per_unit: float
    r: float
    scale_range: tuple[float, float]
    images: int = 0  # base images the fit pooled

    @property
    def usable(self) -> bool:
        """A positive, finite slope: the direction increases its property, so σ units can size it."""
        return math.isfinite(self.sigma_per_unit) and self.sigma_per_unit > 0

    def to_metrics(self) -> dict:
        """The keys stored in a Direction row's ``metrics_json`` (non-finite numbers as null)."""
        return {"sigma_per_unit": _finite(self.sigma_per_unit, 5), "calibration_r": _finite(self.r, 4),
                "calibrated_range": [float(self.scale_range[0]), float(self.scale_range[1])],
                "calibration_images": int(self.images)}


def _finite(v: float, digits: int) -> float | None:
    return round(float(v), digits) if math.isfinite(v) else None


def scales_for(prop: str) -> np.ndarray:
    """The raw scales ``prop``'s directions are calibrated at (0 among them: the unedited image)."""
    return np.array(SCALES.get(prop, DEFAULT_SCALES), np.float64)


def fit_calibration(scales: np.ndarray, measured: np.ndarray, sigma: float) -> Calibration:
    """Pooled least-squares slope of ``measured / sigma`` on ``scales``.

    scales: (S,) raw scales; measured: (k, S) the property of k base images at each scale (raw units of
    the scorer); sigma: the property's population standard deviation (same units).  Images with a
    non-finite value are left out; with none left, no spread in the scales or sigma <= 0, the slope
    and r are NaN.  r is NaN as well when the measured values do not move at all (slope 0).
    """
    x = np.asarray(scales, np.float64).reshape(-1)
    y = np.asarray(measured, np.float64).reshape(-1, len(x))
    y = y[np.isfinite(y).all(axis=1)]
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (math.nan, math.nan)
    if not len(y) or not (math.isfinite(sigma) and sigma > 0) or not len(x) or x.std() == 0:
        return Calibration(math.nan, math.nan, (lo, hi), len(y))
    dx = x - x.mean()
    dy = (y - y.mean(axis=1, keepdims=True)) / sigma
    sxy, sxx, syy = float((dy @ dx).sum()), float(len(y) * (dx @ dx)), float((dy * dy).sum())
    r = sxy / math.sqrt(sxx * syy) if syy > 0 else math.nan
    return Calibration(sxy / sxx, r, (lo, hi), len(y))


def from_metrics(metrics: dict | None) -> Calibration | None:
    """The calibration stored in a Direction row's metrics (None when it has none)."""
    if not metrics or "sigma_per_unit" not in metrics:
        return None
    spu, r = metrics.get("sigma_per_unit"), metrics.get("calibration_r")
    lo, hi = (metrics.get("calibrated_range") or [math.nan, math.nan])[:2]
    return Calibration(math.nan if spu is None else float(spu), math.nan if r is None else float(r),
                       (float(lo), float(hi)), int(metrics.get("calibration_images", 0)))


def to_raw(values: np.ndarray, sigma_per_unit: np.ndarray) -> np.ndarray:
    """Scales in σ units → raw scales, column by column: (N, P) / (P,)."""
    return np.asarray(values, np.float64) / np.asarray(sigma_per_unit, np.float64)


def beyond_range(raw: float, cal: Calibration, slack: float = RANGE_SLACK) -> bool:
    """True when a raw scale lies past ``slack`` times the calibrated range on its side of 0."""
    lo, hi = cal.scale_range
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    tol = 1 + 1e-9  # 2.4 × 1.5 is 3.5999999999999996 in floats: 3.6 is inside
    return raw > max(hi, 0.0) * slack * tol or raw < min(lo, 0.0) * slack * tol


__all__ = ["Calibration", "SCALES", "DEFAULT_SCALES", "RANGE_SLACK", "KEYS", "scales_for", "fit_calibration",
           "from_metrics", "to_raw", "beyond_range"]
