"""Import and export of directions and identities (the original project's files, InterFaceGAN .npy).

Sign convention: in ohlora, **adding a direction increases its property**.  The original's v8
vectors point the other way (docs/original.md §6.1: ``coef_`` points toward 'smallest'), so ``import-seed``
negates them and records ``sign_flipped``; exporting to the seed's CSV layout negates them back,
so an export can be re-imported unchanged.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.directions import load_direction_set
from ohlora_cli.catalog.models import Direction, DirectionSet, Identity
from ohlora_cli.catalog.vectors import decode, encode
from ohlora_cli.errors import InputFileError, UsageError
from ohlora_cli.files import atomic_path, input_file
from ohlora_cli.formats import (
    read_csv_records,
    read_latent_csv,
    read_seed_direction_csv,
)
from ohlora_cli.images import ensure_writable_dir

SEED_FILE = re.compile(r"^(?P<prop>[a-z_]+)_change_w_vector_(?P<group>[hl]+)\.csv$")
NPY_FILE = re.compile(r"^(?P<prop>[a-z_]+?)(?:_(?P<group>[hl]+|all))?\.npy$")
@dataclass(frozen=True)
class ImportResult:
    name: str
    count: int
    properties: tuple[str, ...]
    groups: tuple[str, ...]
    unchanged: bool = False  # the set already held exactly these directions (an identical rerun: nothing done)


def _new_set(s, name: str, *, method: str, generator_id: int | None, w_dim: int, source: str,
             sign_flipped: bool, replace: bool, vectors: dict[tuple[str, str], bytes]) -> DirectionSet | None:
    """A new set named ``name`` holding ``vectors`` (encoded, by (property, group)); None when a set of
    that name already holds exactly them (an identical rerun, e.g. after a kill that came after the commit)."""
    old = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
    if old is not None:
        if _same_set(s, old, method=method, generator_id=generator_id, w_dim=w_dim, vectors=vectors):
            return None
        if not replace:
            raise UsageError(f"a direction set named {name!r} already exists",
                             "Pass --name with a new name, or --replace")
        s.delete(old)
        s.flush()
    ds = DirectionSet(name=name, method=method, generator_id=generator_id, w_dim=w_dim, source=source,
                      sign_flipped=sign_flipped, options_json="{}")
    s.add(ds)
    s.flush()
    return ds


def _same_set(s, ds: DirectionSet, *, method: str, generator_id: int | None, w_dim: int,
              vectors: dict[tuple[str, str], bytes]) -> bool:
    if (ds.method, ds.generator_id, ds.w_dim) != (method, generator_id, w_dim):
        return False
    stored = {(d.property, d.group_name): d.vector for d in s.scalars(select(Direction).where(Direction.set_id == ds.id))}
    return stored == vectors


BUNDLED_SEED_DIRECTIONS = Path(__file__).resolve().parents[1] / "assets" / "seed_v8_directions.npz"


def read_seed_directions(folder: Path | None, w_dim: int = 512) -> tuple[dict[tuple[str, str], np.ndarray], str]:
    """The original's vectors in **its** sign, by (property, group), from a CSV folder or the bundled copy."""
    if folder is None:
        with np.load(BUNDLED_SEED_DIRECTIONS, allow_pickle=False) as npz:
            vectors = {tuple(key.split("_", 1)): npz[key].astype(np.float32) for key in npz.files}
        return vectors, "bundled copy of WannaBeSuperteur/AI_Projects V3 property_score_vectors (v8)"
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder", "Pass the folder holding *_change_w_vector_*.csv")
    vectors = {}
    for path in sorted(folder.iterdir()):
        m = SEED_FILE.match(path.name)
        if m:
            vectors[(m["prop"], m["group"])] = read_seed_direction_csv(path, w_dim)
    if not vectors:
        raise InputFileError(f"{folder} has no *_change_w_vector_<group>.csv files",
                             "Pass the original's property_score_vectors folder (e.g. artifacts/v8_vectors)")
    return vectors, str(folder.resolve())


def import_seed_directions(catalog: Catalog, folder: Path | None = None, *, name: str = "seed-v8",
                           w_dim: int = 512, replace: bool = False) -> ImportResult:
    """The original's 48 direction CSVs (or the bundled copy when ``folder`` is None) as one set, sign flipped."""
    vectors, source = read_seed_directions(folder, w_dim)
    encoded = {key: encode(-v, w_dim) for key, v in vectors.items()}
    with catalog.write() as s:
        ds = _new_set(s, name, method="seed-v8", generator_id=None, w_dim=w_dim, source=source,
                      sign_flipped=True, replace=replace, vectors=encoded)
        for (prop, group), vector in encoded.items() if ds is not None else ():
            s.add(Direction(set_id=ds.id, property=prop, group_name=group, vector=vector,
                            metrics_json=json.dumps({"seed_sign": -1})))
    props = tuple(sorted({p for p, _ in vectors}))
    groups = tuple(sorted({g for _, g in vectors}))
    return ImportResult(name, len(vectors), props, groups, unchanged=ds is None)


def read_npy_directions(paths: list[Path]) -> dict[tuple[str, str], np.ndarray]:
    """InterFaceGAN-style ``{prop}[_{group}].npy`` files (shape (1, D) or (D,), finite, non-zero) as unit
    vectors by (property, group); one-line errors for every bad file."""
    found: dict[tuple[str, str], np.ndarray] = {}
    for path in paths:
        m = NPY_FILE.match(path.name)
        if not m:
            raise InputFileError(f"{path.name} is not named PROPERTY.npy or PROPERTY_GROUP.npy",
                                 "Name files like eyes.npy or eyes_hhhh.npy")
        input_file(path, fix="Pass numpy .npy files")
        try:
            v = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            reason = "it is empty" if path.stat().st_size == 0 else str(err).splitlines()[0] if str(err) else \
                type(err).__name__
            raise InputFileError(f"{path} is not a readable .npy array ({reason})", "Pass numpy .npy files") from None
        v = np.asarray(v, np.float64).reshape(-1) if v.ndim in (1, 2) and (v.ndim == 1 or v.shape[0] == 1) else None
        if v is None:
            raise InputFileError(f"{path} must have shape (1, D) or (D,)", "Save one direction per file")
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0:
            raise InputFileError(f"{path} is a zero or non-finite vector", "Pass a real direction")
        found[(m["prop"], m["group"] or "all")] = (v / norm).astype(np.float32)
    return found


def import_npy_directions(catalog: Catalog, paths: list[Path], *, name: str, generator_id: int | None,
                          replace: bool = False, found: dict[tuple[str, str], np.ndarray] | None = None) -> ImportResult:
    """InterFaceGAN-style ``.npy`` files (or what :func:`read_npy_directions` read from them) as one set."""
    found = read_npy_directions(paths) if found is None else found
    dims = {v.shape[0] for v in found.values()}
    if len(dims) != 1:
        raise InputFileError(f"the .npy files have different lengths {sorted(dims)}", "Import one w space at a time")
    w_dim = dims.pop()
    encoded = {key: encode(v, w_dim) for key, v in found.items()}
    with catalog.write() as s:
        ds = _new_set(s, name, method="imported", generator_id=generator_id, w_dim=w_dim,
                      source=",".join(str(p) for p in paths), sign_flipped=False, replace=replace, vectors=encoded)
        for (prop, group), vector in encoded.items() if ds is not None else ():
            s.add(Direction(set_id=ds.id, property=prop, group_name=group, vector=vector, metrics_json="{}"))
    return ImportResult(name, len(found), tuple(sorted({p for p, _ in found})), tuple(sorted({g for _, g in found})),
                        unchanged=ds is None)


def export_directions(catalog: Catalog, set_name: str, out_dir: Path, fmt: str) -> list[Path]:
    """Write every direction of a set as ``.npy`` (ohlora sign) or the seed's CSV layout (seed sign)."""
    if fmt not in ("npy", "csv"):
        raise UsageError(f"--format must be npy or csv, not {fmt!r}", "Pass --format npy")
    out_dir = ensure_writable_dir(out_dir, "--out")
    ds, rows = load_direction_set(catalog, set_name)
    written = []
    for d in rows:
        v = decode(d.vector, ds.w_dim)
        if fmt == "npy":
            path = out_dir / f"{d.property}_{d.group_name}.npy"
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, v.reshape(1, -1).astype(np.float32))
        else:
            path = out_dir / f"{d.property}_change_w_vector_{d.group_name}.csv"
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow([""] + list(range(ds.w_dim)))
                writer.writerow([0] + [repr(float(x)) for x in -v])
        written.append(path)
    return written


def import_identities(catalog: Catalog, z_csv: Path, *, groups_csv: Path | None, prefix: str, z_dim: int,
                      label_size: int, replace: bool = False) -> tuple[list[str], bool]:
    """The original's ``ohlora_z_vectors.csv`` (+ ``ohlora_w_group_names.csv``) as named identities:
    (their names, whether they were already there exactly so: an identical rerun writes nothing)."""
    codes = read_latent_csv(z_csv, z_dim + label_size)
    cases: list[str] = [str(i) for i in range(len(codes))]
    groups: list[str | None] = [None] * len(codes)
    meta: list[dict] = [{} for _ in codes]
    if groups_csv is not None:
        header, records = read_csv_records(groups_csv, fix="Pass the original's ohlora_w_group_names.csv")
        table = [r for _, r in records]
        if len(table) != len(codes) or not {"case", "group_name"} <= set(header):
            raise InputFileError(f"{groups_csv} must have columns case, group_name and one row per code "
                                 f"({len(codes)})", "Pass the original's ohlora_w_group_names.csv")
        cases = [r["case"] for r in table]
        groups = [r["group_name"] for r in table]
        meta = [{k: v for k, v in r.items() if k not in ("case", "group_name")} for r in table]
    names = [f"{prefix}-{c}" for c in cases]
    source = str(Path(z_csv).resolve())
    rows = [dict(name=name, z_dim=z_dim, label_size=label_size, z=encode(codes[i, :z_dim], z_dim),
                 label=encode(codes[i, z_dim:], label_size) if label_size else None, group_name=groups[i],
                 source=source, meta_json=json.dumps({"case": cases[i], **meta[i]})) for i, name in enumerate(names)]
    with catalog.write() as s:
        stored = {r.name: r for r in s.scalars(select(Identity).where(Identity.name.in_(names)))}
        existing = set(stored)
        if existing == set(names) and all(_same_identity(stored[r["name"]], r) for r in rows):
            return names, True  # an identical rerun: they are there as they would be written
        if existing and not replace:
            raise UsageError(f"identities already exist: {', '.join(sorted(existing)[:3])}",
                             "Pass another --prefix, or --replace")
        for old in s.scalars(select(Identity).where(Identity.name.in_(existing))):
            s.delete(old)
        s.flush()
        for r in rows:
            s.add(Identity(**r))
    return names, False


def _same_identity(row: Identity, values: dict) -> bool:
    return all(getattr(row, k) == v for k, v in values.items() if k != "source")
