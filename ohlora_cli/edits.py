"""Latent edits (pure): w' = w + Σ scale·direction, optionally only on some W+ layers."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def edit_wp(w: np.ndarray, directions: np.ndarray, scales: np.ndarray, num_layers: int,
            layers: tuple[int, ...] | None = None,
            direction_layers: Sequence[Sequence[int] | None] | None = None) -> np.ndarray:
    """Edited W+ codes.

    w: (w_dim,) base code; directions: (P, w_dim) unit vectors; scales: (N, P) one row per output.
    Returns wp (N, num_layers, w_dim) float32.  ``layers`` puts every direction's edit on those layers
    (an explicit choice: ``--layers``, ``eval``'s ``@0-5``); otherwise ``direction_layers`` gives each
    direction its own (a set's per-property layer ranges, None = all layers); with neither, all layers.
    """
    w = np.asarray(w, np.float32)
    directions = np.asarray(directions, np.float32)
    scales = np.asarray(scales, np.float32)
    wp = np.broadcast_to(w, (len(scales), num_layers, w.shape[-1])).copy()
    if layers is None and direction_layers is not None and any(d is not None for d in direction_layers):
        if len(direction_layers) != len(directions):
            raise ValueError(f"{len(direction_layers)} layer ranges for {len(directions)} directions")
        for p, own in enumerate(direction_layers):
            idx = slice(None) if own is None else list(own)
            wp[:, idx] += (scales[:, p:p + 1] * directions[p][None, :])[:, None, :]
        return wp
    delta = scales @ directions  # (N, w_dim)
    idx = slice(None) if layers is None else list(layers)
    wp[:, idx] += delta[:, None, :]
    return wp


def group_name(scores: dict[str, float], cutoffs: dict[str, float], order: list[str]) -> str:
    """'h' when score ≥ cutoff else 'l', per property in ``order`` (the seed's grouping rule)."""
    return "".join("h" if scores[p] >= cutoffs[p] else "l" for p in order)
