"""The one atomic writer: every output file of ohlora is written through :func:`atomic_path`.

The data goes to a fresh temporary file in the target's own folder (``mkstemp``: an unpredictable
name created with ``O_EXCL``, so a planted symlink is never followed), which is then renamed over
the target with ``os.replace``.  A reader sees the old file or the new one, never half of one; a
symlink at the target is replaced, not written through; on any failure the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ohlora_cli.errors import InputFileError, OutputError
from ohlora_cli.processes import process_gone

DEFAULT_FIX = "Pass a writable output path"
DISK_FULL_FIX = "Free some disk space and run the same command again"

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: outputs get the usual 0666 & ~umask, not mkstemp's 0600


def _tag() -> str:
    """``<pid>@<host>`` in every temporary name, so a later process can tell a killed writer's leftovers."""
    return f"{os.getpid()}@{socket.gethostname().replace('.', '_')}"


_TEMP = re.compile(r"\..+\.(\d+)@([^.]+)\.[^.]+\.tmp")
_swept: set[Path] = set()


def _sweep(folder: Path) -> None:
    """Remove the temporary files that killed ohlora processes of this host left in ``folder`` (once per
    folder and process: a kill -9 during a write leaves its temporary file behind)."""
    if folder in _swept:
        return
    _swept.add(folder)
    host = socket.gethostname().replace(".", "_")
    with contextlib.suppress(OSError):
        for p in folder.glob(".*.tmp"):
            m = _TEMP.fullmatch(p.name)
            if m and m[2] == host and process_gone(int(m[1]), socket.gethostname(), None):
                with contextlib.suppress(OSError):
                    p.unlink()


@contextlib.contextmanager
def atomic_path(path: Path | str, *, what: str = "", after: str = "", fix: str = DEFAULT_FIX) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``.

    ``OSError`` (and torch's ``RuntimeError`` from a failed write) become :class:`OutputError` naming
    ``path``: ``cannot write <what or path> (<reason>)<after>. <fix>``; a full disk gets the fix "free
    some disk space" unless the caller gave its own.
    """
    path = Path(path)
    try:
        _sweep(path.parent)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_tag()}.", suffix=".tmp")
        os.close(fd)
        os.chmod(name, 0o666 & ~_UMASK)
    except OSError as err:
        raise OutputError(f"cannot write {what or path} ({err.strerror or err}){after}", _fix(err, fix)) from None
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, RuntimeError) and not _is_write_failure(err):
            raise
        reason = "the write failed; the disk may be full" if isinstance(err, RuntimeError) else err.strerror or err
        raise OutputError(f"cannot write {what or path} ({reason}){after}", _fix(err, fix)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fix(err: BaseException, fix: str) -> str:
    full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or isinstance(err, RuntimeError)
    return DISK_FULL_FIX if full and fix == DEFAULT_FIX else fix


def _is_write_failure(err: RuntimeError) -> bool:
    """torch.save reports a full disk or a closed stream as a RuntimeError from its file writer."""
    text = str(err).lower()
    return any(k in text for k in ("file write failed", "unexpected pos", "pytorchstreamwriter", "no space"))


def write_atomic(path: Path | str, write: Callable[[Path], object], **kwargs) -> Path:
    """``write(tmp)`` then rename into place; returns ``path``."""
    with atomic_path(path, **kwargs) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(path: Path | str, text: str, **kwargs) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), **kwargs)


def input_file(path: Path | str, what: str = "", fix: str = "Check the path") -> Path:
    """``path`` when it is a regular file, else :class:`InputFileError` (``<what or path> does not exist``,
    ``… is a folder, not a file``, ``… is not a regular file``).  A FIFO or device is refused without
    being opened, so reading it can never block."""
    path = Path(path)
    name = what or str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputFileError(f"{name} does not exist", fix) from None
    except OSError as err:
        raise InputFileError(f"cannot read {name} ({err.strerror or err})", fix) from None
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{name} is a folder, not a file", fix)
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{name} is not a regular file (a FIFO, socket or device)", fix)
    return path
