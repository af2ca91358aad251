"""Opening the catalog: pragmas, schema-version check, migrations, locking errors.

The schema is only ever created by the Alembic migrations that ship inside the
package (``ohlora_cli.migrations``), so an installed ohlora can create and
upgrade catalogs on its own.
"""

from __future__ import annotations

import math
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session

from ohlora_cli.errors import CatalogError, CatalogLockedError, SchemaError, UsageError

DEFAULT_BUSY_TIMEOUT_S = 30.0


def migrations_dir() -> Path:
    """The Alembic script directory (inside the installed package, or ``migrations/`` in a checkout)."""
    try:
        import ohlora_cli.migrations as pkg

        return Path(pkg.__file__).parent
    except ImportError:  # running from a source tree that was never installed
        return Path(__file__).resolve().parents[2] / "migrations"


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def known_revisions() -> list[str]:
    """All revisions this ohlora knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head_revision() -> str:
    return known_revisions()[-1]


def busy_timeout() -> float:
    """Seconds a writer waits for another one (``OHLORA_BUSY_TIMEOUT``, default 30)."""
    text = os.environ.get("OHLORA_BUSY_TIMEOUT")
    if text is None:
        return DEFAULT_BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise UsageError(f"OHLORA_BUSY_TIMEOUT={text!r} is not a number of seconds in 0..86400",
                         "Set it to e.g. 30, or unset it")
    return value


def _make_engine(path: Path) -> Engine:
    timeout = busy_timeout()
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _translate(err: Exception, path: Path) -> CatalogError:
    msg = str(err)
    if "locked" in msg or "busy" in msg:
        return CatalogLockedError(
            f"catalog {path} is locked by another writer (waited {busy_timeout():g} s)",
            "Wait for the other ohlora process to finish, or raise OHLORA_BUSY_TIMEOUT")
    if "not a database" in msg or "malformed" in msg:
        return CatalogError(f"{path} is not a readable SQLite catalog ({msg.splitlines()[0]})",
                            "Pass --catalog with an ohlora catalog, or a new file name to create one")
    return CatalogError(f"catalog {path}: {msg.splitlines()[0]}", "Run `ohlora catalog check`")


@dataclass
class Catalog:
    """An open catalog.  Use :meth:`read` / :meth:`write` for sessions (one transaction each)."""

    path: Path
    engine: Engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except (OperationalError, DatabaseError) as err:
            raise _translate(err, self.path) from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        try:
            with Session(self.engine.execution_options(immediate=True), expire_on_commit=False) as session:
                with session.begin():
                    yield session
        except (OperationalError, DatabaseError) as err:
            raise _translate(err, self.path) from None

    def close(self) -> None:
        self.engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The catalog's Alembic revision, or None if it has no ``alembic_version`` table."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def _upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def open_catalog(path: Path | str, *, create: bool = True) -> Catalog:
    """Open ``path``; create it at the head schema if missing (and ``create``); refuse other schemas."""
    path = Path(path)
    if not path.exists() and not create:
        raise CatalogError(f"catalog {path} does not exist", f"Run `ohlora catalog init --catalog {path}`")
    if not path.exists():
        if not path.parent.exists():
            raise CatalogError(f"cannot create catalog {path}: folder {path.parent} does not exist",
                               "Create the folder or pass another --catalog")
    engine = _make_engine(path)
    try:
        rev = schema_revision(engine)
        if rev is None:
            if _has_tables(engine):
                raise CatalogError(f"{path} is a SQLite file but not an ohlora catalog",
                                   "Pass --catalog with an ohlora catalog, or a new file name to create one")
            if not create:
                raise CatalogError(f"catalog {path} is empty", f"Run `ohlora catalog init --catalog {path}`")
            _upgrade(engine)
        else:
            check_revision(rev, path)
    except (OperationalError, DatabaseError, sqlite3.DatabaseError) as err:
        engine.dispose()
        raise _translate(err, path) from None
    except CatalogError:
        engine.dispose()
        raise
    return Catalog(path, engine)


def check_revision(rev: str, path: Path) -> None:
    known = known_revisions()
    if rev == known[-1]:
        return
    if rev in known:
        raise SchemaError(f"catalog {path} has schema revision {rev}; this ohlora needs {known[-1]}",
                          f"Run `ohlora catalog upgrade --catalog {path}`")
    raise SchemaError(f"catalog {path} has schema revision {rev}, newer than this ohlora knows ({known[-1]})",
                      "Upgrade ohlora to open it")


def upgrade_catalog(path: Path | str) -> tuple[str | None, str]:
    """Upgrade an existing catalog to the head revision; returns (from, to)."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalog {path} does not exist", f"Run `ohlora catalog init --catalog {path}`")
    engine = _make_engine(path)
    try:
        before = schema_revision(engine)
        if before is None and _has_tables(engine):
            raise CatalogError(f"{path} is a SQLite file but not an ohlora catalog",
                               "Pass --catalog with an ohlora catalog")
        if before is not None and before not in known_revisions():
            check_revision(before, path)
        _upgrade(engine)
        return before, head_revision()
    except (OperationalError, DatabaseError) as err:
        raise _translate(err, path) from None
    finally:
        engine.dispose()
