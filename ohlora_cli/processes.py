"""Who runs a stage (pid, host, process start), whether that process is still alive, and the kill test hook.

A run row records its process so that a row left ``running`` by a killed process can be told from one
that is still working: on the same host, the pid must exist, not be a zombie, and (on Linux) have the
same start time (boot id + start tick from ``/proc``), so a reused pid is not mistaken for the run.
A run on another host cannot be checked from here.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessId:
    pid: int
    host: str
    start: str | None  # "<boot id>:<start tick>" on Linux, None where it cannot be read


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_of(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return f"{_boot_id()}:{fields[19]}" if fields and len(fields) > 19 else None  # field 22: starttime


def this_process() -> ProcessId:
    return ProcessId(os.getpid(), socket.gethostname(), _start_of(os.getpid()))


def process_gone(pid: int | None, host: str | None, start: str | None) -> bool | None:
    """True when the recorded process has ended (or its pid now belongs to another process), False when
    it still runs, None when this cannot be told from here (another host, or nothing recorded)."""
    if pid is None or host is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return None
    fields = _proc_stat(pid)
    if fields is not None and fields[0] in ("Z", "X"):  # ended, not yet reaped by its parent
        return True
    now = _start_of(pid)
    return bool(start and now and now != start)


def kill_point(name: str) -> None:
    """Test hook: with ``OHLORA_TEST_KILL_AT=<name>`` (or ``<name>#<k>``) the process SIGKILLs itself the
    first (k-th) time it passes the point ``name``, so a test can kill a stage at an exact instant.
    Points: ``<stage>:started`` (run row committed), ``<stage>:stored`` (results committed, run not yet
    closed), ``generate:batch`` / ``score:batch`` (a batch committed), ``label-train:model`` (one CNN
    registered), ``train:checkpoint`` (a GAN checkpoint written), ``synthetic:batch`` (a batch of files
    written), ``calibrate:group`` (one group's calibrations stored).  Without the variable it does nothing."""
    want = os.environ.get("OHLORA_TEST_KILL_AT")
    if not want:
        return
    target, _, k = want.partition("#")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(k or 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


_hits: dict[str, int] = {}
