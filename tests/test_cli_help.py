"""Every command of the real command tree has --help ending with an example; ``ohlora --help`` imports nothing heavy."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer

from ohlora_cli.cli import app


def _tree(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _tree(sub, (*path, name))


TREE = list(_tree(typer.main.get_command(app)))
COMMANDS = [" ".join(path) for path, _ in TREE]
LEAVES = [" ".join(path) for path, cmd in TREE if not getattr(cmd, "commands", None)]


def test_the_tree_is_walked():
    assert {"finetune", "eval", "label train", "catalog status", "vectorfind", "synthetic render"} <= set(COMMANDS)
    assert len(LEAVES) >= 24


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example_and_clean_text(cli, command):
    out = cli(*command.split(), "--help").stdout
    assert "Example: ohlora" in out
    assert not re.search(r"\s\.(\s|$)", out), f"stray space before a period in `ohlora {command} --help`"
    assert "SPEC" not in out and "§" not in out, f"`ohlora {command} --help` cites a section the user cannot see"


@pytest.mark.parametrize("command", LEAVES)
def test_every_leaf_command_takes_quiet(cli, command):
    out = cli(*command.split(), "--help").stdout
    assert "--quiet" in out


def test_help_is_lazy():
    code = ("import sys; from ohlora_cli.cli import app; "
            "print(','.join(m for m in ('torch', 'sklearn', 'cv2', 'sqlalchemy', 'alembic', 'numpy') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""
