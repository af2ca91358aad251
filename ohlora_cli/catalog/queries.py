"""Small, reusable catalog queries and the run bookkeeping every stage shares."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlalchemy import func, select

from ohlora_cli import __version__
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Base, Run, utcnow
from ohlora_cli.catalog.vectors import decode_many


def _jsonable(value: Any) -> Any:
    if is_dataclass(value):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def options_json(options: Any) -> str:
    return json.dumps(_jsonable(options), sort_keys=True)


@contextmanager
def stage_run(catalog: Catalog, stage: str, options: Any) -> Iterator[int]:
    """Record a run (``running``) and close it as ``done``, or ``failed`` with the error, on exit."""
    with catalog.write() as s:
        run = Run(stage=stage, options_json=options_json(options), status="running", version=__version__)
        s.add(run)
        s.flush()
        run_id = run.id
    try:
        yield run_id
    except BaseException as err:
        with catalog.write() as s:
            row = s.get(Run, run_id)
            row.status, row.ended_at = "failed", utcnow()
            row.message = f"{type(err).__name__}: {err}"[:2000]
        raise
    with catalog.write() as s:
        row = s.get(Run, run_id)
        row.status, row.ended_at = "done", utcnow()


def table_counts(catalog: Catalog) -> dict[str, int]:
    with catalog.read() as s:
        return {name: s.scalar(select(func.count()).select_from(table))
                for name, table in Base.metadata.tables.items()}


def stack_vectors(blobs: list[bytes], dim: int) -> np.ndarray:
    return decode_many(blobs, dim)
