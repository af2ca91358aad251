"""The scorers: images in, property values out.  Shared by every stage that scores a face.

- ``parser``: the face parser (synthetic by default) → 11-class map → the original's algorithms
  (``fixed`` or ``seed`` mode) → the 8 raw property values, scorer id ``parser-<name>/<mode>``.
- ``cnn-filter``: the gender / quality / age / glass CNN ensembles of a CNN set (soft vote of the
  folds, eval mode) → 4 probabilities, scorer id ``cnn-filter/<set>``.  Never normalised.
- ``property-cnn``: the Property Score CNN of a CNN set → the 8 properties without a parser (the
  original's fast path), given back in algorithm units when the file records its target mean / std;
  scorer id ``property-cnn/<set>``.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.registry import FILTER_CNN_KINDS, load_cnn, resolve_cnns
from ohlora_cli.config import ScoreConfig
from ohlora_cli.errors import UsageError
from ohlora_cli.limits import NAME_PATTERN
from ohlora_cli.models.cnns import predict
from ohlora_cli.models.detect import largest_face_boxes, require_mtcnn
from ohlora_cli.models.parsers import load_parser
from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch

FILTER_PROPERTIES = ("gender", "quality", "age", "glass")
SCORED_PROPERTIES = (*PROPERTY_NAMES, *FILTER_PROPERTIES)  # every property a scorer stores
SCORER_ID = re.compile(rf"parser-[a-z0-9_]+/(fixed|seed)|(cnn-filter|property-cnn)/{NAME_PATTERN.pattern}")


def check_properties(props, flag: str, shown: str | None = None) -> None:
    """Every name in ``props`` is a property some scorer measures (checked before the catalog is read)."""
    unknown = [p for p in props if p not in SCORED_PROPERTIES]
    if unknown:
        where = f" in {flag} {shown!r}" if shown is not None else f" in {flag}"
        raise UsageError(f"unknown property {unknown[0]!r}{where}", f"Known properties: {', '.join(SCORED_PROPERTIES)}")


def check_scorer_id(scorer_id: str, flag: str = "--scorer") -> str:
    """A scorer id of the form the scorers store (``parser-synthetic/fixed``, ``cnn-filter/SET``, ``property-cnn/SET``)."""
    if not SCORER_ID.fullmatch(scorer_id or ""):
        raise UsageError(f"{flag} {scorer_id!r} is not a scorer id",
                         "Scorer ids look like parser-synthetic/fixed, cnn-filter/synthetic or property-cnn/synthetic")
    return scorer_id
CPU = torch.device("cpu")


class Scorer:
    """Images in, (N, P) values out; ``properties`` name the columns, ``normalise`` says whether the
    values get a stored N(0, 1) reference (continuous properties) or are compared as stored."""

    scorer_id: str
    properties: tuple[str, ...]
    normalise: bool

    def score(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rows(self, image_ids: list[int], images: np.ndarray, run_id: int | None) -> list[dict]:
        return self.rows_of(image_ids, self.score(images), run_id)

    def rows_of(self, image_ids: list[int], values: np.ndarray, run_id: int | None) -> list[dict]:
        """Score rows of already computed ``values`` (N, P)."""
        return [dict(image_id=int(i), property=p, value=float(values[k, j]), scorer=self.scorer_id, run_id=run_id)
                for k, i in enumerate(image_ids) for j, p in enumerate(self.properties)]


class ParserScorer(Scorer):
    def __init__(self, cfg: ScoreConfig, device: torch.device = CPU) -> None:
        if cfg.detector == "mtcnn":
            require_mtcnn()  # fail before any work when it is not installed
            self.parser = load_parser(cfg.parser, weights=cfg.parser_weights, crop_method="box", device=str(device))
        else:
            self.parser = load_parser(cfg.parser, weights=cfg.parser_weights, device=str(device))
        self.mode, self.scorer_id, self.detector = cfg.mode, cfg.scorer_id, cfg.detector
        self.properties, self.normalise = tuple(PROPERTY_NAMES), True

    def score(self, images: np.ndarray) -> np.ndarray:
        if self.detector == "mtcnn":
            parsed = self.parser.parse(images, boxes=largest_face_boxes(images))
        else:
            parsed = self.parser.parse(images)
        return compute_properties_batch(parsed.maps, parsed.crops, self.mode)


class FilterCnnScorer(Scorer):
    def __init__(self, catalog: Catalog, cnns: str, device: torch.device = CPU) -> None:
        rows = resolve_cnns(catalog, cnns, FILTER_CNN_KINDS)
        self.ensembles = [load_cnn(rows[k], device) for k in FILTER_CNN_KINDS]
        self.scorer_id, self.properties, self.normalise = f"cnn-filter/{cnns}", FILTER_PROPERTIES, False

    def score(self, images: np.ndarray) -> np.ndarray:
        return np.stack([e.predict(images) for e in self.ensembles], axis=1).astype(np.float64)


class PropertyCnnScorer(Scorer):
    def __init__(self, catalog: Catalog, cnns: str, device: torch.device = CPU) -> None:
        row = resolve_cnns(catalog, cnns, ["cnn-property"])["cnn-property"]
        self.model, metrics = load_cnn(row, device)
        self.device = device
        self.mean = np.asarray(metrics.get("target_mean", np.zeros(len(PROPERTY_NAMES))), np.float64)
        self.std = np.asarray(metrics.get("target_std", np.ones(len(PROPERTY_NAMES))), np.float64)
        self.scorer_id, self.properties, self.normalise = f"property-cnn/{cnns}", tuple(PROPERTY_NAMES), True

    def score(self, images: np.ndarray) -> np.ndarray:
        return predict(self.model, images, device=self.device).astype(np.float64) * self.std + self.mean


def build_scorers(catalog: Catalog, cfg: ScoreConfig, device: torch.device = CPU) -> list[Scorer]:
    """The configured scorers, loaded on ``device`` (models read once, validated before any work)."""
    make = {"parser": lambda: ParserScorer(cfg, device), "cnn-filter": lambda: FilterCnnScorer(catalog, cfg.cnns, device),
            "property-cnn": lambda: PropertyCnnScorer(catalog, cfg.cnns, device)}
    return [make[name]() for name in dict.fromkeys(cfg.scorers)]


def normalised_scorer_ids(cfg: ScoreConfig) -> list[str]:
    """The ids of the configured scorers that get a stored normalisation reference, without loading them."""
    ids = {"parser": cfg.scorer_id, "property-cnn": f"property-cnn/{cfg.cnns}"}
    return [ids[name] for name in dict.fromkeys(cfg.scorers) if name in ids]


def scorer_properties(scorer_id: str) -> tuple[str, ...]:
    """The properties a scorer id measures, without loading anything."""
    kind = scorer_id.partition("/")[0]
    if kind == "cnn-filter":
        return FILTER_PROPERTIES
    if kind.startswith("parser-") or kind == "property-cnn":
        return tuple(PROPERTY_NAMES)
    raise UsageError(f"unknown scorer id {scorer_id!r}",
                     "Use parser-<parser>/<mode>, cnn-filter/<set> or property-cnn/<set>")


def scorer_from_id(catalog: Catalog, scorer_id: str, device: torch.device = CPU) -> Scorer:
    """The scorer behind a stored scorer id (``parser-<name>/<mode>``, ``cnn-filter/<set>``,
    ``property-cnn/<set>``), e.g. to score a new sample the way a direction set's scores were made."""
    kind, _, rest = scorer_id.partition("/")
    if kind.startswith("parser-") and rest in ("fixed", "seed"):
        return ParserScorer(ScoreConfig(scorers=("parser",), parser=kind[len("parser-"):], mode=rest), device)
    if kind == "cnn-filter" and rest:
        return FilterCnnScorer(catalog, rest, device)
    if kind == "property-cnn" and rest:
        return PropertyCnnScorer(catalog, rest, device)
    raise UsageError(f"unknown scorer id {scorer_id!r}",
                     "Use parser-<parser>/<mode>, cnn-filter/<set> or property-cnn/<set>")
