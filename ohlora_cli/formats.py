"""The original project's CSV files: latent codes (``ohlora_z_vectors.csv``) and direction vectors
(``{prop}_change_w_vector_{group}.csv``).  Files in, float arrays out; one-line errors for bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

UNIT_TOL = 1e-4  # how far from unit length an imported direction may be

from ohlora_cli.errors import InputFileError


def _numbers(cells: list[str], path: Path, row: int) -> np.ndarray:
    try:
        return np.array([float(c) for c in cells], np.float64)
    except ValueError:
        bad = next(c for c in cells if not _is_float(c))
        raise InputFileError(f"{path} row {row} has a non-numeric cell {bad!r}",
                             "Every value must be a number") from None


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_seed_direction_csv(path: Path, w_dim: int = 512) -> np.ndarray:
    """One ``{prop}_change_w_vector_{group}.csv`` (pandas index column + w_dim values) → unit vector."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if len(rows) != 2 or len(rows[1]) != w_dim + 1:
        width = len(rows[1]) - 1 if len(rows) > 1 else 0
        raise InputFileError(f"{path} must hold a header and one row of {w_dim} values, found {len(rows) - 1} "
                             f"row(s) of {width}", "Pass the original's property_score_vectors folder")
    v = _numbers(rows[1][1:], path, 1)
    norm = float(np.linalg.norm(v))
    if abs(norm - 1.0) > UNIT_TOL:
        raise InputFileError(f"{path} is not a unit vector (norm {norm:.6f})", "The seed's vectors are unit-norm")
    return v.astype(np.float32)


def read_latent_csv(path: Path, width: int) -> np.ndarray:
    """A CSV of latent codes, ``width`` numeric columns per row (header row optional) → (N, width)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path} does not exist", "Check the CSV path")
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    column_names = [str(i) for i in range(width)]
    names_row = rows and sum(not _is_float(c) for c in rows[0]) > len(rows[0]) // 2
    if rows and (names_row or [c.strip() for c in rows[0]] == column_names):
        rows = rows[1:]  # a header: names, or the original's pandas column numbers 0..width-1
    if not rows:
        raise InputFileError(f"{path} has no data rows", "Pass a CSV with one latent code per row")
    for i, r in enumerate(rows):
        if len(r) != width:
            raise InputFileError(f"{path} row {i + 1} has {len(r)} columns, expected {width}",
                                 "Each row must be z ‖ label, e.g. 519 columns for z512 + 7 labels")
    return np.stack([_numbers(r, path, i + 1) for i, r in enumerate(rows)]).astype(np.float32)
