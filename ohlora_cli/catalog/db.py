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
from functools import lru_cache
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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


@lru_cache(maxsize=1)
def known_revisions() -> tuple[str, ...]:
    """All revisions this ohlora knows, oldest first (read once per process: parsing them takes 20 ms)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return tuple(rev.revision for rev in reversed(list(script.walk_revisions())))


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


def _make_engine(path: Path, *, readonly: bool = False) -> Engine:
    """A read-write engine (WAL, foreign keys, busy timeout), or with ``readonly`` one that opens the file
    ``mode=ro`` and changes nothing in it (no journal-mode switch)."""
    timeout = busy_timeout()
    if readonly:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout,
                                                                            check_same_thread=False))
    else:
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        if not readonly:
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


def _disk_nearly_full(path: Path) -> bool:
    """SQLite reports a full disk under WAL as a disk I/O error when it cannot grow the -shm file."""
    import shutil

    try:
        return shutil.disk_usage(Path(path).resolve().parent).free < (1 << 20)
    except OSError:
        return False


def _translate(err: Exception, path: Path) -> CatalogError:
    msg = str(err)
    if "locked" in msg or "busy" in msg:
        return CatalogLockedError(
            f"catalog {path} is locked by another writer (waited {busy_timeout():g} s)",
            "Wait for the other ohlora process to finish, or raise OHLORA_BUSY_TIMEOUT")
    if "not a database" in msg or "malformed" in msg:
        return CatalogError(f"{path} is not a readable SQLite catalog ({msg.splitlines()[0]})",
                            "Pass --catalog with an ohlora catalog, or a new file name to create one")
    if "disk is full" in msg or ("disk I/O error" in msg and _disk_nearly_full(path)):
        return CatalogError(f"no space left for catalog {path} (database or disk is full); nothing of this "
                            "transaction was stored", "Free some disk space and run the same command again")
    code = getattr(getattr(err, "orig", err), "sqlite_errorname", None)  # e.g. SQLITE_IOERR_SHMOPEN
    detail = msg.splitlines()[0] + (f", {code}" if code and code not in msg else "")
    return CatalogError(f"catalog {path}: {detail}", "Run `ohlora catalog check`")


@dataclass
class Catalog:
    """An open catalog.  Use :meth:`read` / :meth:`write` for sessions (one transaction each).

    A catalog opened ``readonly`` never changes its file; with ``write_on_demand`` it is reopened
    read-write on its first :meth:`write` (commands that usually only read, such as ``synth``).
    """

    path: Path
    engine: Engine
    readonly: bool = False
    write_on_demand: bool = False

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
        if self.readonly:
            if not self.write_on_demand:
                raise CatalogError(f"catalog {self.path} was opened read-only by a command that should not write",
                                   "This is a bug in ohlora: please report it with the command")
            self.engine.dispose()
            self.engine, self.readonly = _make_engine(self.path), False
        try:
            with Session(self.engine.execution_options(immediate=True), expire_on_commit=False) as session:
                with session.begin():
                    yield session
        except (OperationalError, DatabaseError) as err:
            raise _translate(err, self.path) from None

    def close(self) -> None:
        self.engine.dispose()


def schema_revision(engine: Engine | Connection) -> str | None:
    """The catalog's Alembic revision, or None if it has no ``alembic_version`` table."""
    if isinstance(engine, Engine):
        with engine.connect() as conn:
            return schema_revision(conn)
    if not inspect(engine).has_table("alembic_version"):
        return None
    row = engine.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _has_tables(conn: Engine | Connection) -> bool:
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return _has_tables(c)
    return bool(inspect(conn).get_table_names())


def _upgrade(conn: Connection, revision: str = "head") -> None:
    """Run the migrations on ``conn`` inside its (write-locked) transaction."""
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _create_or_check(engine: Engine, path: Path, create: bool) -> None:
    """Check the schema revision; create the schema if the file is new.  Creating takes the write lock
    first and looks again, so two processes creating one catalog at once both end up opening it: the
    second waits for the first (busy timeout) and then finds the schema there."""
    rev = schema_revision(engine)
    if rev is None:
        if _has_tables(engine):
            raise CatalogError(f"{path} is a SQLite file but not an ohlora catalog",
                               "Pass --catalog with an ohlora catalog, or a new file name to create one")
        if not create:
            raise CatalogError(f"catalog {path} is empty", f"Run `ohlora catalog init --catalog {path}`")
        with engine.execution_options(immediate=True).begin() as conn:
            rev = schema_revision(conn)
            if rev is None:
                if _has_tables(conn):
                    raise CatalogError(f"{path} is a SQLite file but not an ohlora catalog",
                                       "Pass --catalog with an ohlora catalog, or a new file name to create one")
                _upgrade(conn)
                return
    check_revision(rev, path)


def _needs_wal_switch(path: Path) -> bool:
    """Whether opening ``path`` read-write would rewrite its header (an existing SQLite file that is
    not in WAL mode yet: bytes 18-19 of the header are 2 in WAL mode).  Every ohlora catalog is."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head.startswith(b"SQLite format 3\x00") and head[18:20] != b"\x02\x02"


def _look_read_only(path: Path) -> None:
    """The schema check of :func:`open_catalog` on a read-only connection (the file is not changed)."""
    engine = _make_engine(path, readonly=True)
    try:
        rev = schema_revision(engine)
        if rev is None and _has_tables(engine):
            raise CatalogError(f"{path} is a SQLite file but not an ohlora catalog",
                               "Pass --catalog with an ohlora catalog, or a new file name to create one")
        if rev is not None:
            check_revision(rev, path)
    except (OperationalError, DatabaseError, sqlite3.DatabaseError) as err:
        raise _translate(err, path) from None
    finally:
        engine.dispose()


def _check_place(path: Path) -> None:
    """Refuse what SQLite would fail on obscurely, or block on: a folder, a FIFO or device, a path
    under a regular file."""
    if path.is_dir():
        raise CatalogError(f"catalog {path} is a folder, not a file", "Pass --catalog with a file name, e.g. "
                                                                     f"--catalog {path / 'ohlora.db'}")
    if path.exists() and not path.is_file():
        raise CatalogError(f"catalog {path} is not a regular file (a FIFO, socket or device)",
                           "Pass --catalog with an ohlora catalog file")
    if not path.exists() and path.parent.exists() and not path.parent.is_dir():
        raise CatalogError(f"cannot create catalog {path}: {path.parent} is a file, not a folder",
                           "Pass another --catalog")


def open_catalog(path: Path | str, *, create: bool = True, readonly: bool = False,
                 write_on_demand: bool = False) -> Catalog:
    """Open ``path``; create it at the head schema if missing (and ``create``); refuse other schemas.

    ``readonly`` opens an existing catalog without changing its file (``mode=ro``, no journal-mode
    switch); ``write_on_demand`` lets such a catalog switch to read-write on its first write.
    """
    path = Path(path)
    _check_place(path)
    if readonly and not path.exists():
        raise CatalogError(f"catalog {path} does not exist", f"Run `ohlora catalog init --catalog {path}`")
    if not path.exists() and not create:
        raise CatalogError(f"catalog {path} does not exist", f"Run `ohlora catalog init --catalog {path}`")
    if not path.exists():
        if not path.parent.exists():
            raise CatalogError(f"cannot create catalog {path}: folder {path.parent} does not exist",
                               "Create the folder or pass another --catalog")
    if not readonly and _needs_wal_switch(path):
        _look_read_only(path)  # a foreign or newer file is refused before the journal-mode switch changes it
    engine = _make_engine(path, readonly=readonly)
    try:
        _create_or_check(engine, path, create and not readonly)
    except (OperationalError, DatabaseError, sqlite3.DatabaseError) as err:
        engine.dispose()
        raise _translate(err, path) from None
    except CatalogError:
        engine.dispose()
        raise
    return Catalog(path, engine, readonly=readonly, write_on_demand=write_on_demand)


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
        with engine.execution_options(immediate=True).begin() as conn:
            before = schema_revision(conn)  # again, under the write lock
            _upgrade(conn)
        return before, head_revision()
    except (OperationalError, DatabaseError) as err:
        raise _translate(err, path) from None
    finally:
        engine.dispose()
