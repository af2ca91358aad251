"""Stored direction sets: found by name or by generator, and their vectors as matrices."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import func, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Direction, DirectionSet, Generator, Image
from ohlora_cli.catalog.queries import generator_by_id
from ohlora_cli.catalog.vectors import decode
from ohlora_cli.errors import NotFoundError, UsageError


def resolve_direction_set(catalog: Catalog, gen: Generator, name: str | None) -> DirectionSet:
    with catalog.read() as s:
        if name is not None:
            ds = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
            if ds is None:
                names = list(s.scalars(select(DirectionSet.name)))
                raise NotFoundError(f"no direction set named {name!r}", f"Known sets: {', '.join(names) or 'none'}")
        else:
            ds = s.scalars(select(DirectionSet).where(DirectionSet.generator_id == gen.id)
                           .order_by(DirectionSet.id.desc())).first()
            if ds is None:
                images = s.scalar(select(func.count(Image.id)).where(Image.generator_id == gen.id))
                raise NotFoundError(f"generator {gen.name} has no directions yet",
                                    ("Run `ohlora vectorfind`" if images else "Run `ohlora generate --n 1000`, "
                                     "`ohlora score` and `ohlora vectorfind`") + ", or pass --directions seed-v8 "
                                    "after `ohlora vectorfind import-seed DIR`")
    if ds.generator_id is not None and ds.generator_id != gen.id:
        other = generator_by_id(catalog, ds.generator_id)
        raise UsageError(f"direction set {ds.name} was found for generator {other.name}, not {gen.name}",
                         "Pass --directions with a set of this generator")
    if ds.w_dim != gen.w_dim:
        raise UsageError(f"direction set {ds.name} has {ds.w_dim}-d vectors but {gen.name} has w_dim {gen.w_dim}",
                         "Pass --directions with a matching set")
    return ds


def direction_matrix(catalog: Catalog, ds: DirectionSet, props: list[str], group: str | None) -> tuple[np.ndarray, str]:
    """(P, w_dim) unit vectors of ``props`` in ``group`` (the set's only group when it is ungrouped)."""
    with catalog.read() as s:
        rows = s.scalars(select(Direction).where(Direction.set_id == ds.id)).all()
    have_props = sorted({d.property for d in rows})
    groups = sorted({d.group_name for d in rows})
    if group is None:
        if groups == ["all"]:
            group = "all"
        else:
            raise UsageError("no group is known for this sample",
                             f"Pass --group (one of {', '.join(groups[:16])})")
    if group not in groups:
        raise NotFoundError(f"unknown group {group!r} in direction set {ds.name}",
                            f"Use one of {', '.join(groups[:16])}")
    by_key = {(d.property, d.group_name): d for d in rows}
    vectors = []
    for p in props:
        if (p, group) not in by_key:
            raise NotFoundError(f"unknown property {p!r} for direction set {ds.name}",
                                f"It has {', '.join(have_props)}")
        vectors.append(decode(by_key[(p, group)].vector, ds.w_dim))
    return np.stack(vectors), group


def direction_metrics(catalog: Catalog, ds: DirectionSet, props: list[str], group: str) -> list[dict]:
    """The stored metrics (``metrics_json``) of ``props``' directions in ``group``, in ``props`` order
    (``{}`` for a direction the set lacks: :func:`direction_matrix` names it)."""
    with catalog.read() as s:
        rows = dict(s.execute(select(Direction.property, Direction.metrics_json)
                              .where(Direction.set_id == ds.id, Direction.group_name == group)).all())
    return [json.loads(rows.get(p) or "{}") for p in props]


def direction_layers(catalog: Catalog, ds: DirectionSet, props: list[str], group: str) -> list[list[int] | None]:
    """Each of ``props``' own W+ layers in ``group`` (``vectorfind --layers auto`` stores them; None = all)."""
    return [m.get("layers") for m in direction_metrics(catalog, ds, props, group)]


def load_direction_set(catalog: Catalog, name: str) -> tuple[DirectionSet, list[Direction]]:
    with catalog.read() as s:
        ds = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
        if ds is None:
            names = list(s.scalars(select(DirectionSet.name)))
            raise NotFoundError(f"no direction set named {name!r}",
                                f"Known sets: {', '.join(names) or 'none'} (import with `ohlora vectorfind import-seed`)")
        rows = list(s.scalars(select(Direction).where(Direction.set_id == ds.id)
                              .order_by(Direction.property, Direction.group_name)))
    return ds, rows
