"""``catalog merge``: shard catalogs into the main one, idempotently.

What a shard holds — generators, images (seed, z, label, w, settings, PNG path) and their scores — is
copied into the main catalog keyed by what makes each row unique there: a generator by name (its file
hash must agree), an image by (generator, seed, label mode), a score by (image, property, scorer).
Rows already present are left alone, so merging twice, or merging a shard that a restarted worker
completed, stores every seed exactly once.  Each shard is merged in one transaction.  Afterwards every
scorer of a continuous property that has no normalisation reference yet gets one, fitted on the
merged set (the shards themselves fit none), exactly as a single process would at the end of its run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ohlora_cli.catalog.db import Catalog, open_catalog
from ohlora_cli.catalog.models import Generator, Image, Score
from ohlora_cli.catalog.scores import fit_reference
from ohlora_cli.errors import CatalogError, NotFoundError, SchemaError

CHUNK = 2000
GENERATOR_COLUMNS = ("name", "kind", "path", "sha256", "resolution", "z_dim", "w_dim", "label_size", "num_layers",
                     "config_json", "created_at", "lineage_json")
IMAGE_COLUMNS = ("seed", "label_mode", "z", "label", "w", "psi", "trunc_layers", "noise_mode", "path", "created_at")


@dataclass
class MergeResult:
    shards: list[Path]
    images_new: int = 0
    images_present: int = 0
    scores_new: int = 0
    scores_present: int = 0
    generators_new: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # "scorer (generator)" fitted after the merge


def check_shards(main: Path, shards: list[Path]) -> list[Path]:
    """The shard paths, or a one-line error for a missing one or the main catalog itself."""
    paths = [Path(p) for p in shards]
    for p in paths:
        if p.is_dir():
            raise CatalogError(f"shard catalog {p} is a folder, not a file", "Pass the shard files a `--shard` run wrote")
        if not p.is_file():
            raise NotFoundError(f"shard catalog {p} does not exist", "Pass the shard files a `--shard` run wrote")
        if p.resolve() == Path(main).resolve():
            raise CatalogError(f"{p} is the main catalog itself", "Pass the shard catalogs, not --catalog")
    return paths


def merge_shards(main: Catalog, shards: list[Path], *, run_id: int | None = None) -> MergeResult:
    paths = check_shards(main.path, shards)
    result = MergeResult(paths)
    touched: set[tuple[int, str]] = set()
    opened: list[Catalog] = []
    try:
        for p in paths:  # every shard opened (its schema checked) before a row is copied
            try:
                opened.append(open_catalog(p, create=False, readonly=True))
            except SchemaError:
                raise
            except CatalogError as err:
                raise CatalogError(f"cannot merge shard {p}: {err.what}",
                                   "Pass the shard files a `--shard` run wrote") from None
        for shard in opened:
            copy_rows(shard, main, result=result, touched=touched, run_id=run_id)
    finally:
        for shard in opened:
            shard.close()
    for gen_id, scorer in sorted(touched):
        with main.read() as s:
            gen = s.get(Generator, gen_id)
        if fit_reference(main, scorer, gen):
            result.references.append(f"{scorer} ({gen.name})")
    return result


def copy_rows(src: Catalog, dst: Catalog, *, result: MergeResult | None = None, touched: set | None = None,
              run_id: int | None = None, image_ids: set[int] | None = None, with_scores: bool = True) -> MergeResult:
    """Copy ``src``'s generators, images (all, or ``image_ids``) and their scores into ``dst`` in one
    transaction of ``dst``, page by page (a 240,000-image shard is never held in memory at once)."""
    result = result if result is not None else MergeResult([Path(src.path)])
    touched = touched if touched is not None else set()
    with src.read() as s:
        gens = list(s.scalars(select(Generator).order_by(Generator.id)))
    with dst.write() as d:
        gen_ids = _copy_generators(d, gens, src.path, result)
        id_map: dict[int, int] = {}
        insert_images = sqlite_insert(Image).on_conflict_do_nothing(
            index_elements=["generator_id", "seed", "label_mode"])
        for page in _pages(src, select(Image.id, Image.generator_id, *[getattr(Image, c) for c in IMAGE_COLUMNS]),
                           Image.id):
            if image_ids is not None:
                page = [r for r in page if r.id in image_ids]
            if not page:
                continue
            before = d.scalar(select(func.count(Image.id)))
            d.execute(insert_images, [dict(generator_id=gen_ids[r.generator_id], run_id=run_id,
                                           **{c: getattr(r, c) for c in IMAGE_COLUMNS}) for r in page])
            added = d.scalar(select(func.count(Image.id))) - before
            result.images_new += added
            result.images_present += len(page) - added
            keys = {(gen_ids[r.generator_id], r.seed, r.label_mode): r.id for r in page}
            for gid in {k[0] for k in keys}:
                seeds = [k[1] for k in keys if k[0] == gid]
                for i, seed, mode in d.execute(select(Image.id, Image.seed, Image.label_mode).where(
                        Image.generator_id == gid, Image.seed.in_(seeds))):
                    if (gid, seed, mode) in keys:
                        id_map[keys[(gid, seed, mode)]] = i
        if not with_scores:
            return result
        dst_gen = {}
        with src.read() as s:
            for i, g in s.execute(select(Image.id, Image.generator_id)):
                if i in id_map:
                    dst_gen[i] = gen_ids[g]
        insert_scores = sqlite_insert(Score).on_conflict_do_nothing(index_elements=["image_id", "property", "scorer"])
        for page in _pages(src, select(Score.id, Score.image_id, Score.property, Score.value, Score.scorer), Score.id):
            page = [r for r in page if r.image_id in id_map]
            if not page:
                continue
            before = d.scalar(select(func.count(Score.id)))
            d.execute(insert_scores, [dict(image_id=id_map[r.image_id], property=r.property, value=r.value,
                                           scorer=r.scorer, run_id=run_id) for r in page])
            added = d.scalar(select(func.count(Score.id))) - before
            result.scores_new += added
            result.scores_present += len(page) - added
            touched.update((dst_gen[r.image_id], r.scorer) for r in page)
    return result


def _pages(catalog: Catalog, query, key, size: int = CHUNK):
    """The rows of ``query`` in pages of ``size``, ordered by the integer column ``key``."""
    last = 0
    while True:
        with catalog.read() as s:
            page = s.execute(query.where(key > last).order_by(key).limit(size)).all()
        if not page:
            return
        yield page
        last = page[-1][0]


def _copy_generators(d, gens: list[Generator], source, result: MergeResult) -> dict[int, int]:
    names = {g.id: g.name for g in gens}
    gen_ids: dict[int, int] = {}
    for g in gens:
        row = d.scalars(select(Generator).where(Generator.name == g.name)).first()
        if row is None:
            parent = names.get(g.parent_id) if g.parent_id is not None else None
            parent_id = d.scalars(select(Generator.id).where(Generator.name == parent)).first() if parent else None
            row = Generator(**{c: getattr(g, c) for c in GENERATOR_COLUMNS}, parent_id=parent_id)
            d.add(row)
            d.flush()
            result.generators_new.append(g.name)
        elif row.sha256 != g.sha256:
            raise CatalogError(f"generator {g.name!r} of {source} has another file than the one in the target "
                               f"catalog", "Merge shards made with the same --model")
        gen_ids[g.id] = row.id
    return gen_ids
