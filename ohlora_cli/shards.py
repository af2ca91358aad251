"""Many processes, one catalog: which part of the work a process does, and where it writes it.

SQLite takes one writer at a time, so each worker writes a **shard catalog** of its own next to the
main one (``ohlora.db`` → ``ohlora.shard-1-of-4.db``), and ``ohlora catalog merge`` brings the shards
into the main catalog (idempotently: every seed is stored once however often it runs).

A worker learns its part from ``--shard K/N`` (machines launched by hand or by a scheduler) or from
torchrun's RANK / WORLD_SIZE (``torchrun --nproc-per-node N -m ohlora_cli -- generate …``); under
torchrun, each rank leaves a marker when its shard is done, and rank 0 waits for all markers and merges.  Parts are deterministic: seeds in contiguous
blocks, catalog images by id modulo N, so a restarted worker redoes only what its shard lacks.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ohlora_cli.errors import UsageError
from ohlora_cli.files import write_text_atomic

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int  # 0 .. count - 1
    count: int
    torchrun: bool = False  # launched by torchrun: rank 0 merges once every rank is done

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def seeds(self, seeds: range) -> range:
        """This shard's contiguous block of ``seeds`` (blocks differ in length by at most one)."""
        n = len(seeds)
        lo, hi = self.index * n // self.count, (self.index + 1) * n // self.count
        return range(seeds.start + lo, seeds.start + hi)

    def takes(self, image_id: int) -> bool:
        """Whether an existing catalog image is this shard's to work on."""
        return image_id % self.count == self.index

    def catalog_path(self, main: Path) -> Path:
        return shard_catalog_path(main, self.index, self.count)


def shard_catalog_path(main: Path, index: int, count: int) -> Path:
    main = Path(main)
    return main.with_name(f"{main.stem}.shard-{index}-of-{count}{main.suffix or '.db'}")


def shard_catalogs(main: Path, count: int) -> list[Path]:
    return [shard_catalog_path(main, k, count) for k in range(count)]


def parse_shard(text: str) -> Shard:
    m = SHARD.match(text or "")
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise UsageError(f"--shard {text!r} is not K/N with 0 <= K < N", "Pass e.g. --shard 0/4 … --shard 3/4")
    return Shard(int(m[1]), int(m[2]))


def shard_from_env(environ=os.environ) -> Shard | None:
    """torchrun's RANK / WORLD_SIZE as a shard, or None when not launched by torchrun (or alone)."""
    rank, world = environ.get("RANK"), environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    if not (rank.isdigit() and world.isdigit()) or int(world) < 1 or int(rank) >= int(world):
        raise UsageError(f"RANK={rank} WORLD_SIZE={world} do not name a worker", "Launch with torchrun --nproc-per-node N")
    if int(world) == 1:
        return None
    return Shard(int(rank), int(world), torchrun=True)


def resolve_shard(flag: str | None, environ=os.environ) -> Shard | None:
    """``--shard`` when given, else torchrun's rank; the two must agree when both are there."""
    env = shard_from_env(environ)
    if flag is None:
        return env
    shard = parse_shard(flag)
    if env is not None and (env.index, env.count) != (shard.index, shard.count):
        raise UsageError(f"--shard {flag} disagrees with torchrun's RANK={env.index} WORLD_SIZE={env.count}",
                         "Drop --shard under torchrun")
    return Shard(shard.index, shard.count, torchrun=env is not None)


def done_marker(main: Path, shard: Shard) -> Path:
    return shard.catalog_path(main).with_suffix(".done")


def mark_done(main: Path, shard: Shard, job: str) -> None:
    """Record that this shard finished ``job`` (its stage and options): rank 0 waits for every marker."""
    write_text_atomic(done_marker(main, shard), job)


def wait_for_all(main: Path, shard: Shard, job: str, *, poll: float = 0.2, timeout: float = 12 * 3600) -> bool:
    """Under torchrun, on rank 0: block until every rank's marker names this ``job``; True when rank 0
    should merge.  (Markers, not a collective: a rank that torchrun restarts simply finishes and writes
    its marker again, and a marker of another job — other options — does not count.)"""
    if not shard.torchrun or shard.index != 0:
        return False
    others = [Shard(k, shard.count) for k in range(shard.count)]
    deadline = time.monotonic() + timeout
    while True:
        if all(_reads(done_marker(main, s)) == job for s in others):
            return True
        if time.monotonic() > deadline:
            raise UsageError(f"not every shard finished within {timeout:g} s", "Check the other ranks' output")
        time.sleep(poll)


def _reads(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
