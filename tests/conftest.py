"""Shared fixtures: an isolated working folder + catalog per test, a CLI runner, the seed artifacts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ohlora_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
# A copy of ../shared/seed/artifacts (the original project's published files), so a clean clone tests alone.
ARTIFACTS = ROOT / "tests" / "data" / "seed_artifacts"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small models run faster on one thread, and much faster when another process holds a core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with its own default catalog."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OHLORA_CATALOG", str(tmp_path / "ohlora.db"))
    for var in ("OHLORA_MODEL", "OHLORA_DEVICE", "OHLORA_BATCH_SIZE", "OHLORA_BUSY_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OHLORA_DEVICE", "cpu")
    monkeypatch.setenv("OHLORA_MODEL", "tiny")  # the untrained 32 px generator: fast; the README test uses the default
    monkeypatch.setenv("OHLORA_THREADS", "1")  # what _one_thread set; commands would otherwise pick by the load


@pytest.fixture
def cli():
    """``cli("generate", "--n", "4")`` → result with exit_code, stdout, stderr."""
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, [str(a) for a in args])
        if ok and result.exit_code != 0:
            raise AssertionError(f"ohlora {' '.join(map(str, args))} failed ({result.exit_code}):\n"
                                 f"{result.stdout}\n{result.stderr}\n{result.exception!r}")
        return result

    return invoke


@pytest.fixture
def catalog_path(tmp_path) -> Path:
    return tmp_path / "ohlora.db"


@pytest.fixture
def artifacts() -> Path:
    return ARTIFACTS


def dump(path: Path) -> list[str]:
    """A catalog's full content as SQL, to prove an error left it unchanged."""
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="session")
def _catalog_store(tmp_path_factory):
    """Catalogs built once per session by a list of commands, keyed by that list."""
    return {"root": tmp_path_factory.mktemp("built-catalogs"), "built": {}}


@pytest.fixture
def built_catalog(_catalog_store, catalog_path):
    """``built_catalog(["generate", "--n", "64"], ["score", ...])``: the catalog those commands make (run
    once per session, in a folder of their own), copied to this test's catalog path.  For fixtures whose
    commands write nothing but the catalog."""
    import shutil

    def build(*commands: list[str]) -> Path:
        key = tuple(tuple(c) for c in commands)
        built = _catalog_store["built"]
        if key not in built:
            path = _catalog_store["root"] / f"c{len(built)}-{abs(hash(key))}" / "ohlora.db"
            path.parent.mkdir(exist_ok=True)
            path.unlink(missing_ok=True)
            runner = CliRunner()
            env = {"OHLORA_CATALOG": str(path), "OHLORA_MODEL": "tiny", "OHLORA_DEVICE": "cpu", "OHLORA_THREADS": "1"}
            for args in commands:
                result = runner.invoke(app, [str(a) for a in args], env=env)
                assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
            built[key] = path
        shutil.copyfile(built[key], catalog_path)
        return catalog_path

    return build


def catalog_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, for comparing a catalog before and after a command."""
    if not Path(path).exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def assert_unchanged(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> None:
    """The catalog holds what it held, except a run row that records a failure (status 'failed')."""
    assert before.keys() == after.keys(), (before.keys(), after.keys())
    for table in before:
        if table == "runs":
            added = [r for r in after[table] if r not in before[table]]
            assert all("failed" in r for r in added), added
            assert all(r in after[table] for r in before[table])
        else:
            assert after[table] == before[table], table


def assert_one_line_error(result, message: str | None = None, *, code: int = 1, startswith: bool = False) -> str:
    """Exit ``code``, no traceback, the last stderr line ``Error: …`` (and exactly ``message`` if given).

    The CLI's last-resort line for an unexpected exception ("internal error …") never passes.
    """
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines, result.stdout
    last = lines[-1].strip() if code == 2 else lines[-1]
    assert last.startswith("Error:"), result.stderr
    assert "internal error (" not in last, last
    if message is not None:
        if startswith:
            assert last.startswith(message), (last, message)
        else:
            assert last == message, (last, message)
    return last
