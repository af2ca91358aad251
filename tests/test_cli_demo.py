"""The README's first command, scaled down: ``ohlora demo`` end to end."""

from __future__ import annotations

import sqlite3

from ohlora_cli.images import load_png


def test_demo_runs_the_pipeline_into_one_folder(cli, tmp_path):
    r = cli("demo", "--out", "d", "--n", "120", "--groups", "2")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("demo finished in ") and lines[0].endswith("catalog d/ohlora.db, 120 images")
    assert lines[1].startswith("  direction validation accuracy: eyes ")
    assert lines[2] == "  contact sheet: d/contact_sheet.png"
    assert [line.rsplit(" ", 1)[1] for line in lines[3:]] == [f"d/sweeps-image{i}.png" for i in (1, 2, 3)]
    assert load_png(tmp_path / "d" / "sweeps-image1.png").shape[0] > 3 * 96
    with sqlite3.connect(tmp_path / "d" / "ohlora.db") as conn:
        assert conn.execute("select count(*) from images").fetchone() == (120,)
        assert conn.execute("select count(*) from scores").fetchone() == (960,)
        assert conn.execute("select count(*) from directions").fetchone() == (6,)
        stages = [s for (s,) in conn.execute("select stage from runs where status='done' order by id")]
    assert stages == ["generate", "score", "vectorfind"]
    assert "generate 120 images" in r.stderr
