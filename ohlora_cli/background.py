"""One writer thread: PNG encoding, file writes and catalog inserts run beside the device work.

A stage hands each finished batch to :class:`Background` and goes on rendering the next one, so a GPU
does not wait for zlib, the disk or SQLite.  Jobs run one at a time in the order given (a batch's rows
are committed after its PNGs are written, as before); at most ``depth`` wait, which bounds the memory
held; the first error a job raises is raised again in the stage at its next ``submit`` or at ``close``.
A killed process loses at most the batches in flight, never half of one.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

_STOP = object()


class Background:
    def __init__(self, depth: int = 2) -> None:
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="ohlora-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _STOP:
                    return
                if self._error is None:
                    fn, args = job
                    fn(*args)
            except BaseException as err:  # noqa: BLE001 — handed to the stage's thread
                self._error = err
            finally:
                self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def submit(self, fn: Callable, *args) -> None:
        self._raise()
        self._jobs.put((fn, args))

    def close(self) -> None:
        """Wait for every job; raise the first error one of them raised."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()
        self._raise()

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # the stage failed: let queued jobs finish (they are whole batches), keep the stage's error
            if self._thread.is_alive():
                self._jobs.put(_STOP)
                self._thread.join()
