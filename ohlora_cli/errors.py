"""The OhloraError hierarchy: domain errors raised in the core, printed in one place by the CLI.

Every error carries ``what`` went wrong and ``fix``: how to fix it.  The CLI
prints ``Error: <what>. <fix>`` on one line and exits 1 — never a traceback.
"""

from __future__ import annotations


class OhloraError(Exception):
    """Base class. ``str(err)`` is the full one-line message."""

    def __init__(self, what: str, fix: str = "") -> None:
        self.what, self.fix = what.rstrip("."), fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.what}. {self.fix}".strip()


class UsageError(OhloraError):
    """Raised when an option value is invalid (``--n 0``, a malformed ``--sweep``, ...)."""


class CatalogError(OhloraError):
    """Raised when the catalog file cannot be used: not a catalog, unreadable, or integrity problems."""


class SchemaError(CatalogError):
    """Raised on open when the catalog's schema revision is older or newer than this ohlora's."""


class CatalogLockedError(CatalogError):
    """Raised when another writer held the catalog lock longer than the busy timeout."""


class NotFoundError(OhloraError):
    """Raised when a named thing is not in the catalog: image id, generator, property, group, identity."""


class CheckpointError(OhloraError):
    """Raised by the checkpoint loader: missing, corrupt, unsafe or wrongly shaped weight files."""


class InputFileError(OhloraError):
    """Raised when a user-supplied CSV / npy file has the wrong layout or non-numeric cells."""


class OutputError(OhloraError):
    """Raised when an output path cannot be written."""
