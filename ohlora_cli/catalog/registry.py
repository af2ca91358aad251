"""Generators by name: the embedded assets, catalog rows, and files registered on first use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from sqlalchemy import select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import CnnModel, Generator
from ohlora_cli.errors import CheckpointError, NotFoundError
from ohlora_cli.models.checkpoints import LoadedCheckpoint, load_checkpoint, sha256_file
from ohlora_cli.models.cnn_files import (
    detect_cnn_kind,
    load_filter_ensemble,
    load_property_cnn,
)
from ohlora_cli.models.stylegan import StyleGANGenerator

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
EMBEDDED_ALIAS = "embedded"


@dataclass(frozen=True)
class Asset:
    name: str
    path: Path
    sha256: str
    recipe: str
    description: str


def _manifest() -> dict:
    return json.loads((ASSETS_DIR / "manifest.json").read_text())


def embedded_generators() -> dict[str, Asset]:
    """Generators shipped inside the package, by name."""
    return {name: Asset(name, ASSETS_DIR / info["file"], info["sha256"], info["recipe"], info["description"])
            for name, info in _manifest()["generators"].items()}


def default_generator_name() -> str:
    return _manifest()["default_generator"]


def generator_row(path: Path, name: str, *, kind: str | None = None, parent_id: int | None = None,
                  sha256: str | None = None, lineage: dict | None = None,
                  checked: LoadedCheckpoint | None = None) -> Generator:
    """The catalog row a generator file would get (not added to any session).  The file is loaded and
    its network built first (``checked``: the caller already did), so a file that cannot make a
    generator never gets a row."""
    path = Path(path)
    ckpt = checked or load_checkpoint(path)
    if checked is None and kind != "embedded":  # embedded assets are known good (sha256-checked)
        ckpt.build_generator()
    cfg = ckpt.g_config
    stored_path = f"embedded:{path.name}" if kind == "embedded" else str(path.resolve())
    return Generator(name=name, kind=kind or ckpt.kind, path=stored_path, sha256=sha256 or sha256_file(path),
                     resolution=cfg.resolution, z_dim=cfg.z_dim, w_dim=cfg.w_dim, label_size=cfg.label_size,
                     num_layers=cfg.num_layers, config_json=json.dumps(cfg.to_dict()), parent_id=parent_id,
                     lineage_json=json.dumps(lineage) if lineage is not None else None)


def register_generator(catalog: Catalog, path: Path, name: str, *, kind: str | None = None,
                       parent_id: int | None = None, sha256: str | None = None,
                       lineage: dict | None = None, checked: LoadedCheckpoint | None = None) -> Generator:
    """Store a generator file in the catalog (idempotent for the same name and file hash), with its
    ``lineage`` (fine-tunes) in the same transaction (the row: :func:`generator_row`)."""
    new = generator_row(path, name, kind=kind, parent_id=parent_id, sha256=sha256, lineage=lineage, checked=checked)
    with catalog.write() as s:
        row = s.scalars(select(Generator).where(Generator.name == name)).first()
        if row is not None:
            if row.sha256 != new.sha256:
                raise CheckpointError(f"a generator named {name!r} is already registered with another file",
                                      "Pass a different --name")
            return row
        s.add(new)
        s.flush()
        return new


def resolve_generator(catalog: Catalog, ref: str | None) -> Generator:
    """``ref`` = catalog name, embedded name, ``embedded``/None (the default), or a file path; an embedded
    generator or a file not in the catalog yet is registered (for the stages that store rows of it)."""
    return _resolve(catalog, ref, register=True)


def find_generator(catalog: Catalog, ref: str | None) -> Generator:
    """:func:`resolve_generator` for the stages that only read what is stored of a generator (its images,
    scores, directions) or render with it: an embedded generator or a file not in the catalog yet comes
    back as an unsaved row (``id`` None: nothing is stored of it), so a command that then fails has not
    changed the catalog."""
    return _resolve(catalog, ref, register=False)


def _resolve(catalog: Catalog, ref: str | None, *, register: bool) -> Generator:
    ref = ref or EMBEDDED_ALIAS
    assets = embedded_generators()
    if ref == EMBEDDED_ALIAS:
        ref = default_generator_name()
    with catalog.read() as s:
        row = s.scalars(select(Generator).where(Generator.name == ref)).first()
    if row is not None:
        return row
    if ref in assets:
        asset = assets[ref]
        if register:
            return register_generator(catalog, asset.path, asset.name, kind="embedded", sha256=asset.sha256)
        return generator_row(asset.path, asset.name, kind="embedded", sha256=asset.sha256)
    path = Path(ref)
    if path.suffix in (".pt", ".pth", ".pkl") or path.exists():
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist", "Check the path passed to --model")
        return register_generator(catalog, path, path.stem) if register else generator_row(path, path.stem)
    with catalog.read() as s:
        names = [n for n in s.scalars(select(Generator.name))]
    known = sorted(set(names) | set(assets))
    raise NotFoundError(f"unknown model {ref!r}", f"Use one of: {', '.join(known)}, or a checkpoint path")


@lru_cache(maxsize=4)
def _load(path: str, sha256: str, device: str) -> StyleGANGenerator:
    return load_checkpoint(path).build_generator().to(device)


def generator_file(row: Generator) -> Path:
    """Where a catalog row's weights are: ``embedded:<file>`` lives in this ohlora's assets."""
    if row.path.startswith("embedded:"):
        return ASSETS_DIR / row.path[len("embedded:"):]
    return Path(row.path)


def load_generator(row: Generator, device: torch.device | str = "cpu") -> StyleGANGenerator:
    """The network of a catalog row on ``device`` (cached per device: the file is read once per process,
    and a copy on one device never moves under a caller on another)."""
    path = generator_file(row)
    if not path.exists():
        raise CheckpointError(f"generator {row.name!r}: file {path} is gone",
                              "Restore the file or register the generator again under a new name")
    return _load(str(path), row.sha256, str(torch.device(device)))


# ---------------------------------------------------------------- scoring CNNs

CNN_KINDS = ("cnn-gender", "cnn-quality", "cnn-age", "cnn-glass", "cnn-property")
FILTER_CNN_KINDS = CNN_KINDS[:4]
EMBEDDED_CNN_SET = "synthetic"


def embedded_cnns() -> dict[str, Asset]:
    """The shipped scoring CNNs (the set named ``synthetic``), by kind."""
    return {kind: Asset(EMBEDDED_CNN_SET, ASSETS_DIR / info["file"], info["sha256"], info["recipe"],
                        info["description"])
            for kind, info in _manifest().get("cnns", {}).items()}


def cnn_file(row) -> Path:
    if row.path.startswith("embedded:"):
        return ASSETS_DIR / row.path[len("embedded:"):]
    return Path(row.path)


def register_cnn(catalog: Catalog, path: Path, name: str, kind: str, *, embedded: bool = False,
                 sha256: str | None = None, run_id: int | None = None, replace: bool = False):
    """Store an ``ohlora-cnn`` file as the ``kind`` CNN of set ``name`` (idempotent for the same file)."""
    path = Path(path)
    if kind not in CNN_KINDS:
        raise CheckpointError(f"unknown CNN kind {kind!r}", "Use one of: " + ", ".join(CNN_KINDS))
    found = detect_cnn_kind(path)
    if found != kind:
        raise CheckpointError(f"{path} holds a {found} model, not {kind}", f"Pass --kind {found}")
    if kind == "cnn-property":
        model, metrics = load_property_cnn(path)
        resolution, width, folds = model.resolution, model.width, 1
    else:
        ens = load_filter_ensemble(path)
        resolution, width, folds, metrics = ens.resolution, ens.models[0].width, len(ens.models), ens.metrics
    digest = sha256 or sha256_file(path)
    with catalog.write() as s:
        row = s.scalars(select(CnnModel).where(CnnModel.name == name, CnnModel.kind == kind)).first()
        if row is not None:
            if row.sha256 == digest:
                return row
            if not replace:
                raise CheckpointError(f"the CNN set {name!r} already has a {kind} model from another file",
                                      "Pass another --name, or --replace")
            s.delete(row)
            s.flush()
        row = CnnModel(name=name, kind=kind, path=f"embedded:{path.name}" if embedded else str(path.resolve()),
                       sha256=digest, resolution=resolution, width=width, folds=folds,
                       metrics_json=json.dumps(metrics), run_id=run_id)
        s.add(row)
        s.flush()
        return row


def resolve_cnns(catalog: Catalog, name: str, kinds) -> dict:
    """The catalog rows of set ``name`` for ``kinds``; the embedded set is registered on first use."""
    kinds = list(kinds)
    with catalog.read() as s:
        rows = {r.kind: r for r in s.scalars(select(CnnModel).where(CnnModel.name == name, CnnModel.kind.in_(kinds)))}
    if name == EMBEDDED_CNN_SET:
        for kind, asset in embedded_cnns().items():
            if kind in kinds and kind not in rows:
                rows[kind] = register_cnn(catalog, asset.path, name, kind, embedded=True, sha256=asset.sha256)
    missing = [k for k in kinds if k not in rows]
    if missing:
        raise NotFoundError(f"the CNN set {name!r} has no {missing[0]} model",
                            f"Register one with `ohlora model register FILE --kind {missing[0]} --name {name}` "
                            f"or train it with `ohlora label train --name {name}`")
    return rows


@lru_cache(maxsize=16)
def _load_cnn(path: str, sha256: str, kind: str, device: str):
    if kind == "cnn-property":
        model, metrics = load_property_cnn(path)
        return model.to(device), metrics
    return load_filter_ensemble(path, prop=kind.removeprefix("cnn-")).to(device)


def load_cnn(row, device: torch.device | str = "cpu"):
    """A filter :class:`Ensemble`, or ``(PropertyScoreCNN, metrics)`` for ``cnn-property``, on ``device``
    (cached per device)."""
    path = cnn_file(row)
    if not path.exists():
        raise CheckpointError(f"CNN {row.name}/{row.kind}: file {path} is gone",
                              "Restore the file or register the CNN again")
    return _load_cnn(str(path), row.sha256, row.kind, str(torch.device(device)))
