"""The original project's CSV files: latent codes (``ohlora_z_vectors.csv``) and direction vectors
(``{prop}_change_w_vector_{group}.csv``), and the one CSV reader every input CSV goes through.
Files in, float arrays out; one-line errors for bad files."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ohlora_cli.errors import InputFileError
from ohlora_cli.files import input_file

UNIT_TOL = 1e-4  # how far from unit length an imported direction may be


def read_csv(path: Path | str, *, fix: str = "Pass a UTF-8 CSV file") -> list[list[str]]:
    """The rows of a text CSV (blank lines dropped).  UTF-8 with or without a byte-order mark; a missing
    file, a folder, a FIFO, binary content or a malformed CSV is an :class:`InputFileError` naming it."""
    path = input_file(path, fix=fix)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path} is not a text CSV (byte {err.start} is not UTF-8)", fix) from None
    except OSError as err:
        raise InputFileError(f"cannot read {path} ({err.strerror or err})", fix) from None
    if "\x00" in text:
        raise InputFileError(f"{path} is not a text CSV (it holds NUL bytes)", fix)
    try:
        return [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    except csv.Error as err:
        raise InputFileError(f"{path} is not a readable CSV ({err})", fix) from None


def read_csv_records(path: Path | str, *, fix: str = "Pass a UTF-8 CSV file") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, {column: cell})]) of a CSV with a header row; cells past the header are
    dropped, missing cells are empty."""
    rows = read_csv(path, fix=fix)
    if not rows:
        return [], []
    header = [c.strip() for c in rows[0]]
    return header, [(k + 2, {name: (r[j] if j < len(r) else "") for j, name in enumerate(header)})
                    for k, r in enumerate(rows[1:])]


def _numbers(cells: list[str], path: Path, row: int, first_column: int = 0) -> np.ndarray:
    """Finite floats; the first bad cell is named with its row and (0-based) column."""
    out = np.empty(len(cells), np.float64)
    for j, c in enumerate(cells):
        try:
            out[j] = float(c)
        except ValueError:
            raise InputFileError(f"{path} row {row} column {j + first_column} has a non-numeric cell {c!r}",
                                 "Every value must be a number") from None
        if not math.isfinite(out[j]):
            raise InputFileError(f"{path} row {row} column {j + first_column} is {c.strip()!r}, not a finite number",
                                 "Every value must be a finite number")
    return out


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_seed_direction_csv(path: Path, w_dim: int = 512) -> np.ndarray:
    """One ``{prop}_change_w_vector_{group}.csv`` (pandas index column + w_dim values) → unit vector."""
    rows = read_csv(path, fix="Pass the original's property_score_vectors folder")
    if len(rows) != 2 or len(rows[1]) != w_dim + 1:
        width = len(rows[1]) - 1 if len(rows) > 1 else 0
        raise InputFileError(f"{path} must hold a header and one row of {w_dim} values, found "
                             f"{max(len(rows) - 1, 0)} row(s) of {width}",
                             "Pass the original's property_score_vectors folder")
    v = _numbers(rows[1][1:], path, 1, first_column=1)
    norm = float(np.linalg.norm(v))
    if abs(norm - 1.0) > UNIT_TOL:
        raise InputFileError(f"{path} is not a unit vector (norm {norm:.6f})", "The seed's vectors are unit-norm")
    return v.astype(np.float32)


def read_latent_csv(path: Path, width: int) -> np.ndarray:
    """A CSV of latent codes, ``width`` numeric columns per row (header row optional) → (N, width)."""
    path = input_file(path, fix="Check the CSV path")
    rows = read_csv(path, fix="Pass a CSV with one latent code per row")
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
