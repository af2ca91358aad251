"""``score``: property scores for every catalog image that lacks them, resumable, one transaction per batch.

The scorers are :mod:`ohlora_cli.scoring.scorers`; stored scores and references, :mod:`ohlora_cli.catalog.scores`.
The CNN set defaults to the embedded ``synthetic`` one.  Each batch is rendered once (its PNG when
stored, else re-rendered from the stored w — no JPEG round trip) and given to every scorer that
still lacks it.  The first time a continuous scorer's values exist, their mean / std (ddof 1, the
original's normalisation) are stored as that scorer's reference, so every later stage applies the
same transform.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.images import check_stored_pngs, images_of
from ohlora_cli.catalog.models import Image, Score
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import find_generator, load_generator
from ohlora_cli.catalog.scores import (
    Reference,
    fit_reference,
    insert_scores,
    reference_of,
    unscored_ids,
)
from ohlora_cli.config import ScoreConfig
from ohlora_cli.errors import InputFileError, NotFoundError
from ohlora_cli.models.devices import default_batch_size, pick_device
from ohlora_cli.processes import kill_point
from ohlora_cli.progress import Advance
from ohlora_cli.scoring.scorers import build_scorers


@dataclass(frozen=True)
class ScoreResult:
    generator: str
    scorers: list[str]
    new: dict[str, int]  # scorer id -> images newly scored
    skipped: dict[str, int]  # scorer id -> images that already had its scores
    images: int  # images that got at least one new score
    seconds: float
    normalisation_fitted: list[str] = field(default_factory=list)
    references: dict[str, Reference] = field(default_factory=dict)  # scorer id -> its stored reference


def run(catalog: Catalog, cfg: ScoreConfig, advance: Advance | None = None, on_start=None, *,
        fit_references: bool = True, empty_ok: bool = False) -> ScoreResult:
    """Score what lacks scores; a generator without any image is an error (unless ``empty_ok``: a shard
    may get none)."""
    t0 = time.perf_counter()
    if not empty_ok:
        with catalog.read() as s:
            if s.scalar(select(func.count(Image.id))) == 0:  # before resolving (which registers) the generator
                raise NotFoundError("the catalog has no images to score", "Run `ohlora generate --n 100` first")
    gen = find_generator(catalog, cfg.model)
    if not empty_ok:
        with catalog.read() as s:
            if s.scalar(select(func.count(Image.id)).where(Image.generator_id == gen.id)) == 0:
                raise NotFoundError(f"generator {gen.name} has no images in the catalog to score",
                                    f"Run `ohlora generate --n 100 --model {gen.name}` first")
    device = pick_device(cfg.device)
    scorers = build_scorers(catalog, cfg, device)
    pending = {sc.scorer_id: unscored_ids(catalog, gen.id, sc.scorer_id) for sc in scorers}
    lacking = {sid: set(todo) for sid, (todo, _) in pending.items()}
    todo = sorted(set().union(*lacking.values()))
    if on_start is not None:
        on_start(len(todo))
    new = {sc.scorer_id: 0 for sc in scorers}
    scored: set[int] = set()  # images that got at least one new score here
    if todo:
        check_stored_pngs(catalog, gen, todo)  # every stored PNG's header, before any work
        G = load_generator(gen, device)
        options = {"generator": gen.name, "scorer_ids": [sc.scorer_id for sc in scorers], **cfg.__dict__}
        batch_size = cfg.batch_size or default_batch_size(device, cpu=64, cuda=256)
        with stage_run(catalog, "score", {**options, "batch_size": batch_size}) as run_id:
            for start in range(0, len(todo), batch_size):
                ids = todo[start:start + batch_size]
                try:
                    images = images_of(catalog, G, gen, ids, device)
                except InputFileError:  # a stored PNG whose header passed but whose pixels do not decode
                    _forget_scores(catalog, run_id)
                    raise
                rows: list[dict] = []
                for sc in scorers:
                    ks = [k for k, i in enumerate(ids) if i in lacking[sc.scorer_id]]
                    if ks:
                        rows += sc.rows([ids[k] for k in ks], images[ks], run_id)
                with catalog.write() as s:
                    stored = insert_scores(s, rows)  # leaves out what a process beside this one stored
                for sid, got in stored.items():
                    new[sid] += len(got)
                    scored |= got
                kill_point("score:batch")
                if advance is not None:
                    advance(len(ids))
    fitted = [sc.scorer_id for sc in scorers
              if sc.normalise and fit_references and fit_reference(catalog, sc.scorer_id, gen)]
    references = {sc.scorer_id: ref for sc in scorers if sc.normalise
                  and (ref := reference_of(catalog, sc.scorer_id)) is not None}
    return ScoreResult(gen.name, [sc.scorer_id for sc in scorers], new,
                       {sid: skipped for sid, (_, skipped) in pending.items()}, len(scored), time.perf_counter() - t0,
                       fitted, references)


def _forget_scores(catalog: Catalog, run_id: int) -> None:
    """Remove the scores a failed run stored, so the catalog is as it was before the run."""
    with catalog.write() as s:
        s.execute(delete(Score).where(Score.run_id == run_id))
