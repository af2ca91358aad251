"""How many CPU threads a command computes on, and the OpenMP settings that go with them.

The policy (``--threads auto``, the default; README "Threads"):

- threads = the cores this process may run on: the physical cores of its CPU affinity, capped by a
  cgroup CPU quota; the studio leaves one of them to the browser.  An ``OMP_NUM_THREADS`` the user
  set is the count instead.
- How OpenMP threads wait is chosen when the command starts, from what else runs (0.15 s of
  ``/proc/stat``): beside other jobs (at least half a core busy elsewhere) they wait *passively*
  (``OMP_WAIT_POLICY=PASSIVE``): a thread that reaches a barrier sleeps instead of spinning.  Torch's
  default spins, and spinning threads steal the core that the thread everyone waits for needs: beside
  other jobs on 2 cores, ``ohlora score`` took 5.6× as long as with one thread; with passive waits, two
  threads took what one did (bench/bench_contention.py).  On an idle machine they keep libgomp's short
  spin, because sleeping and waking per kernel made small networks slower alone (the synthetic parser
  on 64 images: 1.17 s spinning, 2.04 s passive, 1.78 s on one thread).  The wait policy changes speed,
  never results.  A job that starts beside ohlora later is not seen: the policy holds for the run.
- Inference on the CPU does not split a kernel over threads at all: a render runs each sample on one
  thread, the parser and the CNNs each fixed padded chunk of images, and up to ``threads`` of them run
  at once (``models/devices.cpu_parallel``).  A 64 px synthesis at batch 1 is hundreds of tiny kernels,
  where waking a passive thread per kernel cost more than it gained (``score`` of 1,000 images alone:
  63 s with two passive threads, 39 s with torch's spinning ones, 36 s on one thread, 36 s with samples
  in parallel); and beside other jobs a team whose threads each get a slice of a shared core waits at
  every barrier for the slowest one, while independent pieces do not wait for each other.
- Beside other jobs, ``auto`` also runs what is left outside those pieces (the mapping network, numpy's
  BLAS in ``vectorfind``) on one thread.  ``finetune`` and ``label train`` keep the count, so that a resumed run
  repeats it, and ``--threads N`` always means N.
- Variables the user set (``OMP_WAIT_POLICY``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS``) are left as they are, except that an explicit ``--threads N`` sets the
  counts.  They take effect only if set before torch / numpy are first imported, which is why every
  compute command applies this first (``cli/_common.use_threads``).

Determinism: renders, parser maps and CNN scores are the same bits at any thread count (each piece
runs on one thread).  Training splits its kernels by thread count, so another count can change the last
digits of a trained network; the same count gives the same bits.  ``auto`` gives the same count on the
same machine whatever else runs; pass ``--threads 1`` (or any fixed number) when a training run must
agree bit for bit across machines.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Mapping, MutableMapping

from ohlora_cli.errors import UsageError

MAX_THREADS = 1024
AUTO = "auto"
ENVVAR = "OHLORA_THREADS"
# Set (to the thread count, or PASSIVE) unless the user already set them; read once when each library loads.
COUNT_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WAIT_VARS = {"OMP_WAIT_POLICY": "PASSIVE"}


def parse_threads(text: str, *, source: str = "--threads") -> int | None:
    """``auto`` → None, ``"4"`` → 4; anything else is a one-line error naming ``source`` as the user gave it
    (the flag, or ``OHLORA_THREADS`` when the value came from the environment)."""
    value = text.strip()
    if value.lower() == AUTO:
        return None
    if re.fullmatch(r"[0-9]+", value) and 1 <= int(value) <= MAX_THREADS:
        return int(value)
    if source == ENVVAR:
        raise UsageError(f"{ENVVAR}={text!r} is not a thread count",
                         f"Set it to a whole number from 1 to {MAX_THREADS}, or auto, or unset it")
    raise UsageError(f"{source} {text!r} is not a thread count", f"Pass a whole number from 1 to {MAX_THREADS}, or auto")


def quota_cores(cpu_max: str | None) -> int | None:
    """Cores a cgroup v2 ``cpu.max`` line (``"200000 100000"``, ``"max 100000"``) allows; None = no limit."""
    parts = (cpu_max or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def physical_cores(cpus: set[int] | list[int], siblings: dict[int, str | None]) -> int:
    """Cores among ``cpus``, hyperthread siblings counted once (``siblings``: each CPU's
    ``thread_siblings_list``, e.g. ``"0,8"``; a CPU whose list is unknown counts alone)."""
    return len({(siblings.get(c) or f"cpu{c}").strip() for c in cpus}) or 1


def choose_threads(cores: int, *, reserve: int = 0) -> int:
    """The ``auto`` policy, pure: every core, less ``reserve`` (the studio leaves one to the browser), at
    least 1.  Not lowered by the load: the count, and so the results, do not change with what else runs."""
    return max(1, cores - reserve)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def available_cores() -> int:
    """Cores this process may run on: the physical cores of its CPU affinity (torch's own default counts
    physical cores too), capped by the cgroup's CPU quota (a container's ``--cpus``)."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
    cores = physical_cores(cpus, {c: _read(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list")
                                  for c in cpus})
    quota = quota_cores(_read("/sys/fs/cgroup/cpu.max"))
    return max(1, min(cores, quota) if quota else cores)


def auto_threads(*, reserve: int = 0) -> int:
    """``--threads auto`` on this machine."""
    return choose_threads(available_cores(), reserve=reserve)


def openmp_env(threads: int, environ: Mapping[str, str], *, explicit: bool, passive: bool = True) -> dict[str, str]:
    """The variables to set before torch / numpy load: the counts of COUNT_VARS (those the user set too when
    the count is ``explicit``: ``--threads`` beats ``OMP_NUM_THREADS``) and, when waits are to be
    ``passive``, the WAIT_VARS the user left unset."""
    out = {var: str(threads) for var in COUNT_VARS if explicit or var not in environ}
    if passive:
        out.update({var: value for var, value in WAIT_VARS.items() if var not in environ})
    return out


BUSY_ELSEWHERE_CORES = 0.5  # at least this much CPU used by other processes → passive waits
SAMPLE_S = 0.15


def busy_fraction(before: list[int], after: list[int]) -> float:
    """The ticks of two ``/proc/stat`` ``cpu`` lines (user nice system idle iowait irq softirq steal …)
    → the share of the ticks between them that were busy (idle and iowait are not)."""
    delta = [a - b for a, b in zip(after, before)]
    total = sum(delta[:8])
    idle = delta[3] + (delta[4] if len(delta) > 4 else 0)
    return max(0.0, (total - idle) / total) if total > 0 else 0.0


def _cpu_ticks() -> list[int] | None:
    text = _read("/proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    try:
        return [int(v) for v in text.splitlines()[0].split()[1:]]
    except ValueError:
        return None


def others_busy(seconds: float = SAMPLE_S) -> float | None:
    """Cores' worth of CPU other processes used over the next ``seconds`` (this one sleeps meanwhile);
    None where ``/proc/stat`` cannot be read."""
    import time

    before = _cpu_ticks()
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_ticks()
    if after is None or len(after) != len(before):
        return None
    return busy_fraction(before, after) * (os.cpu_count() or 1)


def wait_passively(threads: int, others: float | None) -> bool:
    """The wait policy, pure: passive unless more than one thread runs on a machine seen idle (unknown
    counts as busy; with one thread there is nobody to wait for and passive costs nothing)."""
    return threads == 1 or others is None or others >= BUSY_ELSEWHERE_CORES


def user_threads(environ: Mapping[str, str]) -> int | None:
    """The count of an ``OMP_NUM_THREADS`` the user set (``"4"``; OpenMP lists such as ``"4,2"`` give the
    first), which ``auto`` follows; None when unset or not a count."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if re.fullmatch(r"[0-9]+", first) and 1 <= int(first) <= MAX_THREADS else None


_sample_workers: int | None = None


def sample_workers() -> int | None:
    """Samples a CPU render may run at once (the command's thread count); None before any was applied."""
    return _sample_workers


def set_sample_workers(count: int | None) -> None:
    global _sample_workers
    _sample_workers = count


def apply_threads(requested: int | None, *, reserve: int = 0, adapt: bool = True,
                  environ: MutableMapping[str, str] = os.environ) -> int:
    """Compute on ``requested`` threads (None, ``auto``: the user's ``OMP_NUM_THREADS`` if set, else the
    policy) for the rest of this process; returns the count.

    While torch is not loaded yet, ``auto`` only sets the variables (torch and numpy read them when they
    load, and a command that never loads torch pays nothing); an explicit count also loads torch and sets
    it there (torch's default stops at the core count, whatever OMP_NUM_THREADS says).

    Beside other jobs (seen when the command starts), waits are passive, and with ``auto`` (and
    ``adapt``: not the training commands, whose resumed runs must repeat their thread count) each
    kernel runs on one thread while renders still run ``count`` samples at once: a team of threads that
    each get a slice of a shared core waits at every barrier for the slowest of them.
    """
    threads = requested or user_threads(environ) or auto_threads(reserve=reserve)
    set_sample_workers(threads)
    if "torch" not in sys.modules:
        policy_free = not any(var in environ for var in WAIT_VARS)
        count_free = requested is None and user_threads(environ) is None and adapt
        others = others_busy() if threads > 1 and (policy_free or count_free) else None
        busy = others is not None and others >= BUSY_ELSEWHERE_CORES
        passive = wait_passively(threads, others) if policy_free else True
        kernels = 1 if (count_free and busy) else threads
        environ.update(openmp_env(kernels, environ, explicit=requested is not None or kernels != threads,
                                  passive=passive))
        if requested is None:
            return threads
    import torch

    torch.set_num_threads(threads)
    return threads
