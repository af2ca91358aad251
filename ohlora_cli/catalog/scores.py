"""Stored scores: what is scored, the values as a matrix, and each scorer's normalisation reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import exists, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Generator, Image, Normalisation, Score
from ohlora_cli.errors import NotFoundError
from ohlora_cli.properties.algorithms import PROPERTY_NAMES
from ohlora_cli.properties.normalise import apply_normalisation, fit_normalisation


def unscored_ids(catalog: Catalog, generator_id: int, scorer: str) -> tuple[list[int], int]:
    """(ids of the generator's images without this scorer's scores, how many have them)."""
    with catalog.read() as s:
        scored = exists().where(Score.image_id == Image.id, Score.scorer == scorer)
        todo = list(s.scalars(select(Image.id).where(Image.generator_id == generator_id, ~scored).order_by(Image.id)))
        total = s.scalar(select(func.count(Image.id)).where(Image.generator_id == generator_id))
    return todo, total - len(todo)


def insert_scores(session, rows: list[dict]) -> dict[str, set[int]]:
    """Store score rows in the caller's write transaction, leaving out the (image, scorer) pairs that
    already have scores (another process may have scored the same images meanwhile); returns the ids
    of the images each scorer newly scored."""
    new: dict[str, set[int]] = {}
    by_scorer: dict[str, list[dict]] = {}
    for row in rows:
        by_scorer.setdefault(row["scorer"], []).append(row)
    for scorer, part in by_scorer.items():
        ids = sorted({r["image_id"] for r in part})
        have = set(session.scalars(select(Score.image_id).where(Score.scorer == scorer, Score.image_id.in_(ids))
                                   .distinct()))
        part = [r for r in part if r["image_id"] not in have]
        if part:
            session.execute(sqlite_insert(Score).on_conflict_do_nothing(
                index_elements=["image_id", "property", "scorer"]), part)
        new[scorer] = set(ids) - have
    return new


@dataclass(frozen=True)
class Reference:
    """A scorer's stored normalisation reference: on how many images of which generator it was fitted."""

    scorer: str
    n: int
    reference: str  # "<n> images of generator <name>"


def reference_of(catalog: Catalog, scorer: str) -> Reference | None:
    with catalog.read() as s:
        row = s.scalars(select(Normalisation).where(Normalisation.scorer == scorer).order_by(Normalisation.id)).first()
    return Reference(scorer, row.n, row.reference) if row is not None else None


def fit_reference(catalog: Catalog, scorer: str, gen: Generator) -> bool:
    """Store the scorer's normalisation (mean, ddof-1 std per property) if it has none yet.

    The reference is fitted once, on the images of ``gen`` that have the scorer's values at that moment
    (all of them when scoring follows generating; a ``score`` running beside a ``generate`` sees the
    images stored so far), and never refitted: images scored later are normalised with it, so the
    cutoffs and selections made in normalised units keep their meaning.  :func:`reference_of` says
    which set it was (``n``, ``reference``).  Two processes fitting at once store one reference.
    """
    if reference_of(catalog, scorer) is not None:
        return False
    ids, values = score_matrix(catalog, scorer, PROPERTY_NAMES, generator_id=gen.id, normalised=False)
    if len(ids) < 2:
        return False
    mean, std = fit_normalisation(values)
    with catalog.write() as s:
        if s.scalar(select(func.count(Normalisation.id)).where(Normalisation.scorer == scorer)):
            return False  # another process stored it first
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
    table: dict[int, dict[str, float]] = {}
    for image_id, prop, value in rows:
        table.setdefault(image_id, {})[prop] = value
    ids = np.array(sorted(i for i, v in table.items() if len(v) == len(properties)), np.int64)
    values = np.array([[table[i][p] for p in properties] for i in ids], np.float64).reshape(len(ids), len(properties))
    if normalised:
        values = normalise_scores(catalog, scorer, properties, values, require=True)
    return ids, values


def normalise_scores(catalog: Catalog, scorer: str, properties, values: np.ndarray, *,
                     require: bool = False) -> np.ndarray:
    """(N, P) raw values of ``scorer``'s ``properties`` in the scorer's normalised units.

    The one rule, :func:`~ohlora_cli.properties.normalise.apply_normalisation`: ``(v - mean) / std``
    with the stored reference, 0 where std == 0.  A property without a stored reference (the CNN
    probabilities) stays as stored, or raises :class:`NotFoundError` when ``require``.
    """
    properties = list(properties)
    with catalog.read() as s:
        norm = {n.property: (n.mean, n.std) for n in
                s.scalars(select(Normalisation).where(Normalisation.scorer == scorer,
                                                      Normalisation.property.in_(properties)))}
    missing = [p for p in properties if p not in norm]
    if missing and require:
        raise NotFoundError(f"scorer {scorer} has no normalisation for {missing[0]}", "Run `ohlora score` first")
    mean = np.array([norm.get(p, (0.0, 1.0))[0] for p in properties])
    std = np.array([norm.get(p, (0.0, 1.0))[1] for p in properties])
    return apply_normalisation(np.asarray(values, np.float64).reshape(-1, len(properties)), mean, std, decimals=None)
