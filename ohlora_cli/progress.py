"""The one progress helper: a rich bar on stderr with real totals, rate and ETA.

Silent under ``--quiet`` and whenever stderr is not a terminal (tests, logs, pipes).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

Advance = Callable[[int], None]


def _noop(_n: int = 1) -> None:
    return None


@contextmanager
def progress(total: int, description: str, *, quiet: bool = False, unit: str = "img") -> Iterator[Advance]:
    """Yield ``advance(n)``; shows ``description  ━━━━  120/15000  41.2 img/s  0:05:59`` on stderr."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal or total <= 0:
        yield _noop
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

    def __init__(self, description: str, *, quiet: bool = False) -> None:
        self.description, self.quiet = description, quiet
        self._cm = None
        self._advance: Advance = _noop

    def __enter__(self) -> "LazyProgress":
        return self

    def start(self, total: int) -> None:
        self._cm = progress(total, self.description, quiet=self.quiet)
        self._advance = self._cm.__enter__()

    def advance(self, n: int = 1) -> None:
        self._advance(n)

    def __exit__(self, *exc) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)
