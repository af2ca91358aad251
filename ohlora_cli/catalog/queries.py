"""Small, reusable catalog queries and the run bookkeeping every stage shares."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import func, select

from ohlora_cli import __version__
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import (
    Base,
    Generator,
    HandLabel,
    Image,
    Run,
    Selection,
    SelectionMember,
    utcnow,
)
from ohlora_cli.errors import NotFoundError
from ohlora_cli.processes import kill_point, process_gone, this_process


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
    """Record a run (``running``, with its process) and close it as ``done`` on success, ``interrupted``
    on Ctrl-C, or ``failed`` with the error.  Opening a run also marks the ``running`` rows of processes
    gone from this host as ``interrupted`` (a kill leaves no other trace).

    Test hooks (:func:`~ohlora_cli.processes.kill_point`): ``<stage>:started`` right after the run row is
    committed, ``<stage>:stored`` when the body has committed its results and the run is not closed yet.
    """
    me = this_process()
    with catalog.write() as s:
        mark_interrupted(s)
        run = Run(stage=stage, options_json=options_json(options), status="running", version=__version__,
                  pid=me.pid, host=me.host, process_start=me.start)
        s.add(run)
        s.flush()
        run_id = run.id
    kill_point(f"{stage}:started")
    try:
        yield run_id
    except BaseException as err:
        with catalog.write() as s:
            row = s.get(Run, run_id)
            row.status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            row.ended_at = utcnow()
            row.message = f"{type(err).__name__}: {err}"[:2000]
        raise
    kill_point(f"{stage}:stored")
    with catalog.write() as s:
        row = s.get(Run, run_id)
        row.status, row.ended_at = "done", utcnow()


def run_is_gone(run: Run) -> bool | None:
    """Whether a ``running`` row's process has ended (None: cannot tell — another host, or an older
    ohlora that recorded no process)."""
    return process_gone(run.pid, run.host, run.process_start)


def stale_runs(session) -> list[Run]:
    """``running`` rows whose process is gone from this host."""
    return [r for r in session.scalars(select(Run).where(Run.status == "running").order_by(Run.id))
            if run_is_gone(r)]


def close_stale_runs(catalog: Catalog) -> list[int]:
    """Mark the stale ``running`` rows ``interrupted``; writes only when there are some."""
    with catalog.read() as s:
        if not stale_runs(s):
            return []
    with catalog.write() as s:
        return mark_interrupted(s)


def mark_interrupted(session) -> list[int]:
    """Mark the stale ``running`` rows ``interrupted`` (in the caller's write transaction)."""
    ids = []
    for row in stale_runs(session):
        row.status, row.ended_at = "interrupted", utcnow()
        row.message = f"process {row.pid} on {row.host} ended before the run was closed (killed?)"
        ids.append(row.id)
    return ids


def table_counts(catalog: Catalog) -> dict[str, int]:
    with catalog.read() as s:
        return {name: s.scalar(select(func.count()).select_from(table))
                for name, table in Base.metadata.tables.items()}


def labelled_ids(catalog: Catalog, generator_id: int) -> dict[int, dict[str, float]]:
    """Hand labels of a generator's images: image id → {prop: 0/1}."""
    with catalog.read() as s:
        rows = s.execute(select(HandLabel.image_id, HandLabel.property, HandLabel.value)
                         .join(Image, Image.id == HandLabel.image_id).where(Image.generator_id == generator_id)).all()
    out: dict[int, dict[str, float]] = {}
    for i, prop, v in rows:
        out.setdefault(i, {})[prop] = v
    return out


def selection_ids(catalog: Catalog, name: str) -> tuple[Selection, list[int]]:
    """A named selection and its image ids (NotFoundError naming the known ones)."""
    with catalog.read() as s:
        sel = s.scalars(select(Selection).where(Selection.name == name)).first()
        if sel is None:
            known = sorted(s.scalars(select(Selection.name)))
            raise NotFoundError(f"no selection named {name!r}",
                                f"Known: {', '.join(known)}" if known else "Create one with `ohlora filter --name NAME`")
        ids = sorted(s.scalars(select(SelectionMember.image_id).where(SelectionMember.selection_id == sel.id)))
        s.expunge(sel)
    return sel, ids


def generator_by_id(catalog: Catalog, gen_id: int) -> Generator:
    with catalog.read() as s:
        return s.get(Generator, gen_id)
