"""Commands beside busy processes: demo, score, eval and a synth sweep, alone and beside 1 and 3 busy
loops, with ohlora's thread policy and with torch's old defaults, side by side in one run.

    python bench/bench_contention.py              # about 25 minutes on an idle 2-core machine
    python bench/bench_contention.py --quick      # a smoke run of a few minutes
    python bench/bench_contention.py --repeat 3 --work score,synth --policies new,old,one

Each command runs as a subprocess ``python -m ohlora_cli ...`` in a temporary folder with the embedded
64 px generator (OHLORA_MODEL unset, CPU).  A busy loop is a separate process spinning
``while True: pass``.  Policies:

- ``new``: ohlora's default, ``--threads auto`` (README, Threads);
- ``old``: torch's defaults, what ohlora did before: torch imported before ohlora sets anything
  (spinning waits, every core per kernel; renders still run samples in parallel, as in every policy);
- ``one``: ``--threads 1``.

Seconds are whole commands (start-up included), the median of ``--repeat`` runs; a ratio is the time
beside busy loops over the same policy's time alone (goal: ≤ 1.5× beside one, ≤ 3× beside three).
Run it on an otherwise idle machine: the ``others`` column is the mean number of other running tasks
seen just before each run of that column (the busy loops not counted).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# The old behaviour: torch loaded before ohlora could set anything, then the command at the core count.
OLD_ENTRY = "import sys, torch; sys.argv[0] = 'ohlora'; from ohlora_cli.cli import main; main()"
SWEEP = ["--sweep", "eyes=-1.2:1.2:7", "--sweep", "mouth=-1.2:1.2:7", "--sweep", "pose=-1.2:1.2:7"]


@dataclass(frozen=True)
class Work:
    """One timed command; ``catalog`` (a setup catalog's name) is copied to ``run.db`` before each run."""
    name: str
    args: tuple[str, ...]
    catalog: str | None = None


def works(quick: bool) -> dict[str, Work]:
    n, groups, steps, cases, score_n = ("100", "2", "2", "1", "100") if quick else ("400", "4", "20", "4", "1000")
    return {
        "demo": Work("demo", ("demo", "--n", n, "--groups", groups, "--finetune-steps", steps, "--cases", cases,
                              "--out", "demo-out")),
        "score": Work(f"score {score_n}", ("score", "--catalog", "run.db"), "generated.db"),
        "eval": Work("eval", ("eval", "--cases", "2" if quick else "10", "--out", "eval-out", "--catalog", "run.db"),
                     "directions.db"),
        "synth": Work("synth --sweep", ("synth", "--seed", "3", *(SWEEP[:2] if quick else SWEEP), "--out", "sweep.png",
                                        "--catalog", "run.db"), "directions.db"),
    }


def setup_commands(quick: bool) -> dict[str, list[list[str]]]:
    """The catalogs the timed commands start from (made once, not timed)."""
    n = "100" if quick else "1000"
    return {
        "generated.db": [["generate", "--n", n]],
        "directions.db": [["generate", "--n", "200" if quick else "400", "--score"],
                          ["vectorfind", "--groups", "2" if quick else "4"]],
    }


def base_env() -> dict[str, str]:
    """The environment of every run: no thread or OpenMP settings, no catalog or model, the CPU."""
    drop = ("OHLORA_", "OMP_", "GOMP_", "MKL_", "OPENBLAS_", "KMP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(OHLORA_DEVICE="cpu", PYTHONUNBUFFERED="1")
    return env


def command(policy: str, args: tuple[str, ...] | list[str], cores: int) -> tuple[list[str], dict[str, str]]:
    """argv and environment of ``ohlora ARGS`` under ``policy`` (new | old | one)."""
    env = base_env()
    if policy == "new":
        return [sys.executable, "-m", "ohlora_cli", *args], env
    if policy == "one":
        return [sys.executable, "-m", "ohlora_cli", *args], {**env, "OHLORA_THREADS": "1"}
    if policy == "old":
        return [sys.executable, "-c", OLD_ENTRY, *args], {**env, "OHLORA_THREADS": str(cores)}
    raise ValueError(f"unknown policy {policy!r}")


def running_others() -> int:
    """Other tasks running now (``/proc/loadavg`` field 4, less this reader)."""
    try:
        return max(0, int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        return 0


@contextmanager
def busy_loops(k: int) -> Iterator[list[subprocess.Popen]]:
    """``k`` processes spinning on a core each while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]
    try:
        time.sleep(0.3 if k else 0)  # let them start spinning
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return seconds


def measure(folder: Path, work: Work, policy: str, busy: int, cores: int) -> tuple[float, int]:
    """Seconds of one run of ``work`` beside ``busy`` loops, and the other tasks seen just before it."""
    run_dir = folder / f"run-{work.args[0]}-{policy}-{busy}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    if work.catalog is not None:
        shutil.copyfile(folder / work.catalog, run_dir / "run.db")
    argv, env = command(policy, work.args, cores)
    with busy_loops(busy):
        others = max(0, running_others() - busy)
        seconds = timed(argv, env, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return seconds, others


def run_bench(folder: Path, selected: dict[str, Work], policies: list[str], busy: list[int], repeat: int,
              cores: int, setup: dict[str, list[list[str]]] | None = None, log=print) -> dict:
    """{(work, policy, busy): [seconds, ...]} and {(policy, busy): [others, ...]}, runs interleaved so that a
    change in the machine's load spreads over every column."""
    for name, commands in (setup or {}).items():
        if any(w.catalog == name for w in selected.values()):
            for args in commands:
                argv, env = command("one", [*args, "--catalog", name, "--quiet"], cores)
                timed(argv, env, folder)
    times: dict[tuple[str, str, int], list[float]] = {}
    seen: dict[tuple[str, int], list[int]] = {}
    for r in range(repeat):
        for k in busy:
            for key, work in selected.items():
                for policy in policies:
                    seconds, others = measure(folder, work, policy, k, cores)
                    times.setdefault((key, policy, k), []).append(seconds)
                    seen.setdefault((policy, k), []).append(others)
                    log(f"  run {r + 1}/{repeat}: {work.name:<14} {policy:<4} beside {k} busy: {seconds:7.2f} s "
                        f"({others} other tasks running)")
    return {"times": times, "others": seen}


def table(result: dict, selected: dict[str, Work], policies: list[str], busy: list[int]) -> str:
    """One row per command and policy: median seconds alone and beside each busy count, with ratios."""
    times = result["times"]
    head = f"{'command':<14} {'policy':<6} " + " ".join(
        f"{('alone' if k == 0 else f'+{k} busy'):>17}" for k in busy)
    lines = [head]
    for key, work in selected.items():
        for policy in policies:
            cells, alone = [], None
            for k in busy:
                sec = statistics.median(times[(key, policy, k)])
                alone = sec if k == 0 else alone
                cells.append(f"{sec:.2f} s" + (f" ({sec / alone:.2f}x)" if alone and k else ""))
            lines.append(f"{work.name:<14} {policy:<6} " + " ".join(f"{c:>17}" for c in cells))
    others = result["others"]
    lines.append(f"{'others':<14} {'':<6} " + " ".join(
        f"{statistics.mean(v for p in policies for v in others[(p, k)]):>17.1f}" for k in busy))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the table shows the median")
    ap.add_argument("--work", default="demo,score,eval,synth", help="comma list of demo, score, eval, synth")
    ap.add_argument("--policies", default="new,old", help="comma list of new, old, one")
    ap.add_argument("--busy", default="0,1,3", help="busy-loop counts (0 = alone, first)")
    args = ap.parse_args(argv)
    every = works(args.quick)
    selected = {k: every[k] for k in args.work.split(",")}
    policies = args.policies.split(",")
    busy = [int(b) for b in args.busy.split(",")]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"{cores} cores; {running_others()} other tasks running now (run this on an idle machine)")
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        result = run_bench(Path(tmp), selected, policies, busy, args.repeat, cores, setup_commands(args.quick))
    print(f"\nseconds (median of {args.repeat}), ratio to the same policy alone; whole commands, {cores} cores")
    print(table(result, selected, policies, busy))


if __name__ == "__main__":
    main()
