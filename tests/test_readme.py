"""The README's tour runs as written, and its outputs are what ohlora prints (timings aside)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour() -> list[tuple[str, list[str]]]:
    """(command, expected stdout lines) for every ``$ ohlora`` line in the README's console blocks."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ ohlora "):
                steps.append((line[len("$ ohlora "):], []))
            elif steps and line.strip() != "...":
                steps[-1][1].append(line)
    return steps


def _pattern(line: str) -> re.Pattern:
    return re.compile(re.sub(r"\\?\d+\\\.\d+", r"[0-9.]+", re.escape(line)))


def test_readme_top_has_the_two_commands():
    top = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(top) == 2
    assert top[0].startswith("pip install . && ohlora demo --out ohlora-demo")
    assert top[1].startswith("pip install '.[test]' && python -m pytest")
    assert "python -m pytest" in (README.parent / ".ci" / "run").read_text()


@pytest.mark.slow
def test_readme_tour_runs_as_written(cli, monkeypatch):
    monkeypatch.delenv("OHLORA_CATALOG")  # the README uses the default ./ohlora.db
    monkeypatch.delenv("OHLORA_MODEL")  # ... and the default generator
    steps = tour()
    assert len(steps) >= 10
    for command, expected in steps:
        out = cli(*shlex.split(command)).stdout.splitlines()
        for line in expected:
            assert any(_pattern(line).fullmatch(o) for o in out), f"`ohlora {command}`: no line like {line!r} in {out}"
