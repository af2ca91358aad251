"""``generate``: one catalog row per seed (z, label, w, settings, optional PNG); resumable.

Work is done in batches, one transaction per batch, skipping seeds already stored for this
(generator, label mode), so a killed run loses at most one batch and a rerun adds no duplicates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from ohlora_cli.background import Background
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Image, Score, utcnow
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import load_generator, resolve_generator
from ohlora_cli.catalog.scores import fit_reference
from ohlora_cli.catalog.vectors import encode
from ohlora_cli.config import GenerateConfig, ScoreConfig
from ohlora_cli.images import ensure_writable_dir, save_png
from ohlora_cli.models.devices import default_batch_size
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render
from ohlora_cli.progress import Advance
from ohlora_cli.scoring.scorers import build_scorers


@dataclass(frozen=True)
class GenerateResult:
    generator: str
    label_mode: str
    new: int
    skipped: int
    run_id: int | None
    seconds: float


def image_filename(seed: int, label_mode: str) -> str:
    return f"{seed:07d}.png" if label_mode in ("none", "random") else f"{seed:07d}-{label_mode}.png"


def missing_seeds(catalog: Catalog, generator_id: int, label_mode: str, seeds: range) -> list[int]:
    with catalog.read() as s:
        have = set(s.scalars(select(Image.seed).where(
            Image.generator_id == generator_id, Image.label_mode == label_mode,
            Image.seed >= seeds.start, Image.seed < seeds.stop)))
    return [seed for seed in seeds if seed not in have]


def run(catalog: Catalog, cfg: GenerateConfig, advance: Advance | None = None,
        on_start=None, *, fit_references: bool = True) -> GenerateResult:
    """Generate the seeds of ``cfg`` that are not in the catalog yet.  With ``--score``, the scorers'
    normalisation references are fitted at the end on every scored image (unless ``fit_references``
    is off: shard catalogs leave that to the merge, which sees the whole set)."""
    t0 = time.perf_counter()
    out_dir = ensure_writable_dir(cfg.save_images, "--save-images") if cfg.save_images else None
    device = pick_device(cfg.device)
    gen = resolve_generator(catalog, cfg.model)
    label_mode = cfg.labels if gen.label_size else "none"
    todo = missing_seeds(catalog, gen.id, label_mode, range(cfg.seed_start, cfg.seed_start + cfg.n))
    if on_start is not None:
        on_start(len(todo))
    if not todo:
        return GenerateResult(gen.name, label_mode, 0, cfg.n, None, time.perf_counter() - t0)
    G = load_generator(gen, device)
    scorers = build_scorers(catalog, ScoreConfig(scorers=cfg.scorers), device) if cfg.score else []
    batch_size = cfg.batch_size or default_batch_size(device, cpu=16, cuda=64)
    with stage_run(catalog, "generate", {"generator": gen.name, **cfg.__dict__, "batch_size": batch_size}) as run_id, \
            Background() as writer:
        for start in range(0, len(todo), batch_size):
            seeds = np.array(todo[start:start + batch_size])
            rows, images = _batch(G, gen, seeds, label_mode, cfg, device, run_id, render_always=cfg.score or bool(out_dir))
            values = [(sc, sc.score(images)) for sc in scorers]  # device work stays on this thread
            writer.submit(_store_batch, catalog, gen.id, label_mode, seeds, rows, images, values, out_dir, run_id,
                          advance)
    for sc in scorers:
        if sc.normalise and fit_references:
            fit_reference(catalog, sc.scorer_id, gen)
    return GenerateResult(gen.name, label_mode, len(todo), cfg.n - len(todo), run_id, time.perf_counter() - t0)


def _batch(G, gen, seeds: np.ndarray, label_mode: str, cfg: GenerateConfig, device, run_id: int, *,
           render_always: bool = False) -> tuple[list[dict], np.ndarray | None]:
    z, label = latents_for_seeds(seeds, gen.z_dim, gen.label_size, label_mode)
    w = map_to_w(G, z, label, device)
    images = None
    if render_always:
        images = render(G, w, psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise,
                        device=device, dtype=cfg.dtype)
    return [dict(generator_id=gen.id, run_id=run_id, seed=int(seed), label_mode=label_mode,
                 z=encode(z[i], gen.z_dim), label=encode(label[i], gen.label_size) if label is not None else None,
                 w=encode(w[i], gen.w_dim), psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise,
                 path=None, created_at=utcnow())
            for i, seed in enumerate(seeds)], images


def _store_batch(catalog: Catalog, generator_id: int, label_mode: str, seeds: np.ndarray, rows: list[dict],
                 images: np.ndarray | None, values: list, out_dir: Path | None, run_id: int, advance) -> None:
    """On the writer thread: the batch's PNGs, then its rows and scores in one transaction."""
    if out_dir is not None:
        for i, seed in enumerate(seeds):
            rows[i]["path"] = str(save_png(out_dir / image_filename(int(seed), label_mode), images[i]).resolve())
    with catalog.write() as s:
        s.execute(insert(Image), rows)
        if values:
            ids = dict(s.execute(select(Image.seed, Image.id).where(
                Image.generator_id == generator_id, Image.label_mode == label_mode,
                Image.seed.in_(seeds.tolist()))).all())
            image_ids = [ids[int(seed)] for seed in seeds]
            s.execute(insert(Score), [row for sc, v in values for row in sc.rows_of(image_ids, v, run_id)])
    if advance is not None:
        advance(len(seeds))
