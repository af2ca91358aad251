"""Every command has --help ending with an example; ``ohlora --help`` imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["", "demo", "generate", "score", "filter", "synth", "catalog", "catalog init", "catalog upgrade", "catalog status",
            "catalog check", "model", "model register", "model list", "vectorfind", "vectorfind import-seed",
            "vectorfind import-npy", "vectorfind export", "vectorfind list", "identity", "identity import",
            "identity list", "synthetic", "synthetic render", "synthetic info"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(cli, command):
    out = cli(*command.split(), "--help").stdout
    assert "Example: ohlora" in out
    if command and " " in command:
        assert "--quiet" in out and ("--catalog" in out or command.startswith(("synthetic", "demo")))


def test_help_is_lazy():
    code = ("import sys; from ohlora_cli.cli import app; "
            "print(','.join(m for m in ('torch', 'sklearn', 'cv2', 'sqlalchemy', 'alembic') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""
