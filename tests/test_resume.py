"""Kill -9 at the instants that matter, then the same command again: every stage finishes or finds its
finished result, ``catalog check`` is clean, and the catalog equals one uninterrupted run's.

The kill comes from the stage itself (``OHLORA_TEST_KILL_AT=<point>``, :func:`ohlora_cli.processes.kill_point`):
``<stage>:stored`` is right after the stage committed its result rows and before its run row is closed
(the instant that used to leave "already exists" behind); ``generate:batch#2`` after the second batch.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.models import Run
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.processes import process_gone, this_process

VOLATILE = {"created_at", "started_at", "ended_at", "run_id"}
SCORED = (["generate", "--n", "40", "--quiet"], ["score", "--scorers", "parser", "--quiet"])


def killed(cwd: Path, catalog: Path, point: str, *args: str) -> None:
    """``ohlora *args`` in a subprocess that SIGKILLs itself at ``point``; asserts it died there."""
    env = {**os.environ, "OHLORA_MODEL": "tiny", "OHLORA_DEVICE": "cpu", "OHLORA_THREADS": "1",
           "OHLORA_CATALOG": str(catalog), "OHLORA_TEST_KILL_AT": point}
    r = subprocess.run([sys.executable, "-m", "ohlora_cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stdout, r.stderr)


def content(path: Path) -> dict[str, list[tuple]]:
    """Every table but ``runs``, without timestamps and run ids: what a kill and a rerun must not change."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
                  if t not in ("runs", "alembic_version")]
        out = {}
        for t in tables:
            cols = [c[1] for c in conn.execute(f'PRAGMA table_info("{t}")') if c[1] not in VOLATILE]
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[t] = conn.execute(f'SELECT {quoted} FROM "{t}" ORDER BY {quoted}').fetchall()
        return out
    finally:
        conn.close()


def runs(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("select stage, status from runs order by id").fetchall()


def check_is_clean(cli, path: Path) -> None:
    assert cli("catalog", "check", "--catalog", path).stdout == f"catalog {path}: ok\n"


def reference(cli, tmp_path: Path, base: Path | None, *args: str) -> Path:
    """The catalog one uninterrupted run of ``args`` makes from ``base`` (in a folder of its own)."""
    folder = tmp_path / "reference"
    folder.mkdir()
    path = folder / "ohlora.db"
    if base is not None:
        path.write_bytes(base.read_bytes())
    here = os.getcwd()
    os.chdir(folder)  # its output folders too
    try:
        cli(*args, "--catalog", path)
    finally:
        os.chdir(here)
    return path


@pytest.mark.parametrize("point, args, first_line", [
    ("generate:batch#2", ("generate", "--n", "12", "--batch-size", "4"), "generated 4 images"),
    ("generate:stored", ("generate", "--n", "6", "--batch-size", "4", "--score", "--scorers", "parser"),
     "generated 0 images"),  # killed before the references were fitted: the rerun fits them
])
def test_generate(cli, tmp_path, catalog_path, point, args, first_line):
    ref = reference(cli, tmp_path, None, *args, "--quiet")
    killed(tmp_path, catalog_path, point, *args, "--quiet")
    assert runs(catalog_path) == [("generate", "running")]
    r = cli("catalog", "check")
    assert r.stdout.startswith("warning: run 1 (generate, started ") and r.stdout.endswith(
        "rerun the same command to finish it\ncatalog " f"{catalog_path}: ok\n")
    assert "  runs generate/interrupted: 1\n" in cli("catalog", "status").stdout
    assert cli(*args).stdout.startswith(first_line)
    check_is_clean(cli, catalog_path)
    assert content(catalog_path) == content(ref)
    assert runs(catalog_path)[0] == ("generate", "interrupted")


@pytest.mark.parametrize("point", ["score:batch#1", "score:stored"])
def test_score(cli, built_catalog, tmp_path, catalog_path, point):
    base = built_catalog(["generate", "--n", "12", "--quiet"])
    args = ("score", "--scorers", "parser", "--batch-size", "4")
    ref = reference(cli, tmp_path, base, *args, "--quiet")
    killed(tmp_path, catalog_path, point, *args, "--quiet")
    r = cli(*args)
    assert r.stdout.startswith("scored 8 images" if point == "score:batch#1" else "scored 0 images")
    assert "stored the normalisation reference of parser-synthetic/fixed: mean and std of the 12 images of " \
           "generator tiny scored so far" in r.stderr
    check_is_clean(cli, catalog_path)
    assert content(catalog_path) == content(ref)


def test_vectorfind(cli, built_catalog, tmp_path, catalog_path):
    base = built_catalog(*SCORED)
    args = ("vectorfind", "--groups", "2")
    ref = reference(cli, tmp_path, base, *args, "--quiet")
    killed(tmp_path, catalog_path, "vectorfind:stored", *args, "--quiet")
    r = cli(*args)  # the set was stored, its calibration had not begun: the rerun calibrates it
    first, second = r.stdout.splitlines()
    assert first == "direction set svm-tiny already holds these 6 directions (svm, the same options and 40 samples)"
    assert second.startswith("calibrated 6 directions on 208 images in ")
    check_is_clean(cli, catalog_path)
    assert content(catalog_path) == content(ref)
    assert cli(*args).stdout == ("direction set svm-tiny already holds these 6 directions (svm, the same options and "
                                 "40 samples); nothing to do\n")
    cli("vectorfind", "--groups", "2", "--name", "c", "--no-calibrate", "--quiet")
    killed(tmp_path, catalog_path, "calibrate:group#1", "vectorfind", "calibrate", "c", "--quiet")
    assert cli("vectorfind", "calibrate", "c").stdout.startswith("calibrated 3 directions on 104 images in ")
    r = cli(*args, "--ratio", "0.3", ok=False)  # other options under the same name: refused, naming the fix
    assert r.exit_code == 1 and r.stderr == (
        "Error: a direction set named 'svm-tiny' already exists, made with other options (ratio 0.2 stored, 0.3 "
        "now). Pass another --name, or --replace to overwrite it\n")


def test_filter(cli, built_catalog, tmp_path, catalog_path):
    base = built_catalog(*SCORED)
    args = ("filter", "--name", "some", "--rule", "eyes>=0")
    ref = reference(cli, tmp_path, base, *args, "--quiet")
    killed(tmp_path, catalog_path, "filter:stored", *args, "--quiet")
    r = cli(*args)
    assert r.stdout.endswith("(same rules); nothing changed\n") and "selection some already holds these" in r.stdout
    check_is_clean(cli, catalog_path)
    assert content(catalog_path) == content(ref)


def test_eval(cli, built_catalog, tmp_path, catalog_path):
    base = built_catalog(*SCORED, ["vectorfind", "--groups", "2", "--quiet"])
    args = ("eval", "--cases", "2", "--out", "ev")
    ref = reference(cli, tmp_path, base, *args, "--quiet")
    killed(tmp_path, catalog_path, "eval:stored", *args, "--quiet")
    with sqlite3.connect(catalog_path) as conn:
        assert conn.execute("select count(*) from evaluations").fetchone() == (1,)  # stored, run not closed
    r = cli(*args)
    assert r.stderr == "replaced 1 earlier evaluation(s) with the same options (this rerun recomputed them)\n"
    check_is_clean(cli, catalog_path)
    assert content(catalog_path) == content(ref)  # one evaluation, not two
    for name in ("test_result_svm-tiny.csv", "test_statistics.csv"):
        assert (tmp_path / "ev" / name).read_bytes() == (tmp_path / "reference" / "ev" / name).read_bytes()


FT = ("finetune", "--selection", "all", "--new-d", "--monitor-every", "0", "--out", "child", "--steps", "4",
      "--checkpoint-every", "2", "--log-every", "1")


def _weights(path: Path) -> dict:
    from ohlora_cli.models.checkpoints import load_checkpoint

    return load_checkpoint(path).build_generator().state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("point", [
    "train:checkpoint#1",  # killed after the step-2 checkpoint: --resume finishes it
    "finetune:stored",  # killed after the generator and its lineage were registered: both reruns find it
])
def test_finetune(cli, built_catalog, tmp_path, catalog_path, point):
    base = built_catalog(["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                         ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])
    ref = reference(cli, tmp_path, base, *FT, "--quiet")
    killed(tmp_path, catalog_path, point, *FT, "--quiet")
    r = cli(*FT, "--resume", "--quiet")
    if point == "finetune:stored":
        found = (f"generator child already exists, fine-tuned with the same options for 4 steps (run folder "
                 f"{tmp_path / 'runs' / 'finetune' / '00000-child'}); nothing to do\n")
        assert r.stdout == found and cli(*FT, "--quiet").stdout == found  # with and without --resume
    check_is_clean(cli, catalog_path)
    with sqlite3.connect(catalog_path) as conn:
        (path, lineage), = conn.execute("select path, lineage_json from generators where name = 'child'")
    assert json.loads(lineage)["steps"] == 4
    got, want = _weights(Path(path)), _weights(ref.parent / "runs" / "finetune" / "00000-child" / "generator.pt")
    assert got.keys() == want.keys() and all(got[k].equal(want[k]) for k in got)  # bit-identical weights
    r = cli(*FT[:-6], "--steps", "5", "--checkpoint-every", "2", "--log-every", "1", ok=False)
    assert r.stderr.splitlines()[-1] == ("Error: a generator named 'child' already exists, fine-tuned with other "
                                         "options (steps 4 stored, 5 now). Pass another --out")


def test_finetune_registered_without_lineage_by_an_older_ohlora_is_finished(cli, built_catalog, catalog_path):
    """An older ohlora registered the generator and wrote its lineage in two transactions; a kill between
    them left a row no rerun could finish.  Now ``--resume`` finishes it (and writes the lineage)."""
    built_catalog(["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                  ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])
    args = ("finetune", "--selection", "all", "--new-d", "--monitor-every", "0", "--out", "old", "--steps", "1",
            "--quiet")
    cli(*args)
    with sqlite3.connect(catalog_path) as conn:
        conn.execute("update generators set lineage_json = NULL where name = 'old'")
    cli(*args, "--resume")
    with sqlite3.connect(catalog_path) as conn:
        (lineage,), = conn.execute("select lineage_json from generators where name = 'old'")
    assert json.loads(lineage)["steps"] == 1
    assert cli(*args).stdout.endswith("; nothing to do\n")


def test_label_train(cli, tmp_path, catalog_path):
    cli("generate", "--n", "12", "--quiet")
    (tmp_path / "labels.csv").write_text("image,gender,quality,age,glass\n" + "".join(
        f"{i},{i % 2},{(i // 2) % 2},{(i // 3) % 2},{(i // 4) % 2}\n" for i in range(1, 13)))
    cli("label", "import", tmp_path / "labels.csv", "--quiet")
    args = ("label", "train", "--name", "mine", "--props", "gender,quality", "--folds", "2", "--epochs", "2",
            "--patience", "1", "--width", "0.25")
    ref = reference(cli, tmp_path, catalog_path, *args, "--quiet")
    killed(tmp_path, catalog_path, "label-train:model#1", *args, "--quiet")  # gender registered, quality not
    r = cli(*args)
    assert ("kept the gender model trained before with the same options "
            f"({tmp_path / 'cnns' / 'mine-cnn-gender.pt'})") in r.stderr.splitlines()
    assert sum(line.startswith(("gender", "quality")) for line in r.stdout.splitlines()) == 4
    check_is_clean(cli, catalog_path)
    # the files' paths differ, and so do their zip bytes (torch.save names the archive after the temp file)
    strip = lambda rows: [r[:3] + r[5:] for r in rows]  # noqa: E731
    assert strip(content(catalog_path)["cnn_models"]) == strip(content(ref)["cnn_models"])
    assert cli(*args).stderr.count("kept the") == 2  # a third run: both kept, nothing trained


def test_synthetic_render(cli, tmp_path):
    args = ("synthetic", "render", "--n", "5", "--resolution", "32")
    cli(*args, "--out", "whole", "--quiet")
    killed(tmp_path, tmp_path / "unused.db", "synthetic:batch#1", *args, "--out", "faces", "--quiet")
    assert not (tmp_path / "faces" / "attributes.csv").exists()
    cli(*args, "--out", "faces", "--quiet")
    files = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "faces") for p in (tmp_path / "faces").rglob("*") if p.is_file())
    assert all((tmp_path / "faces" / f).read_bytes() == (tmp_path / "whole" / f).read_bytes() for f in files)


# ---------------------------------------------------------------- run rows


def test_run_rows_record_their_process_and_how_they_ended(catalog_path):
    cat = open_catalog(catalog_path)
    me = this_process()
    with stage_run(cat, "a", {}):
        pass
    with pytest.raises(KeyboardInterrupt), stage_run(cat, "b", {}):
        raise KeyboardInterrupt  # Ctrl-C
    with pytest.raises(ValueError), stage_run(cat, "c", {}):
        raise ValueError("bad")
    with cat.read() as s:
        rows = [(r.stage, r.status, r.pid, r.host, r.process_start, r.message) for r in s.query(Run).order_by(Run.id)]
    assert rows == [("a", "done", me.pid, me.host, me.start, None),
                    ("b", "interrupted", me.pid, me.host, me.start, "KeyboardInterrupt: "),
                    ("c", "failed", me.pid, me.host, me.start, "ValueError: bad")]
    cat.close()


def test_a_later_run_marks_only_runs_whose_process_is_gone(catalog_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that has ended
    me = this_process()
    cat = open_catalog(catalog_path)
    with cat.write() as s:
        for pid, host, start in [(child.pid, me.host, None), (me.pid, me.host, me.start),
                                 (me.pid, me.host, me.start + "0" if me.start else "x"),  # a reused pid
                                 (child.pid, "another-host", None), (None, None, None)]:  # unknown: left alone
            s.add(Run(stage="generate", options_json="{}", status="running", version="0", pid=pid, host=host,
                      process_start=start))
    with stage_run(cat, "score", {}):
        pass
    with cat.read() as s:
        assert [r.status for r in s.query(Run).order_by(Run.id)] == [
            "interrupted", "running", "interrupted", "running", "running", "done"]
    cat.close()


def test_process_identity():
    me = this_process()
    assert process_gone(me.pid, me.host, me.start) is False
    assert process_gone(me.pid, "another-host", me.start) is None
    assert process_gone(None, None, None) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_gone(child.pid, me.host, None) is True


def test_temporary_files_of_killed_writers_are_swept(tmp_path):
    """A kill -9 during a write leaves ``.<name>.<pid>@<host>.*.tmp``; the next write into that folder
    removes those of processes that are gone (and keeps a live writer's)."""
    import socket

    from ohlora_cli.files import write_text_atomic

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname().replace(".", "_")
    dead = tmp_path / f".a.png.{child.pid}@{host}.x1y2.tmp"
    live = tmp_path / f".b.png.{os.getpid()}@{host}.z3w4.tmp"
    other = tmp_path / f".c.png.{child.pid}@another-host.q5r6.tmp"
    for p in (dead, live, other):
        p.write_bytes(b"half a file")
    write_text_atomic(tmp_path / "out.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "out.txt"])
