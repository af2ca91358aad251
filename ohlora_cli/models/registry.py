"""Generators by name: the embedded assets, catalog rows, and files registered on first use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Generator
from ohlora_cli.errors import CheckpointError, NotFoundError
from ohlora_cli.models.checkpoints import load_checkpoint, sha256_file
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


def register_generator(catalog: Catalog, path: Path, name: str, *, kind: str | None = None,
                       parent_id: int | None = None, sha256: str | None = None) -> Generator:
    """Store a generator file in the catalog (idempotent for the same name and file hash)."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    digest = sha256 or sha256_file(path)
    cfg = ckpt.g_config
    with catalog.write() as s:
        row = s.scalars(select(Generator).where(Generator.name == name)).first()
        if row is not None:
            if row.sha256 != digest:
                raise CheckpointError(f"a generator named {name!r} is already registered with another file",
                                      "Pass a different --name")
            return row
        stored_path = f"embedded:{path.name}" if kind == "embedded" else str(path.resolve())
        row = Generator(name=name, kind=kind or ckpt.kind, path=stored_path, sha256=digest,
                        resolution=cfg.resolution, z_dim=cfg.z_dim, w_dim=cfg.w_dim, label_size=cfg.label_size,
                        num_layers=cfg.num_layers, config_json=json.dumps(cfg.to_dict()), parent_id=parent_id)
        s.add(row)
        s.flush()
        return row


def resolve_generator(catalog: Catalog, ref: str | None) -> Generator:
    """``ref`` = catalog name, embedded name, ``embedded``/None (the default), or a file path."""
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
        return register_generator(catalog, asset.path, asset.name, kind="embedded", sha256=asset.sha256)
    path = Path(ref)
    if path.suffix in (".pt", ".pth", ".pkl") or path.exists():
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist", "Check the path passed to --model")
        return register_generator(catalog, path, path.stem)
    with catalog.read() as s:
        names = [n for n in s.scalars(select(Generator.name))]
    known = sorted(set(names) | set(assets))
    raise NotFoundError(f"unknown model {ref!r}", f"Use one of: {', '.join(known)}, or a checkpoint path")


@lru_cache(maxsize=4)
def _load(path: str, sha256: str) -> StyleGANGenerator:
    return load_checkpoint(path).build_generator()


def generator_file(row: Generator) -> Path:
    """Where a catalog row's weights are: ``embedded:<file>`` lives in this ohlora's assets."""
    if row.path.startswith("embedded:"):
        return ASSETS_DIR / row.path[len("embedded:"):]
    return Path(row.path)


def load_generator(row: Generator) -> StyleGANGenerator:
    """The network of a catalog row (cached; the file is read once per process)."""
    path = generator_file(row)
    if not path.exists():
        raise CheckpointError(f"generator {row.name!r}: file {path} is gone",
                              "Restore the file or register the generator again under a new name")
    return _load(str(path), row.sha256)
