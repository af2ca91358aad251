"""The README's first command, scaled down: ``ohlora demo`` end to end on the embedded base generator."""

from __future__ import annotations

import sqlite3

import pytest

from ohlora_cli.demo import FINETUNE
from ohlora_cli.images import load_png


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_into_one_folder(cli, tmp_path):
    r = cli("demo", "--out", "d", "--n", "120", "--groups", "2", "--finetune-steps", "2", "--cases", "2",
            "--model", "synthetic-base")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("demo finished in ") and lines[0].endswith("catalog d/ohlora.db, 120 images per generator")
    assert lines[1].startswith("  filter pass rate: synthetic-base ") and ", demo-ft " in lines[1]
    # the verdict (2 steps: either way), and the generator the later steps used
    assert lines[2].startswith("  fine-tune: synthetic-base -> demo-ft: joint pass ") and ", feature distance " in lines[2]
    better = lines[2].endswith("; demo-ft is better, the later steps use it")
    assert better or lines[2].endswith("; demo-ft does not beat its parent, the later steps use synthetic-base")
    lines = lines[:2] + lines[3:]
    assert lines[2].startswith("  direction validation accuracy: eyes ")
    assert lines[3].startswith("  eval demo-svm: mean |r| eyes ") and lines[4].startswith("  eval demo-global: ")
    assert lines[5] == "  report: d/eval/report.md"
    assert lines[6] == "  contact sheet: d/contact_sheet.png"
    first = 121 if better else 1  # demo-ft's images follow the parent's 120
    assert [line.rsplit(" ", 1)[1] for line in lines[7:10]] == [f"d/sweeps-image{i}.png" for i in range(first, first + 3)]
    assert lines[10] == "  animation: d/animation.gif"
    assert load_png(tmp_path / "d" / f"sweeps-image{first}.png").shape[0] >= 3 * 64  # three sweeps of 64-px faces
    assert (tmp_path / "d" / "eval" / "methods.png").exists()
    with sqlite3.connect(tmp_path / "d" / "ohlora.db") as conn:
        assert conn.execute("select count(*) from images").fetchone() == (240,)
        # parser (8 properties) + filter CNNs (4) for both generators
        assert conn.execute("select count(*) from scores").fetchone() == (240 * 12,)
        assert conn.execute("select count(*) from directions").fetchone() == (9,)  # svm 2 groups × 3 + global 3
        parent = conn.execute("select p.name from generators g join generators p on p.id = g.parent_id "
                              "where g.name = 'demo-ft'").fetchone()
        stages = [s for (s,) in conn.execute("select stage from runs where status='done' order by id")]
    assert parent == ("synthetic-base",)
    assert stages == ["generate", "score", "filter", "finetune", "generate", "score", "filter", "vectorfind",
                      "vectorfind", "eval"]
    for step in ("1/8 generate 120 images", f"4/8 fine-tune synthetic-base on them (2 steps; {FINETUNE})",
                 "5/8 verdict: synthetic-base -> demo-ft: joint pass ", "7/8 evaluate both"):
        assert step in r.stderr
