"""``catalog check``: SQLite integrity, foreign keys, every stored vector's length; and warnings for runs
left ``running`` by a killed process (a normal consequence of a kill, so they do not fail the check)."""

from __future__ import annotations

from sqlalchemy import select, text

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Generator,
    Identity,
    Image,
    Run,
)
from ohlora_cli.catalog.queries import run_is_gone

F32 = 4


def check_catalog(catalog: Catalog) -> list[str]:
    """Every problem found, one line each (empty list = healthy)."""
    problems: list[str] = []
    with catalog.read() as s:
        conn = s.connection()
        for (msg,) in conn.execute(text("PRAGMA integrity_check")):
            if msg != "ok":
                problems.append(f"integrity: {msg}")
        for row in conn.execute(text("PRAGMA foreign_key_check")):
            problems.append(f"foreign key: {row[0]} row {row[1]} points to a missing {row[2]}")
        dims = {g.id: (g.name, g.z_dim, g.label_size, g.w_dim) for g in s.scalars(select(Generator))}
        q = select(Image.id, Image.generator_id, Image.z, Image.label, Image.w)
        for image_id, gen_id, z, label, w in s.execute(q):
            if gen_id not in dims:
                continue
            name, z_dim, label_size, w_dim = dims[gen_id]
            if len(z) != z_dim * F32:
                problems.append(f"image {image_id}: z has {len(z)} bytes, expected {z_dim * F32}")
            if len(w) != w_dim * F32:
                problems.append(f"image {image_id}: w has {len(w)} bytes, expected {w_dim * F32}")
            if label_size and (label is None or len(label) != label_size * F32):
                problems.append(f"image {image_id}: label is not {label_size} float32 values ({name} is conditional)")
        set_dims = {d.id: d.w_dim for d in s.scalars(select(DirectionSet))}
        for d_id, set_id, vec in s.execute(select(Direction.id, Direction.set_id, Direction.vector)):
            if set_id in set_dims and len(vec) != set_dims[set_id] * F32:
                problems.append(f"direction {d_id}: vector has {len(vec)} bytes, expected {set_dims[set_id] * F32}")
        for ident in s.scalars(select(Identity)):
            if len(ident.z) != ident.z_dim * F32:
                problems.append(f"identity {ident.name}: z has {len(ident.z)} bytes, expected {ident.z_dim * F32}")
            if ident.label_size and (ident.label is None or len(ident.label) != ident.label_size * F32):
                problems.append(f"identity {ident.name}: label is not {ident.label_size} float32 values")
    return problems


def run_warnings(catalog: Catalog) -> list[str]:
    """One line per run left ``running`` whose process is gone (the next run of any stage marks it
    ``interrupted``), or that records no process to check (an older ohlora).  Rerunning the same command
    finishes or replaces what such a run left."""
    lines = []
    with catalog.read() as s:
        for run in s.scalars(select(Run).where(Run.status == "running").order_by(Run.id)):
            what = f"warning: run {run.id} ({run.stage}, started {run.started_at:%Y-%m-%d %H:%M:%S})"
            gone = run_is_gone(run)
            if gone:
                lines.append(f"{what} was interrupted: its process {run.pid} on {run.host} is gone; "
                             "rerun the same command to finish it")
            elif gone is None and run.pid is None:
                lines.append(f"{what} is marked running but records no process (an older ohlora); "
                             "if no ohlora works on this catalog, it was interrupted")
    return lines
