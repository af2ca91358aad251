"""z-normalisation of raw property values, as the seed does it with pandas.

Per property: ``(v - mean) / std`` with the sample std (ddof = 1), each value rounded to 4
decimals with Python's ``round`` (pandas ``Series.apply(lambda x: round(x, 4))``).
"""

from __future__ import annotations

import numpy as np


def _columns(values: np.ndarray) -> np.ndarray:
    """(P, N) contiguous float64 view of (N,) or (N, P) values, one row per property."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] == 0:
        raise ValueError(f"values must be a non-empty (N,) or (N, P) array, got shape {v.shape}")
    return np.ascontiguousarray(v.reshape(v.shape[0], -1).T)


def fit_normalisation(values: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(mean, std) per property; std is pandas' (ddof = 1), 0.0 when N = 1.

    Returns floats for (N,) input and (P,) arrays for (N, P) input.
    """
    cols = _columns(values)
    n = cols.shape[1]
    mean = cols.sum(axis=1) / n  # pairwise sum per property, like a pandas Series
    if n < 2:
        std = np.zeros_like(mean)
    else:
        std = np.sqrt(((cols - mean[:, None]) ** 2).sum(axis=1) / (n - 1))
    if np.ndim(values) == 1:
        return float(mean[0]), float(std[0])
    return mean, std


_round = np.frompyfunc(round, 2, 1)


def round_like_python(values: np.ndarray, decimals: int) -> np.ndarray:
    """Round each value with Python's correctly rounded ``round(x, decimals)``."""
    v = np.asarray(values, dtype=np.float64)
    return _round(v, decimals).astype(np.float64).reshape(v.shape)


def apply_normalisation(
    values: np.ndarray,
    mean: np.ndarray | float,
    std: np.ndarray | float,
    decimals: int | None = 4,
) -> np.ndarray:
    """(values - mean) / std, rounded to ``decimals`` (None: no rounding); 0 where std == 0."""
    v = np.asarray(values, dtype=np.float64)
    mean_a = np.asarray(mean, dtype=np.float64)
    std_a = np.asarray(std, dtype=np.float64)
    ok = std_a != 0
    safe_std = np.where(ok, std_a, 1.0)
    out = np.where(ok, (v - mean_a) / safe_std, 0.0)
    return out if decimals is None else round_like_python(out, decimals)
