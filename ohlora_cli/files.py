"""The one atomic writer: every output file of ohlora is written through :func:`atomic_path`.

The data goes to a fresh temporary file in the target's own folder (``mkstemp``: an unpredictable
name created with ``O_EXCL``, so a planted symlink is never followed), which is then renamed over
the target with ``os.replace``.  A reader sees the old file or the new one, never half of one; a
symlink at the target is replaced, not written through; on any failure the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ohlora_cli.errors import OutputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: outputs get the usual 0666 & ~umask, not mkstemp's 0600


@contextlib.contextmanager
def atomic_path(path: Path | str, *, what: str = "", after: str = "",
                fix: str = "Pass a writable output path") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``.

    ``OSError`` (and torch's ``RuntimeError`` from a failed write) become :class:`OutputError` naming
    ``path``: ``cannot write <what or path> (<reason>)<after>. <fix>``.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(name, 0o666 & ~_UMASK)
    except OSError as err:
        raise OutputError(f"cannot write {what or path} ({err.strerror or err}){after}", fix) from None
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, RuntimeError) and not _is_write_failure(err):
            raise
        raise OutputError(f"cannot write {what or path} ({getattr(err, 'strerror', None) or err}){after}", fix) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
