"""Pixels of catalog images: the stored PNG when there is one, else a re-render from the stored w."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Generator, Image
from ohlora_cli.catalog.vectors import decode_many
from ohlora_cli.images import check_png, load_png
from ohlora_cli.models.inference import render

STORED_PNG_FIX = "Restore the file, or delete it to have the image re-rendered from its stored w"


def _stored(path: str | None) -> bool:
    """A stored PNG counts when something is at its path (a missing file means: re-render from w)."""
    return bool(path) and Path(path).exists()


def _what(image_id: int, path: str) -> str:
    return f"stored PNG of image {image_id} ({path})"


def check_stored_pngs(catalog: Catalog, gen: Generator, ids: list[int]) -> None:
    """Read the header of every stored PNG of ``ids`` (nothing is decoded: cheap enough to do up front
    on all of them) and refuse the first that is not a regular ``resolution``-square PNG file."""
    wanted = set(ids)
    with catalog.read() as s:
        rows = s.execute(select(Image.id, Image.path).where(Image.generator_id == gen.id,
                                                            Image.path.is_not(None))).all()
    for image_id, path in sorted(r for r in rows if r.id in wanted):
        if _stored(path):
            check_png(Path(path), gen.resolution, _what(image_id, path), STORED_PNG_FIX)


def images_of(catalog: Catalog, G, gen: Generator, ids: list[int], device) -> np.ndarray:
    """uint8 images of catalog rows: their PNG when stored, else re-rendered from the stored w."""
    with catalog.read() as s:
        rows = s.execute(select(Image.id, Image.w, Image.psi, Image.trunc_layers, Image.noise_mode, Image.path)
                         .where(Image.id.in_(ids))).all()
    by_id = {r.id: r for r in rows}
    rows = [by_id[i] for i in ids]
    out = np.zeros((len(ids), gen.resolution, gen.resolution, 3), np.uint8)
    todo = [k for k, r in enumerate(rows) if not _stored(r.path)]
    for k, r in enumerate(rows):
        if k not in todo:
            out[k] = load_png(Path(r.path), gen.resolution, _what(r.id, r.path), STORED_PNG_FIX)
    settings = {(rows[k].psi, rows[k].trunc_layers, rows[k].noise_mode) for k in todo}
    for psi, trunc, noise in settings:
        ks = [k for k in todo if (rows[k].psi, rows[k].trunc_layers, rows[k].noise_mode) == (psi, trunc, noise)]
        w = decode_many([rows[k].w for k in ks], gen.w_dim)
        out[ks] = render(G, w, psi=psi, trunc_layers=trunc, noise_mode=noise, device=device)
    return out
