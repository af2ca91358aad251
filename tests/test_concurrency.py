"""Several ohlora processes on one catalog: two generates, two scores, score beside generate, two processes
creating one new catalog; and read-only commands that leave the catalog file as it is, byte for byte.

To make two processes race for certain, the test holds the catalog's write lock while both start; they
open the catalog, wait for the lock (busy timeout), and are let go together once both have it open.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from contextlib import closing

import numpy as np
import pytest
from conftest import ROOT

ENV = {"OHLORA_MODEL": "tiny", "OHLORA_DEVICE": "cpu", "OHLORA_THREADS": "1"}
pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to see open files")


def start(cwd: Path, catalog: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, **ENV, "OHLORA_CATALOG": str(catalog)}
    return subprocess.Popen([sys.executable, "-m", "ohlora_cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


def together(catalog: Path, *procs: subprocess.Popen) -> list[tuple[int, str, str]]:
    """Hold the write lock until every process has the catalog open, then let them all go; their results."""
    holder = sqlite3.connect(catalog, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        deadline = time.time() + 300
        while not all(has_open(p.pid, catalog.resolve()) for p in procs):
            assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append((p.returncode, stdout, stderr))
    return out


def images(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as c:
        return c.execute("select seed, label_mode, z, label, w, psi, trunc_layers, noise_mode from images "
                         "order by seed").fetchall()


def scores(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as c:
        return c.execute("select i.seed, s.property, s.scorer, s.value from scores s join images i "
                         "on i.id = s.image_id order by 1, 2, 3").fetchall()


def references(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as c:
        return c.execute("select scorer, property, mean, std, n, reference from normalisations order by 1, 2"
                         ).fetchall()


def new_count(stdout: str, word: str) -> int:
    first = stdout.split()
    assert first[0] == word, stdout
    return int(first[1])


def test_two_generates_at_once_store_the_union_once(cli, tmp_path, catalog_path):
    cli("catalog", "init")
    a = start(tmp_path, catalog_path, "generate", "--n", "300", "--batch-size", "8")
    b = start(tmp_path, catalog_path, "generate", "--n", "200", "--seed-start", "100", "--batch-size", "8")
    (ra, oa, ea), (rb, ob, eb) = together(catalog_path, a, b)
    assert (ra, rb) == (0, 0), (ea, eb)
    assert "Error" not in ea + eb
    assert new_count(oa, "generated") + new_count(ob, "generated") == 300  # each new seed counted once
    cli("generate", "--n", "300", "--catalog", tmp_path / "one.db", "--quiet")
    assert images(catalog_path) == images(tmp_path / "one.db")  # seeds 0..299 once, the same z / w
    cli("catalog", "check")


def test_two_scores_at_once_score_each_image_once(cli, built_catalog, tmp_path, catalog_path):
    path = built_catalog(["generate", "--n", "48", "--quiet"])
    shutil.copyfile(path, tmp_path / "one.db")
    args = ("score", "--scorers", "parser", "--batch-size", "4")
    (ra, oa, ea), (rb, ob, eb) = together(catalog_path, start(tmp_path, catalog_path, *args),
                                          start(tmp_path, catalog_path, *args))
    assert (ra, rb) == (0, 0), (ea, eb)
    assert new_count(oa, "scored") + new_count(ob, "scored") == 48
    assert (ea + eb).count("stored the normalisation reference") == 1  # fitted once, by one of them
    cli(*args, "--catalog", tmp_path / "one.db", "--quiet")
    assert scores(catalog_path) == scores(tmp_path / "one.db")
    assert references(catalog_path) == references(tmp_path / "one.db")
    cli("catalog", "check")


def test_later_images_are_scored_against_the_stored_reference(cli, catalog_path):
    """The defined behaviour of `score` beside `generate`: the reference is fitted once, on the images
    scored by then (the output says which), and images scored later are normalised with it."""
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.catalog.scores import score_matrix

    cli("generate", "--n", "10", "--quiet")
    r = cli("score", "--scorers", "parser")
    assert r.stderr == ("stored the normalisation reference of parser-synthetic/fixed: mean and std of the 10 "
                        "images of generator tiny scored so far; images scored later are normalised with it\n")
    before = references(catalog_path)
    cli("generate", "--n", "6", "--seed-start", "10", "--quiet")
    r = cli("score", "--scorers", "parser")
    assert r.stdout.startswith("scored 6 images")
    assert r.stderr == ("10 images already had parser-synthetic/fixed scores\n"
                        "parser-synthetic/fixed values are normalised with its reference fitted earlier on 10 images "
                        "of generator tiny\n")
    assert references(catalog_path) == before and before[0][4] == 10
    cat = open_catalog(catalog_path)
    ids, raw = score_matrix(cat, "parser-synthetic/fixed", ["eyes"], generator_id=1, normalised=False)
    _, normed = score_matrix(cat, "parser-synthetic/fixed", ["eyes"], generator_id=1)
    cat.close()
    mean, std = next((m, s) for scorer, p, m, s, *_ in before if p == "eyes")
    assert len(ids) == 16 and np.allclose(normed[:, 0], (raw[:, 0] - mean) / std)


def test_score_beside_generate(cli, tmp_path, catalog_path):
    cli("catalog", "init")
    gen = start(tmp_path, catalog_path, "generate", "--n", "160", "--batch-size", "8")
    deadline = time.time() + 300
    while gen.poll() is None and time.time() < deadline:  # until some images are there
        with closing(sqlite3.connect(catalog_path, timeout=30)) as c:
            if c.execute("select count(*) from images").fetchone()[0] >= 16:
                break
        time.sleep(0.05)
    first = cli("score", "--scorers", "parser")
    assert gen.wait(timeout=600) == 0, gen.communicate()
    fitted_on = new_count(first.stdout, "scored")
    assert (f"stored the normalisation reference of parser-synthetic/fixed: mean and std of the {fitted_on} images "
            "of generator tiny scored so far") in first.stderr
    cli("score", "--scorers", "parser", "--quiet")  # the images generate added after the first score began
    from ohlora_cli.properties.algorithms import PROPERTY_NAMES

    assert len(scores(catalog_path)) == 160 * len(PROPERTY_NAMES)  # every image scored, once
    assert {r[4] for r in references(catalog_path)} == {fitted_on}
    cli("catalog", "check")


READY = """
import sys
from pathlib import Path
from ohlora_cli.catalog.db import open_catalog
Path(sys.argv[2]).touch()
while not Path(sys.argv[3]).exists():
    pass
open_catalog(sys.argv[1]).close()
print("opened")
"""


def test_processes_creating_one_new_catalog_all_open_it(tmp_path):
    path, go = tmp_path / "new.db", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", READY, str(path), str(tmp_path / f"ready{k}"), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(3)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{k}").exists() for k in range(3)):  # all imported, waiting at the line
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [r[0] for r in results] == ["opened\n"] * 3, results
    from ohlora_cli.catalog.db import head_revision

    with closing(sqlite3.connect(path)) as c:
        assert c.execute("select version_num from alembic_version").fetchall() == [(head_revision(),)]


# ---------------------------------------------------------------- read-only commands


READ_ONLY = [
    ("catalog", "status"),
    ("catalog", "check"),
    ("model", "list"),
    ("identity", "list"),
    ("vectorfind", "list"),
    ("vectorfind", "export", "seed-v8", "--out", "dirs"),
    ("synth", "--identity", "seed-v8-83", "--directions", "seed-v8", "--eyes", "1", "--out", "x.png"),
]


@pytest.fixture
def example(tmp_path) -> Path:
    """A fresh copy of ohlora.db.example (rollback journal, as it is tracked)."""
    path = tmp_path / "ex.db"
    shutil.copyfile(ROOT / "ohlora.db.example", path)
    return path


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_leave_the_example_catalog_as_it_is(cli, example, args):
    before = example.read_bytes(), example.stat().st_mtime_ns
    cli(*args, "--catalog", example)
    assert (example.read_bytes(), example.stat().st_mtime_ns) == before
    assert not Path(f"{example}-wal").exists() and not Path(f"{example}-shm").exists()


@pytest.mark.parametrize("args", [a for a in READ_ONLY if "seed-v8" not in a]
                         + [("synth", "--seed", "3", "--out", "y.png")], ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_leave_a_generated_catalog_as_it_is(cli, built_catalog, catalog_path, args):
    built_catalog(["generate", "--n", "4", "--quiet"])
    before = catalog_path.read_bytes(), catalog_path.stat().st_mtime_ns
    cli(*args)
    assert (catalog_path.read_bytes(), catalog_path.stat().st_mtime_ns) == before


def test_ohlora_db_example_is_not_touched_in_place(cli):
    """The tracked file itself, opened where it lies (the command the issue ran)."""
    path = ROOT / "ohlora.db.example"
    before = path.read_bytes(), path.stat().st_mtime_ns
    cli("catalog", "status", "--catalog", path)
    cli("catalog", "check", "--catalog", path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_command_that_must_write_is_refused_on_a_read_only_open(catalog_path):
    from sqlalchemy import text

    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.errors import CatalogError

    open_catalog(catalog_path).close()
    cat = open_catalog(catalog_path, readonly=True)
    with pytest.raises(CatalogError, match="was opened read-only by a command that should not write"):
        with cat.write():
            pass
    cat.close()
    lazy = open_catalog(catalog_path, readonly=True, write_on_demand=True)
    with lazy.write() as s:  # reopened read-write on its first write
        s.execute(text("create table extra (x)"))
    assert not lazy.readonly
    lazy.close()
