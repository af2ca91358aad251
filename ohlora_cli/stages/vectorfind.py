"""``vectorfind``: per-group directions in w from the catalog's stored w and scores (docs/original.md §6).

Finding touches no image and no CNN: w comes from the images table, scores (normalised) from the
scorer that has every needed property.  Then each stored direction is calibrated (:func:`calibrate`:
a few of its group's samples rendered along it and measured by the same scorer), so ``synth --units
sigma`` can move a property by population standard deviations.  Groups: 'h'/'l' per group-by property against its cutoff
(the medians of the catalog's scores, or the original's ``property_scores_mean_and_median.csv``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import func, insert, select

from ohlora_cli.calibration import (
    Calibration,
    fit_calibration,
    from_metrics,
    scales_for,
)
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.directions import load_direction_set
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Grouping,
    GroupMember,
    Image,
    Normalisation,
)
from ohlora_cli.catalog.queries import generator_by_id, stage_run
from ohlora_cli.catalog.registry import find_generator, load_generator
from ohlora_cli.catalog.scores import normalise_scores, score_matrix, scorers_with
from ohlora_cli.catalog.vectors import decode, decode_many, encode
from ohlora_cli.config import check_device
from ohlora_cli.directions import (
    all_groups,
    choose_layer_blocks,
    group_names,
    layer_blocks,
    orthogonalize,
    project_off,
    regression_direction,
    svm_direction,
)
from ohlora_cli.edits import edit_wp
from ohlora_cli.errors import InputFileError, NotFoundError, UsageError
from ohlora_cli.formats import read_csv_records
from ohlora_cli.limits import MAX_BATCH_SIZE, check_int, check_name, check_seed
from ohlora_cli.models.inference import pick_device, render
from ohlora_cli.processes import kill_point
from ohlora_cli.scoring.scorers import (
    check_properties,
    check_scorer_id,
    scorer_from_id,
    scorer_properties,
)

METHODS = ("svm", "global", "conditional", "regression", "projected")
DEFAULT_GROUP_BY = ("hair_color", "hair_length", "background_mean", "hairstyle")
# what `projected` keeps still by default: the hair and background measures (docs/original.md §6 groups by them)
DEFAULT_OFF_TARGET = ("hair_color", "hair_length", "background_mean", "hairstyle")
LAYER_MODES = ("all", "auto")  # --layers: every W+ layer, or per property by re-scoring (_search_layers)
LAYER_PROBES = 48  # catalog samples (the first by id) the layer search renders
LAYER_STEP = 2.0  # how far the layer search moves along a direction, each way (HiGAN's re-scoring step)
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
    off_target: tuple[str, ...] | None = None  # `projected`: properties kept still [default: DEFAULT_OFF_TARGET]
    layers: str | None = None  # LAYER_MODES [default: auto for projected, all for the others]
    calibrate: bool = True  # measure each stored direction in population standard deviations (calibrate())
    device: str = "auto"  # where the calibration renders
    extra: dict = field(default_factory=dict)
    group_properties: tuple[str, ...] = field(init=False, default=())  # --groups / --group-by, resolved once

    @property
    def off_properties(self) -> tuple[str, ...]:
        """What `projected` projects off besides the other found properties (none for other methods)."""
        if self.method != "projected":
            return ()
        chosen = DEFAULT_OFF_TARGET if self.off_target is None else self.off_target
        return tuple(p for p in chosen if p not in self.properties)

    def _resolve_group_by(self) -> tuple[str, ...]:
        k = math.log2(self.groups) if self.groups > 0 else -1
        if self.method in ("global", "projected"):  # one direction per property over every sample
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
        if self.off_target is not None:
            if not self.off_target:
                raise UsageError("--off-target names no property", "Pass e.g. --off-target hair_color,background_mean")
            if self.method != "projected":
                raise UsageError(f"--off-target applies to --method projected, not {self.method}",
                                 "Pass --method projected, or leave out --off-target")
            check_properties(self.off_target, "--off-target")
            twice = [p for p in self.off_target if self.off_target.count(p) > 1]
            if twice:
                raise UsageError(f"--off-target names {twice[0]} twice", "Name each property once")
            edited = [p for p in self.off_target if p in self.properties]
            if edited:
                raise UsageError(f"--off-target names {edited[0]}, which --properties finds a direction for",
                                 "The other found properties are kept still anyway: name only other properties")
        if self.layers is None:
            object.__setattr__(self, "layers", "auto" if self.method == "projected" else "all")
        if self.layers not in LAYER_MODES:
            raise UsageError(f"--layers must be all or auto, got {self.layers!r}",
                             "Pass --layers auto to choose W+ layers per property by re-scoring")
        if self.name is not None:
            check_name(self.name, "--name", "svm-mine")
        if self.scorer is not None:
            check_scorer_id(self.scorer)
        check_device(self.device)
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
    calibration: CalibrateResult | None = None  # what the calibration at the end did (cfg.calibrate)


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


def _find(cfg: VectorfindConfig, w: np.ndarray, values: np.ndarray, props: list[str], names: np.ndarray,
          wanted: list[str], advance: Callable[[int], None] | None) -> dict[tuple[str, str], tuple[np.ndarray, dict]]:
    """The method table: per group, one unit direction (+ increases) and its metrics per property."""
    found: dict[tuple[str, str], tuple[np.ndarray, dict]] = {}
    for g in wanted:
        rows = np.flatnonzero(names == g)

        def svm(p: str):
            return svm_direction(w[rows], values[rows, props.index(p)], ratio=cfg.ratio, seed=cfg.seed)

        vecs, mets = [], []
        for p in cfg.properties:
            d = regression_direction(w[rows], values[rows, props.index(p)]) if cfg.method == "regression" else svm(p)
            vecs.append(d.vector)
            mets.append({**d.metrics, "group_n": int(len(rows))})
            if advance is not None:
                advance(1)
        if cfg.method == "conditional":
            vecs = list(orthogonalize(np.stack(vecs)))
        if cfg.method == "projected":  # off the span of every other property's own direction, found the same way
            off = [svm(q).vector for q in cfg.off_properties]
            for i, p in enumerate(cfg.properties):
                try:
                    d = project_off(vecs[i], np.stack([v for j, v in enumerate(vecs) if j != i] + off))
                except ValueError:
                    raise UsageError(f"the {p} direction of group {g} lies in the span of the directions it is "
                                     "projected off", "Pass fewer --off-target properties") from None
                mets[i] = {**mets[i], **d.metrics}
                vecs[i] = d.vector
        for p, v, m in zip(cfg.properties, vecs, mets):
            found[(p, g)] = (v, m)
    return found


def _search_layers(catalog: Catalog, gen, scorer: str, cfg: VectorfindConfig, ids: np.ndarray, w: np.ndarray,
                   names: np.ndarray, found: dict, props: list[str], advance: Callable[[int], None] | None) -> None:
    """HiGAN's layer-wise re-scoring: per property, ``LAYER_PROBES`` samples are moved ±``LAYER_STEP`` along
    their group's direction on one W+ block at a time and measured by the set's scorer; the blocks where
    the property responds and the others do not (:func:`choose_layer_blocks`) become the property's
    ``layers`` in every group's metrics (edits honour them: :func:`ohlora_cli.edits.edit_wp`)."""
    device = pick_device(cfg.device)
    G = load_generator(gen, device)
    sc = scorer_from_id(catalog, scorer, device)
    measured = [p for p in props if p in sc.properties]
    cols = [list(sc.properties).index(p) for p in measured]
    probe = np.argsort(ids, kind="stable")[:LAYER_PROBES]
    blocks = layer_blocks(G.num_layers)

    def measure(wp: np.ndarray) -> np.ndarray:  # (n, measured) in the scorer's normalised units (≈ σ)
        return normalise_scores(catalog, scorer, measured, sc.score(render(G, wp, device=device))[:, cols])

    base = np.repeat(w[probe][:, None, :], G.num_layers, axis=1)
    for p in cfg.properties:
        v = np.stack([found[(p, str(names[i]))][0] for i in probe])  # each probe's own group's direction
        on, off = [], []
        for block in blocks:
            step = np.zeros_like(base)
            step[:, list(block)] = LAYER_STEP * v[:, None, :]
            change = measure(base + step) - measure(base - step)
            on.append(float(change[:, measured.index(p)].mean()))
            off.append(float(max(np.abs(change[:, j]).mean() for j, q in enumerate(measured) if q != p)))
        kept = choose_layer_blocks(np.array(on), np.array(off))
        layers = sorted(i for b in kept for i in blocks[b])
        response = {f"{b[0]}-{b[-1]}": [round(a, 4), round(c, 4)] for b, a, c in zip(blocks, on, off)}
        for (q, _), (_, metrics) in found.items():  # one range per property, in every group
            if q == p:
                metrics.update(layers=layers, layer_response=response)
        if advance is not None:
            advance(1)


def run(catalog: Catalog, cfg: VectorfindConfig, *, on_start: Callable[[int], None] | None = None,
        advance: Callable[[int], None] | None = None,
        calibration_progress: tuple[Callable[[int], None], Callable[[int], None]] | None = None) -> VectorfindResult:
    """Find, per group, one direction per property; ``on_start(directions)`` / ``advance(1)`` per direction
    drive a progress bar (``calibration_progress``: the same pair for the calibration's images)."""
    t0 = time.perf_counter()
    gen = find_generator(catalog, cfg.model)
    group_by = cfg.group_properties
    off_target = cfg.off_properties
    props = list(dict.fromkeys(list(cfg.properties) + list(group_by) + list(off_target)))
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
               "ratio": cfg.ratio, "scorer": scorer, "seed": cfg.seed, "samples": int(len(ids)),
               **({"off_target": list(off_target)} if off_target else {}),
               **({"layers": cfg.layers} if cfg.layers != "all" else {})}  # older sets' options stay comparable
    if not cfg.replace:
        stored = _stored_accuracy(catalog, name, gen.id, cfg, options)
        if stored is not None:  # the same command ran to the end before (perhaps killed before it could say so)
            return _calibrated(catalog, cfg, VectorfindResult(name, gen.name, cfg.method, int(len(ids)), counts, stored,
                                                              time.perf_counter() - t0, existing=True),
                               calibration_progress)
    if on_start is not None:
        on_start(len(wanted) * len(cfg.properties) + (len(cfg.properties) if cfg.layers == "auto" else 0))
    found = _find(cfg, w, values, props, names, wanted, advance)
    if cfg.layers == "auto":
        _search_layers(catalog, gen, scorer, cfg, ids, w, names, found, props, advance)
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
    return _calibrated(catalog, cfg, VectorfindResult(name, gen.name, cfg.method, int(len(ids)), counts, acc,
                                                      time.perf_counter() - t0), calibration_progress)


# ---------------------------------------------------------------- calibration (README "Units")

CALIBRATION_IMAGES = 8  # base images per group a direction is calibrated on
CALIBRATION_SCORER = "parser-synthetic/fixed"  # for sets that name no scorer (imports)
CALIBRATION_BATCH = 64  # images rendered at once


@dataclass(frozen=True)
class CalibrateConfig:
    name: str
    model: str | None = None  # the generator of a set made for none (imports); a found set uses its own
    scorer: str | None = None  # default: the set's scorer, else CALIBRATION_SCORER
    images: int = CALIBRATION_IMAGES
    seed: int = 2025
    replace: bool = False  # recalibrate directions that already hold a calibration
    device: str = "auto"

    def __post_init__(self) -> None:
        check_name(self.name, "ohlora vectorfind calibrate", "svm-synthetic-base")
        check_seed(self.seed)
        check_int(self.images, "--images", lo=1, hi=MAX_BATCH_SIZE, example="8")
        if self.scorer is not None:
            check_scorer_id(self.scorer)
        check_device(self.device)


@dataclass(frozen=True)
class CalibrateResult:
    name: str
    generator: str
    scorer: str
    calibrated: int  # directions calibrated by this call
    kept: int  # directions that held a calibration already (rerun without --replace)
    images: int  # images rendered
    sigma_per_unit: dict[str, float]  # mean over the set's groups, per property
    seconds: float
    groups: int = 1


def _calibration_samples(catalog: Catalog, ds: DirectionSet, gen, scorer: str,
                         groups: list[str]) -> tuple[dict[str, np.ndarray], str]:
    """Image ids per group to calibrate on: the set's stored grouping; for a grouped set without one (an
    import), the catalog's scores against their medians by the original's group-by properties; else
    every image of the generator.  Also says which it was."""
    with catalog.read() as s:
        everyone = np.array(list(s.scalars(select(Image.id).where(Image.generator_id == gen.id).order_by(Image.id))),
                            np.int64)
        grouping = s.scalars(select(Grouping).where(Grouping.name == ds.name, Grouping.generator_id == gen.id)).first()
        members = s.execute(select(GroupMember.image_id, GroupMember.group_name)
                            .where(GroupMember.grouping_id == grouping.id)).all() if grouping is not None else []
    if not len(everyone):
        raise NotFoundError(f"generator {gen.name} has no images to calibrate direction set {ds.name} on",
                            "Run `ohlora generate --n 100` and `ohlora score` first")
    by_group: dict[str, list[int]] = {}
    how = "all images"
    if members:
        for image_id, g in members:
            by_group.setdefault(g, []).append(image_id)
        how = "the set's groups"
    elif groups != ["all"] and len({len(g) for g in groups}) == 1 and len(groups[0]) <= len(DEFAULT_GROUP_BY) \
            and all(set(g) <= {"h", "l"} for g in groups):
        props = list(DEFAULT_GROUP_BY[:len(groups[0])])
        ids, values = score_matrix(catalog, scorer, props, generator_id=gen.id)
        if len(ids):
            for image_id, g in zip(ids, group_names(values, np.median(values, axis=0))):
                by_group.setdefault(str(g), []).append(int(image_id))
            how = f"groups by the medians of {', '.join(props)}"
    return {g: np.array(sorted(by_group[g]), np.int64) if by_group.get(g) else everyone for g in groups}, how


def _population_sigma(catalog: Catalog, scorer: str, prop: str, gen) -> float:
    """The property's population standard deviation in the scorer's raw units: the catalog's stored
    normalisation reference, else the spread of the generator's scored images."""
    with catalog.read() as s:
        ref = s.scalars(select(Normalisation).where(Normalisation.scorer == scorer,
                                                    Normalisation.property == prop)).first()
    if ref is not None:
        return float(ref.std)
    _, values = score_matrix(catalog, scorer, [prop], generator_id=gen.id, normalised=False)
    if len(values) < 2:
        raise NotFoundError(f"scorer {scorer} has no {prop!r} scores of generator {gen.name} to size a standard "
                            "deviation with", f"Run `ohlora score` first (the calibration measures {prop} in them)")
    return float(values[:, 0].std(ddof=1))


def calibrate(catalog: Catalog, cfg: CalibrateConfig, *, on_start: Callable[[int], None] | None = None,
              advance: Callable[[int], None] | None = None) -> CalibrateResult:
    """Store, in each direction's metrics, how many population standard deviations one raw unit moves its
    property (:mod:`ohlora_cli.calibration`): per group, ``cfg.images`` of its samples (a fixed draw) are
    rendered at ``w + s·v`` for the property's scales and measured by the set's scorer.  One write per
    group; directions that hold a calibration are kept unless ``replace`` (a rerun has nothing to do)."""
    t0 = time.perf_counter()
    ds, rows = load_direction_set(catalog, cfg.name)
    if ds.generator_id is not None:
        gen = generator_by_id(catalog, ds.generator_id)
        if cfg.model is not None and cfg.model != gen.name:
            raise UsageError(f"direction set {ds.name} was found for generator {gen.name}, not {cfg.model}",
                             f"Leave out --model (the set is calibrated on {gen.name})")
    else:
        gen = find_generator(catalog, cfg.model)
        if gen.w_dim != ds.w_dim:
            raise UsageError(f"direction set {ds.name} has {ds.w_dim}-d vectors but {gen.name} has w_dim {gen.w_dim}",
                             "Pass --model with the generator the set was made for")
    scorer = cfg.scorer or json.loads(ds.options_json or "{}").get("scorer") or CALIBRATION_SCORER
    unmeasured = sorted({d.property for d in rows} - set(scorer_properties(scorer)))
    if unmeasured:
        raise UsageError(f"scorer {scorer} does not measure {unmeasured[0]}", "Pass --scorer with one that does")
    groups = sorted({d.group_name for d in rows})
    todo = [d for d in rows if cfg.replace or calibration_of(d) is None]
    samples, how = _calibration_samples(catalog, ds, gen, scorer, groups) if todo else ({}, "")
    rng = np.random.default_rng(cfg.seed)
    chosen = {g: np.sort(rng.choice(samples[g], size=min(cfg.images, len(samples[g])), replace=False))
              for g in groups} if todo else {}  # drawn for every group: a resumed run draws the same images
    sigma = {p: _population_sigma(catalog, scorer, p, gen) for p in sorted({d.property for d in todo})}
    plan = {g: [d for d in todo if d.group_name == g] for g in groups}
    total = sum(len(chosen[g]) * (1 + sum(int((scales_for(d.property) != 0).sum()) for d in ds_))
                for g, ds_ in plan.items() if ds_)
    if on_start is not None:
        on_start(total)
    device = pick_device(cfg.device)
    G = load_generator(gen, device) if todo else None
    sc = scorer_from_id(catalog, scorer, device) if todo else None
    rendered = 0
    for g, directions in plan.items():
        if not directions:
            continue
        with catalog.read() as s:
            blobs = dict(s.execute(select(Image.id, Image.w).where(Image.id.in_(chosen[g].tolist()))).all())
        w = decode_many([blobs[int(i)] for i in chosen[g]], gen.w_dim)
        k = len(w)
        wps = [edit_wp(w_i, np.zeros((0, gen.w_dim), np.float32), np.zeros((1, 0)), gen.num_layers) for w_i in w]
        blocks: dict[tuple[int, float], int] = {}  # (direction, scale) → first row of its k images; 0: the bases
        for j, d in enumerate(directions):
            v = decode(d.vector, ds.w_dim)[None]
            for s_ in scales_for(d.property):
                if s_ != 0:
                    blocks[(j, float(s_))] = len(wps)
                    wps += [edit_wp(w_i, v, np.array([[s_]]), gen.num_layers,
                                    direction_layers=[json.loads(d.metrics_json or "{}").get("layers")])
                            for w_i in w]  # on the direction's own W+ layers (--layers auto), as edits apply it
        wp = np.concatenate(wps)
        values = []
        for a in range(0, len(wp), CALIBRATION_BATCH):
            part = wp[a:a + CALIBRATION_BATCH]
            values.append(sc.score(render(G, part, device=device)))
            if advance is not None:
                advance(len(part))
        values = np.concatenate(values)
        rendered += len(wp)
        stored = {}
        for j, d in enumerate(directions):
            col = list(sc.properties).index(d.property)
            scales = scales_for(d.property)
            measured = np.stack([values[blocks.get((j, float(s_)), 0):][:k, col] for s_ in scales], axis=1)
            cal = fit_calibration(scales, measured, sigma[d.property])
            stored[d.id] = {**cal.to_metrics(), "calibration_scorer": scorer, "calibration_samples": how}
        with catalog.write() as s:  # one group at a time: a killed run keeps the groups it finished
            for row in s.scalars(select(Direction).where(Direction.id.in_(list(stored)))):
                row.metrics_json = json.dumps({**json.loads(row.metrics_json or "{}"), **stored[row.id]})
        kill_point("calibrate:group")
    _, rows = load_direction_set(catalog, cfg.name)
    spu: dict[str, list[float]] = {}
    for d in rows:
        cal = calibration_of(d)
        if cal is not None and math.isfinite(cal.sigma_per_unit):
            spu.setdefault(d.property, []).append(cal.sigma_per_unit)
    means = {p: round(float(np.mean(v)), 4) for p, v in sorted(spu.items())}
    return CalibrateResult(ds.name, gen.name, scorer, len(todo), len(rows) - len(todo), rendered, means,
                           time.perf_counter() - t0, len(groups))


def calibration_of(d: Direction) -> Calibration | None:
    return from_metrics(json.loads(d.metrics_json or "{}"))


def _calibrated(catalog: Catalog, cfg: VectorfindConfig, result: VectorfindResult,
                progress: tuple[Callable[[int], None], Callable[[int], None]] | None) -> VectorfindResult:
    """``result`` with the set calibrated (what it lacks of it) when ``cfg.calibrate``."""
    if not cfg.calibrate:
        return result
    on_start, advance = progress or (None, None)
    cal = calibrate(catalog, CalibrateConfig(name=result.name, scorer=None, seed=cfg.seed, device=cfg.device),
                    on_start=on_start, advance=advance)
    return replace(result, calibration=cal)  # (its seconds are the finding's; the calibration says its own)


__all__ = ["VectorfindConfig", "VectorfindResult", "run", "read_cutoff_csv", "METHODS", "CalibrateConfig",
           "CalibrateResult", "calibrate"]
