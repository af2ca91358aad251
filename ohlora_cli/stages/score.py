"""``score``: property scores for every catalog image that lacks them, resumable, one transaction per batch.

Scorers (``--scorers``, any of):

- ``parser``: the face parser (synthetic by default) → 11-class map → the seed's algorithms (``fixed``
  or ``seed`` mode) → the 8 raw property values, scorer id ``parser-<name>/<mode>``.
- ``cnn-filter``: the gender / quality / age / glass CNN ensembles of a CNN set (soft vote of the
  folds, eval mode) → 4 probabilities, scorer id ``cnn-filter/<set>``.  Never normalised.
- ``property-cnn``: the Property Score CNN of a CNN set → the 8 properties without a parser (the
  original's fast path), given back in algorithm units when the file records its target mean / std;
  scorer id ``property-cnn/<set>``.

The CNN set defaults to the embedded ``synthetic`` one.  Each batch is rendered once (its PNG when
stored, else re-rendered from the stored w — no JPEG round trip) and given to every scorer that
still lacks it.  The first time a continuous scorer's values exist, their mean / std (ddof 1, the
original's normalisation) are stored as that scorer's reference, so every later stage applies the
same transform.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import exists, func, insert, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Generator, Image, Normalisation, Score
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.vectors import decode_many
from ohlora_cli.config import DEFAULT_SCORERS
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.images import load_png
from ohlora_cli.models.inference import pick_device, render
from ohlora_cli.models.registry import load_generator, resolve_generator
from ohlora_cli.progress import Advance
from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch
from ohlora_cli.properties.normalise import fit_normalisation

SCORERS = ("parser", "cnn-filter", "property-cnn")
FILTER_PROPERTIES = ("gender", "quality", "age", "glass")


@dataclass(frozen=True)
class ScoreConfig:
    model: str | None = None
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    parser: str = "synthetic"
    parser_weights: str | None = None
    mode: str = "fixed"
    detector: str = "fixed"
    cnns: str = "synthetic"
    batch_size: int = 64
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = [s for s in self.scorers if s not in SCORERS]
        if unknown:
            raise UsageError(f"unknown scorer {unknown[0]!r}", f"Use one of: {', '.join(SCORERS)}")
        if not self.scorers:
            raise UsageError("no scorer given", f"Pass --scorers with some of: {', '.join(SCORERS)}")
        if self.detector not in ("fixed", "mtcnn"):
            raise UsageError(f"--detector must be fixed or mtcnn, not {self.detector!r}", "Pass --detector fixed")
        if self.detector == "mtcnn" and self.parser == "synthetic":
            raise UsageError("the synthetic parser reads whole synthetic frames; it takes no face boxes",
                             "Use --detector mtcnn with --parser bisenet")
        if self.mode not in ("fixed", "seed"):
            raise UsageError(f"--mode must be fixed or seed, not {self.mode!r}", "Pass --mode fixed")
        if self.batch_size <= 0:
            raise UsageError(f"--batch-size must be positive, got {self.batch_size}", "Pass e.g. --batch-size 64")

    @property
    def scorer_id(self) -> str:
        """The parser scorer's id (kept for callers that only use the parser)."""
        return f"parser-{self.parser}/{self.mode}"

    def scorer_ids(self) -> list[str]:
        ids = {"parser": self.scorer_id, "cnn-filter": f"cnn-filter/{self.cnns}",
               "property-cnn": f"property-cnn/{self.cnns}"}
        return [ids[s] for s in self.scorers]


class Scorer:
    """Images in, (N, P) values out; ``properties`` name the columns, ``normalise`` says whether the
    values get a stored N(0, 1) reference (continuous properties) or are compared as stored."""

    scorer_id: str
    properties: tuple[str, ...]
    normalise: bool

    def score(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rows(self, image_ids: list[int], images: np.ndarray, run_id: int | None) -> list[dict]:
        values = self.score(images)
        return [dict(image_id=int(i), property=p, value=float(values[k, j]), scorer=self.scorer_id, run_id=run_id)
                for k, i in enumerate(image_ids) for j, p in enumerate(self.properties)]


class ParserScorer(Scorer):
    def __init__(self, cfg: ScoreConfig) -> None:
        from ohlora_cli.models.parsers import load_parser

        if cfg.detector == "mtcnn":
            from ohlora_cli.models.detect import _mtcnn

            _mtcnn()  # fail before any work when it is not installed
            self.parser = load_parser(cfg.parser, weights=cfg.parser_weights, crop_method="box")
        else:
            self.parser = load_parser(cfg.parser, weights=cfg.parser_weights)
        self.mode, self.scorer_id, self.detector = cfg.mode, cfg.scorer_id, cfg.detector
        self.properties, self.normalise = tuple(PROPERTY_NAMES), True

    def score(self, images: np.ndarray) -> np.ndarray:
        if self.detector == "mtcnn":
            from ohlora_cli.models.detect import largest_face_boxes

            parsed = self.parser.parse(images, boxes=largest_face_boxes(images))
        else:
            parsed = self.parser.parse(images)
        return compute_properties_batch(parsed.maps, parsed.crops, self.mode)


class FilterCnnScorer(Scorer):
    def __init__(self, catalog: Catalog, cnns: str) -> None:
        from ohlora_cli.models.registry import FILTER_CNN_KINDS, load_cnn, resolve_cnns

        rows = resolve_cnns(catalog, cnns, FILTER_CNN_KINDS)
        self.ensembles = [load_cnn(rows[k]) for k in FILTER_CNN_KINDS]
        self.scorer_id, self.properties, self.normalise = f"cnn-filter/{cnns}", FILTER_PROPERTIES, False

    def score(self, images: np.ndarray) -> np.ndarray:
        return np.stack([e.predict(images) for e in self.ensembles], axis=1).astype(np.float64)


class PropertyCnnScorer(Scorer):
    def __init__(self, catalog: Catalog, cnns: str) -> None:
        from ohlora_cli.models.registry import load_cnn, resolve_cnns

        row = resolve_cnns(catalog, cnns, ["cnn-property"])["cnn-property"]
        self.model, metrics = load_cnn(row)
        self.mean = np.asarray(metrics.get("target_mean", np.zeros(len(PROPERTY_NAMES))), np.float64)
        self.std = np.asarray(metrics.get("target_std", np.ones(len(PROPERTY_NAMES))), np.float64)
        self.scorer_id, self.properties, self.normalise = f"property-cnn/{cnns}", tuple(PROPERTY_NAMES), True

    def score(self, images: np.ndarray) -> np.ndarray:
        from ohlora_cli.models.cnns import predict

        return predict(self.model, images).astype(np.float64) * self.std + self.mean


def build_scorers(catalog: Catalog, cfg: ScoreConfig) -> list[Scorer]:
    """The configured scorers, loaded (models read once, validated before any work)."""
    make = {"parser": lambda: ParserScorer(cfg), "cnn-filter": lambda: FilterCnnScorer(catalog, cfg.cnns),
            "property-cnn": lambda: PropertyCnnScorer(catalog, cfg.cnns)}
    return [make[name]() for name in dict.fromkeys(cfg.scorers)]


def scorer_properties(scorer_id: str) -> tuple[str, ...]:
    """The properties a scorer id measures, without loading anything."""
    kind = scorer_id.partition("/")[0]
    if kind == "cnn-filter":
        return FILTER_PROPERTIES
    if kind.startswith("parser-") or kind == "property-cnn":
        return tuple(PROPERTY_NAMES)
    raise UsageError(f"unknown scorer id {scorer_id!r}",
                     "Use parser-<parser>/<mode>, cnn-filter/<set> or property-cnn/<set>")


def scorer_from_id(catalog: Catalog, scorer_id: str) -> Scorer:
    """The scorer behind a stored scorer id (``parser-<name>/<mode>``, ``cnn-filter/<set>``,
    ``property-cnn/<set>``), e.g. to score a new sample the way a direction set's scores were made."""
    kind, _, rest = scorer_id.partition("/")
    if kind.startswith("parser-") and rest in ("fixed", "seed"):
        return ParserScorer(ScoreConfig(scorers=("parser",), parser=kind[len("parser-"):], mode=rest))
    if kind == "cnn-filter" and rest:
        return FilterCnnScorer(catalog, rest)
    if kind == "property-cnn" and rest:
        return PropertyCnnScorer(catalog, rest)
    raise UsageError(f"unknown scorer id {scorer_id!r}",
                     "Use parser-<parser>/<mode>, cnn-filter/<set> or property-cnn/<set>")


@dataclass(frozen=True)
class ScoreResult:
    generator: str
    scorers: list[str]
    new: dict[str, int]  # scorer id -> images newly scored
    skipped: dict[str, int]  # scorer id -> images that already had its scores
    images: int  # images that got at least one new score
    seconds: float
    normalisation_fitted: list[str] = field(default_factory=list)


def unscored_ids(catalog: Catalog, generator_id: int, scorer: str) -> tuple[list[int], int]:
    """(ids of the generator's images without this scorer's scores, how many have them)."""
    with catalog.read() as s:
        scored = exists().where(Score.image_id == Image.id, Score.scorer == scorer)
        todo = list(s.scalars(select(Image.id).where(Image.generator_id == generator_id, ~scored).order_by(Image.id)))
        total = s.scalar(select(func.count(Image.id)).where(Image.generator_id == generator_id))
    return todo, total - len(todo)


def images_of(catalog: Catalog, G, gen: Generator, ids: list[int], device) -> np.ndarray:
    """uint8 images of catalog rows: their PNG when stored, else re-rendered from the stored w."""
    with catalog.read() as s:
        rows = s.execute(select(Image.id, Image.w, Image.psi, Image.trunc_layers, Image.noise_mode, Image.path)
                         .where(Image.id.in_(ids))).all()
    by_id = {r.id: r for r in rows}
    rows = [by_id[i] for i in ids]
    out = np.zeros((len(ids), gen.resolution, gen.resolution, 3), np.uint8)
    todo = [k for k, r in enumerate(rows) if not (r.path and Path(r.path).exists())]
    for k, r in enumerate(rows):
        if k not in todo:
            out[k] = load_png(Path(r.path))
    settings = {(rows[k].psi, rows[k].trunc_layers, rows[k].noise_mode) for k in todo}
    for psi, trunc, noise in settings:
        ks = [k for k in todo if (rows[k].psi, rows[k].trunc_layers, rows[k].noise_mode) == (psi, trunc, noise)]
        w = decode_many([rows[k].w for k in ks], gen.w_dim)
        out[ks] = render(G, w, psi=psi, trunc_layers=trunc, noise_mode=noise, device=device)
    return out


def run(catalog: Catalog, cfg: ScoreConfig, advance: Advance | None = None, on_start=None) -> ScoreResult:
    t0 = time.perf_counter()
    gen = resolve_generator(catalog, cfg.model)
    scorers = build_scorers(catalog, cfg)
    device = pick_device(cfg.device)
    pending = {sc.scorer_id: unscored_ids(catalog, gen.id, sc.scorer_id) for sc in scorers}
    lacking = {sid: set(todo) for sid, (todo, _) in pending.items()}
    todo = sorted(set().union(*lacking.values()))
    if on_start is not None:
        on_start(len(todo))
    new = {sc.scorer_id: 0 for sc in scorers}
    if todo:
        G = load_generator(gen).to(device)
        options = {"generator": gen.name, "scorer_ids": [sc.scorer_id for sc in scorers], **cfg.__dict__}
        with stage_run(catalog, "score", options) as run_id:
            for start in range(0, len(todo), cfg.batch_size):
                ids = todo[start:start + cfg.batch_size]
                images = images_of(catalog, G, gen, ids, device)
                rows: list[dict] = []
                for sc in scorers:
                    ks = [k for k, i in enumerate(ids) if i in lacking[sc.scorer_id]]
                    if ks:
                        rows += sc.rows([ids[k] for k in ks], images[ks], run_id)
                        new[sc.scorer_id] += len(ks)
                with catalog.write() as s:
                    s.execute(insert(Score), rows)
                if advance is not None:
                    advance(len(ids))
    fitted = [sc.scorer_id for sc in scorers if sc.normalise and fit_reference(catalog, sc.scorer_id, gen)]
    return ScoreResult(gen.name, [sc.scorer_id for sc in scorers], new,
                       {sid: skipped for sid, (_, skipped) in pending.items()}, len(todo), time.perf_counter() - t0,
                       fitted)


def fit_reference(catalog: Catalog, scorer: str, gen: Generator) -> bool:
    """Store the scorer's normalisation (mean, ddof-1 std per property) if it has none yet."""
    with catalog.read() as s:
        if s.scalar(select(func.count(Normalisation.id)).where(Normalisation.scorer == scorer)):
            return False
        ids, values = score_matrix(catalog, scorer, PROPERTY_NAMES, generator_id=gen.id, normalised=False)
    if len(ids) < 2:
        return False
    mean, std = fit_normalisation(values)
    with catalog.write() as s:
        for j, p in enumerate(PROPERTY_NAMES):
            s.add(Normalisation(scorer=scorer, property=p, mean=float(mean[j]), std=float(std[j]), n=len(ids),
                                reference=f"{len(ids)} images of generator {gen.name}"))
    return True


def scorers_with(catalog: Catalog, generator_id: int, prop: str) -> set[str]:
    """The scorers that have values of ``prop`` for some image of the generator."""
    with catalog.read() as s:
        return set(s.scalars(select(Score.scorer).join(Image, Image.id == Score.image_id)
                             .where(Score.property == prop, Image.generator_id == generator_id).distinct()))


def score_matrix(catalog: Catalog, scorer: str, properties, *, generator_id: int, normalised: bool = True,
                 image_ids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, (N, P) values) of images that have every property from ``scorer`` (normalised by default)."""
    properties = list(properties)
    with catalog.read() as s:
        q = (select(Score.image_id, Score.property, Score.value).join(Image, Image.id == Score.image_id)
             .where(Score.scorer == scorer, Score.property.in_(properties), Image.generator_id == generator_id))
        if image_ids is not None:
            q = q.where(Score.image_id.in_(image_ids))
        rows = s.execute(q).all()
        norm = {n.property: (n.mean, n.std) for n in
                s.scalars(select(Normalisation).where(Normalisation.scorer == scorer))}
    table: dict[int, dict[str, float]] = {}
    for image_id, prop, value in rows:
        table.setdefault(image_id, {})[prop] = value
    ids = np.array(sorted(i for i, v in table.items() if len(v) == len(properties)), np.int64)
    values = np.array([[table[i][p] for p in properties] for i in ids], np.float64).reshape(len(ids), len(properties))
    if normalised:
        missing = [p for p in properties if p not in norm]
        if missing:
            raise NotFoundError(f"scorer {scorer} has no normalisation for {missing[0]}",
                                "Run `ohlora score` first")
        mean = np.array([norm[p][0] for p in properties])
        std = np.array([norm[p][1] for p in properties])
        values = np.where(std > 0, (values - mean) / np.where(std > 0, std, 1), 0.0)
    return ids, values
