"""The one progress helper: real totals, rate and ETA on stderr; silent under ``--quiet``.

On a terminal it draws a rich bar.  Elsewhere (logs, pipes, tests) it writes one status line every
``STATUS_INTERVAL_S`` seconds, the first only after that long, so short work prints nothing::

    score: 400/1000 images, 41 img/s, ETA 0:00:15
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

Advance = Callable[[int], None]

STATUS_INTERVAL_S = 10.0  # seconds between status lines when stderr is not a terminal
UNITS = {"img": "images"}  # unit → plural in status lines (others: unit + "s")


def _noop(_n: int = 1) -> None:
    return None


def clock_text(seconds: float) -> str:
    """``0:00:15``."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def status_line(description: str, done: int, total: int, elapsed: float, unit: str = "img", *,
                finished: bool = False) -> str:
    """``score: 400/1000 images, 41 img/s, ETA 0:00:15``; with ``finished``: ``…, done in 0:00:24``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    speed = f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"
    units = UNITS.get(unit, unit + "s")
    line = f"{description}: {done}/{total} {units}, {speed} {unit}/s"
    if finished:
        return f"{line}, done in {clock_text(elapsed)}"
    return f"{line}, ETA {clock_text((total - done) / rate)}" if rate > 0 else line


class _Status:
    """The non-terminal form: a line every ``interval`` seconds, and a last one when the work ended well and
    any was written."""

    def __init__(self, total: int, description: str, unit: str, interval: float, clock: Callable[[], float]):
        self.total, self.description, self.unit, self.interval, self.clock = total, description, unit, interval, clock
        self.done, self.written = 0, False
        self.t0 = self.last = clock()

    def _write(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last, self.written = now, True
            self._write(status_line(self.description, self.done, self.total, now - self.t0, self.unit))

    def close(self) -> None:
        if self.written:
            self._write(status_line(self.description, self.done, self.total, self.clock() - self.t0, self.unit,
                                    finished=True))


@contextmanager
def progress(total: int, description: str, *, quiet: bool = False, unit: str = "img",
             interval: float | None = None, clock: Callable[[], float] = time.monotonic) -> Iterator[Advance]:
    """Yield ``advance(n)``; shows ``description  ━━━━  120/15000  41.2 img/s  0:05:59`` on a terminal, a
    status line every ``interval`` seconds (default ``STATUS_INTERVAL_S``) elsewhere; nothing for ``total`` 0."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or total <= 0:
        yield _noop
        return
    if not console.is_terminal:
        status = _Status(total, description, unit, STATUS_INTERVAL_S if interval is None else interval, clock)
        yield status.advance
        status.close()  # not after an error: the error is the last line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    class Rate(TextColumn):
        def render(self, task):  # noqa: ANN001
            speed = task.finished_speed or task.speed
            return TextColumn(f"{speed:.1f} {unit}/s" if speed else f"- {unit}/s").render(task)

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(""),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


class LazyProgress:
    """A bar whose total is learned later (``start(total)``), e.g. once a stage knows what is missing."""

    def __init__(self, description: str, *, quiet: bool = False, unit: str = "img") -> None:
        self.description, self.quiet, self.unit = description, quiet, unit
        self._cm = None
        self._advance: Advance = _noop

    def __enter__(self) -> "LazyProgress":
        return self

    def start(self, total: int) -> None:
        if self._cm is not None:  # a second phase under the same bar: close the first
            self._cm.__exit__(None, None, None)
        self._cm = progress(total, self.description, quiet=self.quiet, unit=self.unit)
        self._advance = self._cm.__enter__()

    def advance(self, n: int = 1) -> None:
        self._advance(n)

    def __exit__(self, *exc) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)
            self._cm = None
