"""``ohlora --version`` and environment variables that must fail in one line, before anything is touched."""

from __future__ import annotations

import pytest

from conftest import dump
from ohlora_cli import __version__


def test_version(cli):
    assert cli("--version").stdout == f"ohlora {__version__}\n"


@pytest.mark.parametrize("value, args", [(v, ["catalog", "status"]) for v in ("abc", "inf", "nan", "-1", "1e9", "")]
                         + [("abc", ["generate", "--n", "2"]), ("nan", ["score"])], ids=str)
def test_bad_busy_timeout_is_one_line(cli, catalog_path, monkeypatch, value, args):
    cli("generate", "--n", "2", "--quiet")
    before = dump(catalog_path)
    monkeypatch.setenv("OHLORA_BUSY_TIMEOUT", value)
    r = cli(*args, ok=False)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == (f"Error: OHLORA_BUSY_TIMEOUT={value!r} is not a number of seconds in "
                                         f"0..86400. Set it to e.g. 30, or unset it")
    assert "Traceback" not in r.stderr and dump(catalog_path) == before


def test_a_good_busy_timeout_is_used(cli, monkeypatch):
    monkeypatch.setenv("OHLORA_BUSY_TIMEOUT", "2.5")
    assert cli("generate", "--n", "2").exit_code == 0
