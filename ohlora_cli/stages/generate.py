"""``generate``: one catalog row per seed (z, label, w, settings, optional PNG); resumable.

Work is done in batches, one transaction per batch, skipping seeds already stored for this
(generator, label mode), so a killed run loses at most one batch and a rerun adds no duplicates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ohlora_cli.background import Background
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Image, utcnow
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import load_generator, resolve_generator
from ohlora_cli.catalog.scores import fit_reference, insert_scores
from ohlora_cli.catalog.vectors import encode
from ohlora_cli.config import GenerateConfig, ScoreConfig
from ohlora_cli.images import ensure_writable_dir, save_png
from ohlora_cli.models.devices import default_batch_size
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render
from ohlora_cli.processes import kill_point
from ohlora_cli.progress import Advance
from ohlora_cli.scoring.scorers import build_scorers, normalised_scorer_ids


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


SEED_CHUNK = 65_536  # seeds looked up at a time: memory stays bounded whatever --n is


def missing_seeds(catalog: Catalog, generator_id: int, label_mode: str, seeds: range) -> list[int]:
    return [seed for batch in missing_batches(catalog, generator_id, label_mode, seeds, SEED_CHUNK) for seed in batch]


def missing_count(catalog: Catalog, generator_id: int, label_mode: str, seeds: range) -> int:
    """How many seeds of ``seeds`` are not stored yet (one COUNT query)."""
    with catalog.read() as s:
        have = s.scalar(select(func.count(Image.id)).where(
            Image.generator_id == generator_id, Image.label_mode == label_mode,
            Image.seed >= seeds.start, Image.seed < seeds.stop))
    return len(seeds) - have


def missing_batches(catalog: Catalog, generator_id: int, label_mode: str, seeds: range,
                    batch_size: int) -> Iterator[list[int]]:
    """The seeds of ``seeds`` not stored yet, in batches of ``batch_size``, looked up SEED_CHUNK seeds at a
    time, so neither the seed list nor the lookup ever holds more than a chunk (``--n 4294967295`` streams)."""
    pending: list[int] = []
    for lo in range(seeds.start, seeds.stop, SEED_CHUNK):
        hi = min(lo + SEED_CHUNK, seeds.stop)
        with catalog.read() as s:
            have = set(s.scalars(select(Image.seed).where(
                Image.generator_id == generator_id, Image.label_mode == label_mode,
                Image.seed >= lo, Image.seed < hi)))
        pending.extend(seed for seed in range(lo, hi) if seed not in have)
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]
    if pending:
        yield pending


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
    seeds = range(cfg.seed_start, cfg.seed_start + cfg.n)
    todo = missing_count(catalog, gen.id, label_mode, seeds)
    if on_start is not None:
        on_start(todo)
    if not todo:  # a rerun after a kill that came after the last batch still fits the references
        if cfg.score and fit_references:
            for sid in normalised_scorer_ids(ScoreConfig(scorers=cfg.scorers)):
                fit_reference(catalog, sid, gen)
        return GenerateResult(gen.name, label_mode, 0, cfg.n, None, time.perf_counter() - t0)
    G = load_generator(gen, device)
    scorers = build_scorers(catalog, ScoreConfig(scorers=cfg.scorers), device) if cfg.score else []
    batch_size = cfg.batch_size or default_batch_size(device, cpu=16, cuda=64)
    stored: list[int] = []  # new seeds per batch (another generate may store some of the same seeds)
    with stage_run(catalog, "generate", {"generator": gen.name, **cfg.__dict__, "batch_size": batch_size}) as run_id, \
            Background() as writer:
        for batch in missing_batches(catalog, gen.id, label_mode, seeds, batch_size):
            batch = np.array(batch)
            rows, images = _batch(G, gen, batch, label_mode, cfg, device, run_id, render_always=cfg.score or bool(out_dir))
            values = [(sc, sc.score(images)) for sc in scorers]  # device work stays on this thread
            writer.submit(_store_batch, catalog, gen.id, label_mode, batch, rows, images, values, out_dir, run_id,
                          advance, stored)
    for sc in scorers:
        if sc.normalise and fit_references:
            fit_reference(catalog, sc.scorer_id, gen)
    return GenerateResult(gen.name, label_mode, sum(stored), cfg.n - sum(stored), run_id, time.perf_counter() - t0)


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
                 images: np.ndarray | None, values: list, out_dir: Path | None, run_id: int, advance,
                 stored: list[int]) -> None:
    """On the writer thread: the batch's PNGs, then its rows and scores in one transaction; appends to
    ``stored`` how many of its seeds were new."""
    if out_dir is not None:
        for i, seed in enumerate(seeds):
            rows[i]["path"] = str(save_png(out_dir / image_filename(int(seed), label_mode), images[i]).resolve())
    with catalog.write() as s:  # seeds another process stored meanwhile are left as they are
        have = set(s.scalars(select(Image.seed).where(Image.generator_id == generator_id,
                                                      Image.label_mode == label_mode,
                                                      Image.seed.in_(seeds.tolist()))))
        fresh = [row for row in rows if row["seed"] not in have]
        if fresh:
            s.execute(sqlite_insert(Image).on_conflict_do_nothing(
                index_elements=["generator_id", "seed", "label_mode"]), fresh)
        if values:
            ids = dict(s.execute(select(Image.seed, Image.id).where(
                Image.generator_id == generator_id, Image.label_mode == label_mode,
                Image.seed.in_(seeds.tolist()))).all())
            image_ids = [ids[int(seed)] for seed in seeds]
            insert_scores(s, [row for sc, v in values for row in sc.rows_of(image_ids, v, run_id)])
    stored.append(len(fresh))
    kill_point("generate:batch")
    if advance is not None:
        advance(len(seeds))
