"""Kill -9 every stage at random instants, rerun the same command, and compare with an uninterrupted run.

    python scripts/kill_rerun.py                      # 20 kills per stage, all stages
    python scripts/kill_rerun.py --kills 3 --stages generate,vectorfind

For each stage: its prerequisites are made once (a base catalog), one uninterrupted run from that base is
the reference (and times the stage); then, ``--kills`` times, a copy of the base gets the stage started as
a subprocess and SIGKILLed after a random part of the reference's wall time, the same command is run
again (``finetune`` with ``--resume``), and the trial is clean when the rerun exits 0, ``catalog check``
finds no problem and no run left ``running``, and the result equals the reference: every catalog table
but ``runs`` without timestamps and run ids, the fine-tuned weights, the eval CSVs, the rendered files.
Prints one tally line per stage (``vectorfind: 20/20 clean``), then the failures.
Environment: the tiny generator on the CPU, one thread (``OHLORA_MODEL=tiny OHLORA_DEVICE=cpu``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ENV = {"OHLORA_MODEL": "tiny", "OHLORA_DEVICE": "cpu", "OHLORA_THREADS": "1"}
VOLATILE = {"created_at", "started_at", "ended_at", "run_id"}
SCORED = [["generate", "--n", "64"], ["score", "--scorers", "parser"]]
FINETUNE = ["finetune", "--selection", "all", "--new-d", "--monitor-every", "0", "--out", "child", "--steps", "40",
            "--checkpoint-every", "5", "--log-every", "5"]


@dataclass(frozen=True)
class Stage:
    name: str
    base: list[list[str]]  # commands that make its prerequisites
    command: list[str]
    rerun: list[str]  # extra arguments of the rerun
    files: tuple[str, ...] = ()  # output files (relative to the trial folder) that must equal the reference's
    catalog: bool = True


STAGES = {s.name: s for s in [
    Stage("generate", [], ["generate", "--n", "64", "--batch-size", "8"], []),
    Stage("score", [["generate", "--n", "48"]], ["score", "--scorers", "parser", "--batch-size", "8"], []),
    Stage("vectorfind", SCORED, ["vectorfind", "--groups", "2"], []),
    Stage("filter", SCORED, ["filter", "--name", "some", "--rule", "eyes>=0"], []),
    Stage("finetune", [["generate", "--n", "12"], ["score", "--scorers", "parser"],
                       ["filter", "--name", "all", "--rule", "eyes>=-100"]], FINETUNE, ["--resume"]),
    Stage("eval", SCORED + [["vectorfind", "--groups", "2"]], ["eval", "--cases", "3", "--out", "ev"], [],
          files=("ev/test_result_svm-tiny.csv", "ev/test_statistics.csv")),
    Stage("synthetic", [], ["synthetic", "render", "--n", "600", "--resolution", "32", "--out", "faces"], [],
          catalog=False),
]}
DEFAULT_STAGES = ("generate", "score", "vectorfind", "finetune", "eval", "synthetic")


def ohlora(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "OHLORA_CATALOG": str(cwd / "ohlora.db")}
    r = subprocess.run([sys.executable, "-m", "ohlora_cli", *args, "--quiet"], cwd=cwd, env=env, capture_output=True,
                       text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"ohlora {' '.join(args)} failed in {cwd}:\n{r.stderr}")
    return r


def content(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            if t in ("runs", "alembic_version", "generators", "cnn_models"):
                continue
            cols = ", ".join(f'"{c[1]}"' for c in conn.execute(f'PRAGMA table_info("{t}")') if c[1] not in VOLATILE)
            out[t] = conn.execute(f'SELECT {cols} FROM "{t}" ORDER BY {cols}').fetchall()
        # fine-tunes: same names and parents (their paths, hashes and lineage name the run)
        out["generators"] = conn.execute("SELECT name, kind, parent_id, resolution FROM generators ORDER BY id"
                                         ).fetchall()
        return out
    finally:
        conn.close()


def weights(folder: Path) -> dict:
    from ohlora_cli.models.checkpoints import load_checkpoint

    conn = sqlite3.connect(f"file:{folder / 'ohlora.db'}?mode=ro", uri=True)
    rows = conn.execute("SELECT name, path FROM generators WHERE kind = 'ohlora'").fetchall()
    conn.close()
    return {name: load_checkpoint(path).build_generator().state_dict() for name, path in rows}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[n].keys() == b[n].keys() and all(a[n][k].equal(b[n][k]) for k in a[n])
                                        for n in a)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def problems_after(folder: Path) -> list[str]:
    """``catalog check`` problems and runs still ``running`` (the rerun should have closed the killed one)."""
    from ohlora_cli.catalog.check import check_catalog, run_warnings
    from ohlora_cli.catalog.db import open_catalog

    cat = open_catalog(folder / "ohlora.db", readonly=True)
    try:
        return check_catalog(cat) + run_warnings(cat)
    finally:
        cat.close()


def trial(stage: Stage, base: Path, ref: Path, seconds: float, work: Path, rng: random.Random
          ) -> tuple[str, str, float | None]:
    """One kill and rerun: (outcome, detail, how long a run that finished before its kill took); outcome is
    clean | finished (before the kill; checked too) | FAIL."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work)
    env = {**os.environ, **ENV, "OHLORA_CATALOG": str(work / "ohlora.db")}
    at = rng.uniform(0.0, seconds)
    proc = subprocess.Popen([sys.executable, "-m", "ohlora_cli", *stage.command, "--quiet"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0, took = time.perf_counter(), None
    try:
        proc.wait(timeout=at)
        outcome, took = "finished", time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        outcome = "clean"
    proc.stderr.close()
    where = f"killed at {at:.2f} s" if outcome == "clean" else f"finished before {at:.2f} s"
    rerun = stage.rerun
    if stage.name == "finetune" and not list((work / "runs" / "finetune").glob("*-child")):
        rerun, where = [], where + ", before its run folder existed: rerun without --resume"
    r = ohlora(work, *stage.command, *rerun, check=False)
    if r.returncode != 0:
        return "FAIL", f"{where}: rerun exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}", took
    if stage.catalog:
        found = problems_after(work)
        if found:
            return "FAIL", f"{where}: catalog check: {found[0]}", took
        if content(work / "ohlora.db") != content(ref / "ohlora.db"):
            return "FAIL", f"{where}: the catalog differs from the uninterrupted run's", took
        if stage.name == "finetune" and not same_weights(weights(work), weights(ref)):
            return "FAIL", f"{where}: the fine-tuned weights differ from the uninterrupted run's", took
    for f in stage.files:
        if (work / f).read_bytes() != (ref / f).read_bytes():
            return "FAIL", f"{where}: {f} differs", took
    if not stage.catalog:
        got, want = tree(work / "faces"), tree(ref / "faces")
        if got != want:
            odd = sorted(set(got) ^ set(want)) or [f for f in got if got[f] != want[f]]
            return "FAIL", f"{where}: the rendered files differ ({', '.join(odd[:3])})", took
    return outcome, where, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="kills per stage (default 20)")
    ap.add_argument("--stages", default=",".join(DEFAULT_STAGES),
                    help=f"comma list of {', '.join(STAGES)} (default: {','.join(DEFAULT_STAGES)})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill instants")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    names = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown or args.kills < 1:
        ap.error(f"unknown stage {unknown[0]!r}" if unknown else "--kills must be at least 1")
    root = args.work or Path(tempfile.mkdtemp(prefix="ohlora-kill-"))
    rng = random.Random(args.seed)
    tally, failures = {}, []
    try:
        for name in names:
            stage = STAGES[name]
            base, ref = root / name / "base", root / name / "reference"
            for d in (base, ref):
                shutil.rmtree(d, ignore_errors=True)
            base.mkdir(parents=True)
            for cmd in stage.base:
                ohlora(base, *cmd)
            shutil.copytree(base, ref, dirs_exist_ok=True)
            t0 = time.perf_counter()
            ohlora(ref, *stage.command)
            seconds = whole = time.perf_counter() - t0
            counts = {"clean": 0, "finished": 0, "FAIL": 0}
            for k in range(args.kills):  # instants over the shortest whole run seen (the load may change)
                outcome, detail, took = trial(stage, base, ref, seconds, root / name / "trial", rng)
                seconds = min(seconds, took or seconds)
                counts[outcome] += 1
                print(f"  {name} #{k + 1}: {outcome} ({detail})", file=sys.stderr, flush=True)
                if outcome == "FAIL":
                    failures.append(f"{name} #{k + 1}: {detail}")
            tally[name] = counts
            ok = counts["clean"] + counts["finished"]
            print(f"{name}: {ok}/{args.kills} clean"
                  + (f" ({counts['finished']} finished before their kill)" if counts["finished"] else "")
                  + f"; uninterrupted run {whole:.1f} s", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    for line in failures:
        print(f"FAIL {line}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
