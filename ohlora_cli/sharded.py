"""``generate`` and ``score`` as one shard of many (``--shard K/N`` or torchrun): the stage runs on this
worker's shard catalog, and under torchrun rank 0 waits for every rank and merges all shards into the
main catalog (see :mod:`ohlora_cli.shards`, :mod:`ohlora_cli.catalog.merge`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.merge import MergeResult, check_shards, copy_rows, merge_shards
from ohlora_cli.catalog.queries import options_json, stage_run
from ohlora_cli.catalog.registry import resolve_generator
from ohlora_cli.catalog.scores import unscored_ids
from ohlora_cli.config import GenerateConfig, ScoreConfig
from ohlora_cli.shards import Shard, mark_done, shard_catalogs, wait_for_all
from ohlora_cli.stages import generate, score


@dataclass
class ShardOutcome:
    shard: Shard
    catalog: Path  # this worker's shard catalog
    result: object | None  # the stage's result on the shard (None: the shard had nothing to do)
    merged: MergeResult | None = None  # rank 0 under torchrun: the merge into the main catalog
    merged_into: Path | None = None


def merge_into(main_path: Path, shards: list[Path]) -> MergeResult:
    """``ohlora catalog merge``: shards into the main catalog, recorded as a ``merge`` run."""
    shards = check_shards(main_path, shards)
    main = open_catalog(main_path)
    try:
        with stage_run(main, "merge", {"shards": [str(p) for p in shards]}) as run_id:
            return merge_shards(main, shards, run_id=run_id)
    finally:
        main.close()


def _merge_when_all_done(main_path: Path, shard: Shard, job: str, outcome: ShardOutcome) -> ShardOutcome:
    if shard.torchrun:
        mark_done(main_path, shard, job)
        if wait_for_all(main_path, shard, job):
            outcome.merged = merge_into(main_path, shard_catalogs(main_path, shard.count))
            outcome.merged_into = Path(main_path)
    return outcome


def generate_shard(main_path: Path, cfg: GenerateConfig, shard: Shard, *, advance=None,
                   on_start=None) -> ShardOutcome:
    """This worker's contiguous block of the seeds, generated into its shard catalog."""
    part = shard.seeds(range(cfg.seed_start, cfg.seed_start + cfg.n))
    path = shard.catalog_path(main_path)
    result = None
    if len(part):
        catalog = open_catalog(path)
        try:
            result = generate.run(catalog, replace(cfg, n=len(part), seed_start=part.start), advance=advance,
                                  on_start=on_start, fit_references=False)
        finally:
            catalog.close()
    return _merge_when_all_done(main_path, shard, f"generate {options_json(cfg)} of {shard.count}",
                                ShardOutcome(shard, path, result))


def score_shard(main_path: Path, cfg: ScoreConfig, shard: Shard, *, advance=None, on_start=None) -> ShardOutcome:
    """The main catalog's unscored images whose id falls to this worker, copied into its shard catalog
    and scored there."""
    main = open_catalog(main_path)
    try:
        gen = resolve_generator(main, cfg.model)
        todo = set().union(*(unscored_ids(main, gen.id, sid)[0] for sid in cfg.scorer_ids()))
        mine = {i for i in todo if shard.takes(i)}
        path = shard.catalog_path(main_path)
        catalog = open_catalog(path)
        try:
            copy_rows(main, catalog, image_ids=mine, with_scores=False)
            result = score.run(catalog, replace(cfg, model=gen.name), advance=advance, on_start=on_start,
                               fit_references=False, empty_ok=True)
        finally:
            catalog.close()
    finally:
        main.close()
    return _merge_when_all_done(main_path, shard, f"score {options_json(cfg)} of {shard.count}",
                                ShardOutcome(shard, path, result))
