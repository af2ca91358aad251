"""Latent edits (pure): w' = w + Σ scale·direction, optionally only on some W+ layers."""

from __future__ import annotations

import numpy as np


def edit_wp(w: np.ndarray, directions: np.ndarray, scales: np.ndarray, num_layers: int,
            layers: tuple[int, ...] | None = None) -> np.ndarray:
    """Edited W+ codes.

    w: (w_dim,) base code; directions: (P, w_dim) unit vectors; scales: (N, P) one row per output.
    Returns wp (N, num_layers, w_dim) float32 — the edit is added on ``layers`` (all when None).
    """
    w = np.asarray(w, np.float32)
    delta = np.asarray(scales, np.float32) @ np.asarray(directions, np.float32)  # (N, w_dim)
    wp = np.broadcast_to(w, (len(delta), num_layers, w.shape[-1])).copy()
    idx = slice(None) if layers is None else list(layers)
    wp[:, idx] += delta[:, None, :]
    return wp


def group_name(scores: dict[str, float], cutoffs: dict[str, float], order: list[str]) -> str:
    """'h' when score ≥ cutoff else 'l', per property in ``order`` (the seed's grouping rule)."""
    return "".join("h" if scores[p] >= cutoffs[p] else "l" for p in order)
