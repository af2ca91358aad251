"""The catalog: blobs, pragmas, schema checks, golden upgrades, locking, check/status."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from conftest import dump
from ohlora_cli.catalog.db import head_revision, known_revisions, open_catalog
from ohlora_cli.catalog.vectors import decode, decode_many, encode
from ohlora_cli.errors import CatalogError

GOLDEN = Path(__file__).parent / "golden"


def test_vector_blobs_roundtrip_and_check_length():
    v = np.random.default_rng(0).standard_normal(519).astype(np.float32)
    blob = encode(v, 519)
    assert len(blob) == 519 * 4 and blob[:4] == v[:1].astype("<f4").tobytes()
    assert np.array_equal(decode(blob, 519), v)
    assert np.array_equal(decode_many([blob, blob], 519), np.stack([v, v]))
    with pytest.raises(ValueError, match="expected a vector of 512 values"):
        encode(v, 512)
    with pytest.raises(CatalogError, match="stored vector has 2076 bytes, expected 512 float32 values"):
        decode(blob, 512)


def test_new_catalog_is_at_head_with_pragmas(catalog_path):
    cat = open_catalog(catalog_path)
    with cat.read() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert s.execute(text("select version_num from alembic_version")).scalar() == head_revision()


def test_uniqueness_that_resume_relies_on_is_a_constraint(cli, catalog_path):
    cli("generate", "--n", "2")
    conn = sqlite3.connect(catalog_path)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("insert into images (generator_id, seed, label_mode, z, w, psi, trunc_layers, noise_mode,"
                     " created_at) select generator_id, seed, label_mode, z, w, psi, trunc_layers, noise_mode,"
                     " created_at from images limit 1")
    conn.execute("insert into scores (image_id, property, value, scorer) values (1, 'eyes', 0.5, 'x')")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("insert into scores (image_id, property, value, scorer) values (1, 'eyes', 0.7, 'x')")


@pytest.mark.parametrize("rev", known_revisions())
def test_golden_catalog_of_every_revision_upgrades(rev, tmp_path, cli):
    path = tmp_path / "old.db"
    shutil.copy(GOLDEN / f"catalog-{rev}.db", path)
    if rev != head_revision():
        r = cli("catalog", "status", "--catalog", path, ok=False)
        assert r.exit_code == 1
        assert r.stderr == (f"Error: catalog {path} has schema revision {rev}; this ohlora needs {head_revision()}. "
                            f"Run `ohlora catalog upgrade --catalog {path}`\n")
        before = dump(path)
        r = cli("generate", "--n", "1", "--catalog", path, ok=False)
        assert r.exit_code == 1 and dump(path) == before
        assert cli("catalog", "upgrade", "--catalog", path).stdout == \
            f"upgraded catalog {path} from schema revision {rev} to {head_revision()}\n"
    else:
        assert cli("catalog", "upgrade", "--catalog", path).stdout == \
            f"catalog {path} is already at schema revision {rev}\n"
    out = cli("catalog", "status", "--catalog", path).stdout
    assert "images of golden (labels random): 3" in out
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from images").fetchone() == (3,)
        assert conn.execute("select version_num from alembic_version").fetchone() == (head_revision(),)


def test_catalog_from_the_future_is_refused(tmp_path, cli):
    path = tmp_path / "future.db"
    shutil.copy(GOLDEN / f"catalog-{head_revision()}.db", path)
    with sqlite3.connect(path) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    before = dump(path)
    r = cli("generate", "--n", "2", "--catalog", path, ok=False)
    assert r.exit_code == 1
    assert r.stderr == (f"Error: catalog {path} has schema revision 9999, newer than this ohlora knows "
                        f"({head_revision()}). Upgrade ohlora to open it\n")
    assert cli("catalog", "upgrade", "--catalog", path, ok=False).exit_code == 1
    assert dump(path) == before


def test_foreign_files_are_refused(tmp_path, cli):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table t (x)")
    r = cli("catalog", "status", "--catalog", other, ok=False)
    assert r.stderr == (f"Error: {other} is a SQLite file but not an ohlora catalog. "
                        "Pass --catalog with an ohlora catalog, or a new file name to create one\n")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    r = cli("catalog", "status", "--catalog", junk, ok=False)
    assert r.exit_code == 1 and r.stderr.startswith(f"Error: {junk} is not a readable SQLite catalog")
    r = cli("catalog", "status", "--catalog", tmp_path / "none.db", ok=False)
    assert r.stderr == (f"Error: catalog {tmp_path / 'none.db'} does not exist. "
                        f"Run `ohlora catalog init --catalog {tmp_path / 'none.db'}`\n")
    r = cli("generate", "--n", "1", "--catalog", tmp_path / "no" / "such" / "dir.db", ok=False)
    assert r.stderr.startswith(f"Error: cannot create catalog {tmp_path / 'no/such/dir.db'}: folder")


def test_locked_catalog_waits_then_errors(cli, catalog_path, monkeypatch):
    cli("catalog", "init")
    holder = sqlite3.connect(catalog_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        before_rows = holder.execute("select count(*) from images").fetchone()
        monkeypatch.setenv("OHLORA_BUSY_TIMEOUT", "0.3")
        r = cli("generate", "--n", "2", ok=False)
        assert r.exit_code == 1
        assert r.stderr == (f"Error: catalog {catalog_path} is locked by another writer (waited 0.3 s). "
                            "Wait for the other ohlora process to finish, or raise OHLORA_BUSY_TIMEOUT\n")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sqlite3.connect(catalog_path).execute("select count(*) from images").fetchone() == before_rows


def test_check_finds_damaged_vectors(cli, catalog_path):
    cli("generate", "--n", "3")
    assert cli("catalog", "check").stdout == f"catalog {catalog_path}: ok\n"
    with sqlite3.connect(catalog_path) as conn:
        conn.execute("update images set w = substr(w, 1, 100) where seed = 1")
        image_id = conn.execute("select id from images where seed = 1").fetchone()[0]
    r = cli("catalog", "check", ok=False)
    assert r.exit_code == 1
    assert r.stdout == f"image {image_id}: w has 100 bytes, expected 2048\n"
    assert r.stderr == f"Error: catalog {catalog_path} has 1 problem(s). See the lines above\n"


def test_status_counts(cli):
    cli("generate", "--n", "3")
    out = cli("catalog", "status").stdout
    assert f"  {'images':<17} {3:>9}\n" in out
    assert "images of tiny (labels random): 3" in out and "runs generate/done: 1" in out


def test_init_is_idempotent(cli, catalog_path):
    assert cli("catalog", "init").stdout == f"catalog {catalog_path} at schema revision {head_revision()}\n"
    assert cli("catalog", "init").stdout == f"catalog {catalog_path} at schema revision {head_revision()}\n"


def test_example_catalog_is_current_and_usable(cli, tmp_path):
    shutil.copy(GOLDEN.parents[1] / "ohlora.db.example", tmp_path / "ex.db")
    out = cli("catalog", "status", "--catalog", "ex.db").stdout
    assert "images of tiny (labels random): 50" in out
    assert f"  {'directions':<17} {48:>9}\n" in out and f"  {'identities':<17} {19:>9}\n" in out
    cli("catalog", "check", "--catalog", "ex.db")
    r = cli("synth", "--catalog", "ex.db", "--identity", "seed-v8-83", "--directions", "seed-v8", "--eyes", "1",
            "--out", "x.png")
    assert "directions seed-v8/lhlh" in r.stdout
