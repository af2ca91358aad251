"""``vectorfind``: per-group directions in w from the catalog's stored w and scores (docs/original.md §6).

No image and no CNN is touched: w comes from the images table, scores (normalised) from the
scorer that has every needed property.  Groups: 'h'/'l' per group-by property against its cutoff
(the medians of the catalog's scores, or the original's ``property_scores_mean_and_median.csv``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import func, insert, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Grouping,
    GroupMember,
    Image,
)
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import resolve_generator
from ohlora_cli.catalog.scores import score_matrix, scorers_with
from ohlora_cli.catalog.vectors import decode_many, encode
from ohlora_cli.directions import (
    all_groups,
    group_names,
    orthogonalize,
    regression_direction,
    svm_direction,
)
from ohlora_cli.errors import InputFileError, NotFoundError, UsageError
from ohlora_cli.formats import read_csv_records
from ohlora_cli.limits import check_name, check_seed
from ohlora_cli.scoring.scorers import check_properties, check_scorer_id

METHODS = ("svm", "global", "conditional", "regression")
DEFAULT_GROUP_BY = ("hair_color", "hair_length", "background_mean", "hairstyle")
SEED_CSV_COLUMNS = {"hair_color": "hair_color", "hair_length": "hair_length", "background_score": "background_mean",
                    "hairstyle": "hairstyle"}


@dataclass(frozen=True)
class VectorfindConfig:
    model: str | None = None
    groups: int = 16
    group_by: tuple[str, ...] | None = None
    properties: tuple[str, ...] = ("eyes", "mouth", "pose")
    ratio: float = 0.2
    method: str = "svm"
    cutoffs: str = "medians"
    name: str | None = None
    seed: int = 2025
    replace: bool = False
    scorer: str | None = None
    extra: dict = field(default_factory=dict)
    group_properties: tuple[str, ...] = field(init=False, default=())  # --groups / --group-by, resolved once

    def _resolve_group_by(self) -> tuple[str, ...]:
        k = math.log2(self.groups) if self.groups > 0 else -1
        if self.method == "global":
            return ()
        if k != int(k) or k < 0:
            raise UsageError(f"--groups must be a power of two, got {self.groups}", "Pass e.g. --groups 16")
        k = int(k)
        if self.group_by is None:
            if k > len(DEFAULT_GROUP_BY):
                raise UsageError(f"--groups {self.groups} needs {k} group-by properties",
                                 "Pass --group-by with that many properties")
            return DEFAULT_GROUP_BY[:k]
        if len(self.group_by) != k:
            raise UsageError(f"--groups {self.groups} needs {k} group-by properties, got {len(self.group_by)} "
                             f"({', '.join(self.group_by)})", f"Pass --groups {2 ** len(self.group_by)}")
        return self.group_by

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}", f"Use one of: {', '.join(METHODS)}")
        if not 0 < self.ratio <= 0.5:
            raise UsageError(f"--ratio must be in (0, 0.5], got {self.ratio:g}", "Pass e.g. --ratio 0.2")
        check_seed(self.seed)
        if not self.properties:
            raise UsageError("--properties names no property", "Pass e.g. --properties eyes,mouth,pose")
        for flag, props in (("--properties", self.properties), ("--group-by", self.group_by or ())):
            check_properties(props, flag)
            twice = [p for p in props if props.count(p) > 1]
            if twice:
                raise UsageError(f"{flag} names {twice[0]} twice", "Name each property once")
        if self.name is not None:
            check_name(self.name, "--name", "svm-mine")
        if self.scorer is not None:
            check_scorer_id(self.scorer)
        object.__setattr__(self, "group_properties", self._resolve_group_by())


@dataclass(frozen=True)
class VectorfindResult:
    name: str
    generator: str
    method: str
    samples: int
    groups: dict[str, int]
    accuracy: dict[str, float]
    seconds: float
    existing: bool = False  # the set was already there, made by the same command: nothing was recomputed


def read_cutoff_csv(path: Path, group_by: tuple[str, ...]) -> np.ndarray:
    """The original's ``property_scores_mean_and_median.csv`` (row ``median``) → cutoffs in group-by order."""
    fix = "Pass a CSV with a value_type column and a 'median' row, like the original's property_scores_mean_and_median.csv"
    header, records = read_csv_records(path, fix=fix)
    if not header:
        raise InputFileError(f"{path} is empty", fix)
    if "value_type" not in header:
        raise InputFileError(f"{path} has no value_type column", fix)
    rows = {r["value_type"].strip(): (line, r) for line, r in records}
    if "median" not in rows:
        raise InputFileError(f"{path} has no 'median' row", "Pass the original's property_scores_mean_and_median.csv")
    line, median = rows["median"]
    by_name = {SEED_CSV_COLUMNS.get(k, k): (k, v) for k, v in median.items()}
    missing = [p for p in group_by if p not in by_name]
    if missing:
        raise InputFileError(f"{path} has no column for {', '.join(missing)}",
                             "Columns: hair_color, hair_length, background_score (or background_mean), hairstyle")
    out = []
    for p in group_by:
        column, cell = by_name[p]
        try:
            value = float(cell)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise InputFileError(f"{path} line {line}: the median of {column} is {cell.strip()!r}, not a finite number",
                                 "Every cutoff must be a number")
        out.append(value)
    return np.array(out)


def _scorer_for(catalog: Catalog, generator_id: int, props: list[str], wanted: str | None = None) -> str:
    found = {p: scorers_with(catalog, generator_id, p) for p in props}
    if wanted is not None:
        lacking = [p for p, v in found.items() if wanted not in v]
        if lacking:
            raise NotFoundError(f"scorer {wanted} has no {lacking[0]!r} scores for this generator",
                                "Run `ohlora score` with that scorer, or pick another --scorer")
        return wanted
    missing = [p for p, v in found.items() if not v]
    if missing:
        with catalog.read() as s:
            images = s.scalar(select(func.count(Image.id)).where(Image.generator_id == generator_id))
        raise NotFoundError(f"no scores for property {missing[0]!r} yet", "Run `ohlora score` first" if images else
                            "The generator has no images yet: run `ohlora generate --n 1000`, then `ohlora score`")
    common = set.intersection(*found.values())
    if not common:
        raise UsageError("no single scorer has all of " + ", ".join(props), "Score them with one scorer")
    if len(common) > 1:
        raise UsageError(f"several scorers have all of {', '.join(props)} ({', '.join(sorted(common))})",
                         "Pick one with --scorer")
    return next(iter(common))


def _differences(old: dict, new: dict) -> list[str]:
    """``key: stored value, new value`` for the keys whose values differ (lists and dicts only named)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b:
            plain = all(isinstance(v, (int, float, str, type(None))) for v in (a, b))
            out.append(f"{key} {a} stored, {b} now" if plain else f"{key} differ")
    return out


def _stored_accuracy(catalog: Catalog, name: str, generator_id: int, cfg: VectorfindConfig,
                     options: dict) -> dict[str, float] | None:
    """None when no set is called ``name``; the stored set's mean validation accuracy per property when it
    was made with exactly these options; a :class:`UsageError` naming the differences otherwise."""
    with catalog.read() as s:
        ds = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
        if ds is None:
            return None
        rows = s.execute(select(Direction.property, Direction.metrics_json).where(Direction.set_id == ds.id)).all()
    stored = {"generator": ds.generator_id, "method": ds.method, "source": ds.source,
              "properties": ",".join(sorted({p for p, _ in rows})), **json.loads(ds.options_json or "{}")}
    wanted = {"generator": generator_id, "method": cfg.method, "source": "vectorfind",
              "properties": ",".join(sorted(cfg.properties)), **json.loads(json.dumps(options))}
    diff = _differences(stored, wanted)
    if diff:
        raise UsageError(f"a direction set named {name!r} already exists, made with other options "
                         f"({'; '.join(diff[:3])})", "Pass another --name, or --replace to overwrite it")
    acc: dict[str, list[float]] = {}
    for prop, metrics in rows:
        acc.setdefault(prop, []).append(json.loads(metrics or "{}").get("val_accuracy", np.nan))
    return {p: round(float(np.mean(acc[p])), 4) for p in cfg.properties}


def run(catalog: Catalog, cfg: VectorfindConfig, *, on_start: Callable[[int], None] | None = None,
        advance: Callable[[int], None] | None = None) -> VectorfindResult:
    """Find, per group, one direction per property; ``on_start(directions)`` / ``advance(1)`` per direction
    drive a progress bar."""
    t0 = time.perf_counter()
    gen = resolve_generator(catalog, cfg.model)
    group_by = cfg.group_properties
    props = list(dict.fromkeys(list(cfg.properties) + list(group_by)))
    scorer = _scorer_for(catalog, gen.id, props, cfg.scorer)
    ids, values = score_matrix(catalog, scorer, props, generator_id=gen.id)
    if not np.isfinite(values).all():
        raise UsageError(f"scorer {scorer} has NaN or infinite scores", "Rescore with `ohlora score`")
    cutoffs = (np.median(values[:, [props.index(p) for p in group_by]], axis=0) if cfg.cutoffs == "medians"
               else read_cutoff_csv(Path(cfg.cutoffs), group_by)) if group_by else np.zeros(0)
    names = group_names(values[:, [props.index(p) for p in group_by]], cutoffs) if group_by \
        else np.array(["all"] * len(ids))
    wanted = all_groups(len(group_by)) if group_by else ["all"]
    counts = {g: int((names == g).sum()) for g in wanted}
    too_small = [g for g, c in counts.items() if max(int(cfg.ratio * c), 1) < 2 or 2 * max(int(cfg.ratio * c), 1) > c]
    if too_small:
        g = too_small[0]
        raise UsageError(f"group {g} has {counts[g]} samples, too few for two classes of at least 2 at ratio "
                         f"{cfg.ratio:g}", "Generate and score more images, or use fewer --groups")
    with catalog.read() as s:
        blobs = dict(s.execute(select(Image.id, Image.w).where(Image.id.in_(ids.tolist()))).all())
    w = decode_many([blobs[int(i)] for i in ids], gen.w_dim)
    name = cfg.name or f"{cfg.method}-{gen.name}"
    options = {"groups": cfg.groups, "group_by": list(group_by), "cutoffs": dict(zip(group_by, map(float, cutoffs))),
               "ratio": cfg.ratio, "scorer": scorer, "seed": cfg.seed, "samples": int(len(ids))}
    if not cfg.replace:
        stored = _stored_accuracy(catalog, name, gen.id, cfg, options)
        if stored is not None:  # the same command ran to the end before (perhaps killed before it could say so)
            return VectorfindResult(name, gen.name, cfg.method, int(len(ids)), counts, stored,
                                    time.perf_counter() - t0, existing=True)
    found: dict[tuple[str, str], tuple[np.ndarray, dict]] = {}
    if on_start is not None:
        on_start(len(wanted) * len(cfg.properties))
    for g in wanted:
        rows = np.flatnonzero(names == g)
        vecs, mets = [], []
        for p in cfg.properties:
            y = values[rows, props.index(p)]
            d = regression_direction(w[rows], y) if cfg.method == "regression" else \
                svm_direction(w[rows], y, ratio=cfg.ratio, seed=cfg.seed)
            vecs.append(d.vector)
            mets.append({**d.metrics, "group_n": int(len(rows))})
            if advance is not None:
                advance(1)
        if cfg.method == "conditional":
            vecs = list(orthogonalize(np.stack(vecs)))
        for p, v, m in zip(cfg.properties, vecs, mets):
            found[(p, g)] = (v, m)
    with stage_run(catalog, "vectorfind", {"generator": gen.name, "name": name, **options, "method": cfg.method}) as run_id:
        with catalog.write() as s:  # the grouping, the set and its directions: all or nothing
            old = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
            if old is not None:
                s.delete(old)
            oldg = s.scalars(select(Grouping).where(Grouping.name == name, Grouping.generator_id == gen.id)).first()
            if oldg is not None:
                s.delete(oldg)
            s.flush()
            grouping = Grouping(name=name, generator_id=gen.id, group_by_json=json.dumps(list(group_by)),
                                cutoffs_json=json.dumps(options["cutoffs"]), run_id=run_id)
            ds = DirectionSet(name=name, method=cfg.method, generator_id=gen.id, w_dim=gen.w_dim, source="vectorfind",
                              sign_flipped=False, options_json=json.dumps(options), run_id=run_id)
            s.add_all([grouping, ds])
            s.flush()
            s.execute(insert(GroupMember), [dict(grouping_id=grouping.id, image_id=int(i), group_name=str(n))
                                            for i, n in zip(ids, names)])
            for (p, g), (v, m) in found.items():
                s.add(Direction(set_id=ds.id, property=p, group_name=g, vector=encode(v, gen.w_dim),
                                metrics_json=json.dumps(m)))
    acc = {p: round(float(np.mean([found[(p, g)][1].get("val_accuracy", np.nan) for g in wanted])), 4)
           for p in cfg.properties}
    return VectorfindResult(name, gen.name, cfg.method, int(len(ids)), counts, acc, time.perf_counter() - t0)


__all__ = ["VectorfindConfig", "VectorfindResult", "run", "read_cutoff_csv", "METHODS"]
