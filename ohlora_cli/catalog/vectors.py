"""Vectors in the catalog: float32 little-endian BLOBs, length-checked on both ends."""

from __future__ import annotations

import numpy as np

from ohlora_cli.errors import CatalogError

_DTYPE = np.dtype("<f4")


def encode(vector: np.ndarray, dim: int) -> bytes:
    """1-d array of exactly ``dim`` values → float32 LE bytes."""
    v = np.asarray(vector)
    if v.ndim != 1 or v.shape[0] != dim:
        raise ValueError(f"expected a vector of {dim} values, got shape {v.shape}")
    return v.astype(_DTYPE, copy=False).tobytes()


def decode(blob: bytes, dim: int) -> np.ndarray:
    """float32 LE bytes → 1-d float32 array of ``dim`` values (raises if the length is wrong)."""
    if blob is None or len(blob) != dim * _DTYPE.itemsize:
        size = "NULL" if blob is None else f"{len(blob)} bytes"
        raise CatalogError(f"stored vector has {size}, expected {dim} float32 values",
                           "Run `ohlora catalog check` to list damaged rows")
    return np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)


def decode_many(blobs: list[bytes], dim: int) -> np.ndarray:
    """Many blobs → (N, dim) float32 array in one allocation."""
    if any(b is None or len(b) != dim * _DTYPE.itemsize for b in blobs):
        raise CatalogError(f"a stored vector does not have {dim} float32 values",
                           "Run `ohlora catalog check` to list damaged rows")
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=_DTYPE).reshape(len(blobs), dim).astype(np.float32)
