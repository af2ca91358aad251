"""Many processes, one catalog: ``--shard K/N``, torchrun, ``catalog merge`` — rows equal to one process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import dump
from ohlora_cli.errors import UsageError
from ohlora_cli.shards import Shard, parse_shard, resolve_shard, shard_catalog_path


def content(path: Path) -> dict:
    """What must agree with a single-process catalog: seeds, z, label, w, settings, scores, references."""
    with sqlite3.connect(path) as c:
        return {
            "images": c.execute("select g.name, i.seed, i.label_mode, i.z, i.label, i.w, i.psi, i.trunc_layers, "
                                "i.noise_mode from images i join generators g on g.id = i.generator_id "
                                "order by i.id").fetchall(),
            "scores": c.execute("select i.seed, s.property, s.scorer, s.value from scores s join images i "
                                "on i.id = s.image_id order by 1, 2, 3").fetchall(),
            "references": c.execute("select scorer, property, mean, std, n from normalisations order by 1, 2")
                           .fetchall(),
        }


def test_shards_split_the_seeds_once_each():
    for n in (1, 7, 30, 1001):
        for count in (1, 2, 3, 8):
            parts = [Shard(k, count).seeds(range(5, 5 + n)) for k in range(count)]
            assert [s for p in parts for s in p] == list(range(5, 5 + n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [i for i in range(10) if Shard(1, 3).takes(i)] == [1, 4, 7]
    assert shard_catalog_path(Path("x/ohlora.db"), 1, 4) == Path("x/ohlora.shard-1-of-4.db")


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "a/b", "1", "", "3/2"])
def test_bad_shards_are_refused(text):
    with pytest.raises(UsageError, match=r"is not K/N with 0 <= K < N"):
        parse_shard(text)


def test_torchrun_environment_and_flag():
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert resolve_shard(None, env) == Shard(1, 2, torchrun=True)
    assert resolve_shard("1/2", env) == Shard(1, 2, torchrun=True)
    assert resolve_shard(None, {"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert resolve_shard("0/3", {}) == Shard(0, 3)
    with pytest.raises(UsageError, match="disagrees with torchrun"):
        resolve_shard("0/2", env)


@pytest.mark.parametrize("args, message", [
    (["generate", "--n", "4", "--shard", "2/2"],
     "Error: --shard '2/2' is not K/N with 0 <= K < N. Pass e.g. --shard 0/4 … --shard 3/4"),
    (["score", "--shard", "x"], "Error: --shard 'x' is not K/N with 0 <= K < N. Pass e.g. --shard 0/4 … --shard 3/4"),
    (["catalog", "merge", "nope.db"], "Error: shard catalog nope.db does not exist. Pass the shard files a "
                                      "`--shard` run wrote"),
])
def test_shard_errors_are_one_line(cli, catalog_path, args, message):
    cli("generate", "--n", "3", "--quiet")
    before = dump(catalog_path)
    r = cli(*args, ok=False)
    assert r.exit_code == 1 and r.stderr.splitlines()[-1] == message
    assert dump(catalog_path) == before


def test_merging_the_main_catalog_into_itself_is_refused(cli, catalog_path):
    cli("generate", "--n", "3", "--quiet")
    r = cli("catalog", "merge", str(catalog_path), ok=False)
    assert r.stderr.splitlines()[-1].startswith("Error: ") and "is the main catalog itself" in r.stderr


def test_shards_by_hand_then_merge_equal_one_process_and_merge_twice_adds_nothing(cli, tmp_path):
    single, main = tmp_path / "single.db", tmp_path / "main.db"
    cli("generate", "--n", "25", "--score", "--catalog", single, "--quiet")
    for k in range(3):
        r = cli("generate", "--n", "25", "--score", "--shard", f"{k}/3", "--catalog", main)
        assert r.stdout.startswith(f"shard {k}/3: generated {len(Shard(k, 3).seeds(range(25)))} images")
    shards = [str(shard_catalog_path(main, k, 3)) for k in range(3)]
    first = cli("catalog", "merge", *shards, "--catalog", main).stdout
    assert first.startswith("merged 3 shard catalogs into") and ": 25 new images (0 already there), 300 new scores"\
        in first
    assert content(main) == content(single)
    again = cli("catalog", "merge", *shards, "--catalog", main).stdout
    assert ": 0 new images (25 already there), 0 new scores (300 already there)" in again
    assert content(main) == content(single)
    cli("catalog", "check", "--catalog", main)


def test_score_shards_equal_one_process(cli, tmp_path):
    single, main = tmp_path / "single.db", tmp_path / "main.db"
    for path in (single, main):
        cli("generate", "--n", "20", "--catalog", path, "--quiet")
    cli("score", "--catalog", single, "--quiet")
    for k in range(2):
        cli("score", "--shard", f"{k}/2", "--catalog", main, "--quiet")
    cli("catalog", "merge", *[str(shard_catalog_path(main, k, 2)) for k in range(2)], "--catalog", main)
    assert content(main) == content(single)


def _torchrun(tmp_path, *args, restarts: int = 0) -> subprocess.Popen:
    env = {**os.environ, "OHLORA_MODEL": "tiny", "OHLORA_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", str(restarts), "-m", "ohlora_cli", "--", *args]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_even_with_a_rank_killed_and_restarted(cli, tmp_path):
    """torchrun --nproc-per-node 2 (CPU, one thread each): rank 1 is killed mid-run, torchrun restarts the
    ranks, they finish their shards, rank 0 merges; the catalog equals a single process's."""
    single, main = tmp_path / "single.db", tmp_path / "main.db"
    n = "400"
    cli("generate", "--n", n, "--batch-size", "4", "--catalog", single, "--quiet")
    proc = _torchrun(tmp_path, "generate", "--n", n, "--batch-size", "4", "--catalog", str(main),
                     restarts=1)
    shard1 = shard_catalog_path(main, 1, 2)
    deadline, killed = time.time() + 120, False
    while time.time() < deadline and not killed:
        time.sleep(0.02)
        try:
            with sqlite3.connect(shard1, timeout=1) as c:
                count = c.execute("select count(*) from images").fetchone()[0]
        except sqlite3.Error:
            continue
        if count >= 8:
            for pid in _children(proc.pid):  # the workers torchrun started: kill rank 1
                if b"RANK=1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    os.kill(pid, signal.SIGKILL)
                    killed = True
    assert killed, "rank 1 finished before it could be killed"
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, "\n".join(line for line in err.splitlines() if "Error" in line or "error" in line)
    with sqlite3.connect(shard1) as c:
        assert c.execute("select count(*) from runs where status in ('running', 'interrupted')"
                         ).fetchone()[0] >= 1  # the killed run (marked interrupted by the restarted rank's run)
    assert "merged 2 shard catalogs into" in out
    assert content(main) == content(single)
