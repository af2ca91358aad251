"""The demo's fine-tune verdict: parent → fine-tuned pass rate and feature distance in one line, and when
the fine-tuned generator does not beat its parent, every later step uses the parent."""

from __future__ import annotations

import sqlite3

import pytest

from ohlora_cli import demo
from ohlora_cli.demo import Figures, verdict


@pytest.mark.parametrize("child, better, tail", [
    (Figures(0.40, 3.0), True, "; ft is better, the later steps use it"),
    (Figures(0.20, 3.0), False, "; ft does not beat its parent, the later steps use base"),
    (Figures(0.40, 4.5), False, "; ft does not beat its parent, the later steps use base"),  # farther from the selection
    (Figures(0.259, 3.0), False, "; ft does not beat its parent, the later steps use base"),  # under 1 pp
])
def test_verdict(child, better, tail):
    ok, line = verdict("base", "ft", {"base": Figures(0.255, 3.91), "ft": child})
    assert ok is better
    assert line == (f"base -> ft: joint pass 25.5% -> {child.pass_rate:.1%}, feature distance 3.91 -> "
                    f"{child.feature_distance:.2f}" + tail)


def test_demo_carries_on_with_the_parent_when_the_finetune_does_not_beat_it(cli, tmp_path, monkeypatch):
    """The measurement is injected (the tiny model's numbers mean nothing): the fine-tuned generator is made,
    measured worse, and the directions, the evaluation and the sweeps are all the parent's."""
    seen = {}

    def worse(catalog, parent, child, selection, rules, parent_rate):
        seen["args"] = (parent, child, selection, parent_rate)
        return {parent: Figures(0.5, 2.0), child: Figures(0.1, 9.0)}

    monkeypatch.setattr(demo, "measure_generators", worse)
    r = cli("demo", "--out", "d", "--n", "24", "--groups", "2", "--finetune-steps", "1", "--cases", "1",
            "--rule", "eyes>=-100")
    assert seen["args"] == ("tiny", "demo-ft", "demo-train", 1.0)
    assert "  fine-tune: tiny -> demo-ft: joint pass 50.0% -> 10.0%, feature distance 2.00 -> 9.00; demo-ft does " \
           "not beat its parent, the later steps use tiny" in r.stdout.splitlines()
    assert "5/8 verdict: tiny -> demo-ft: " in r.stderr
    with sqlite3.connect(tmp_path / "d" / "ohlora.db") as conn:
        names = dict(conn.execute("select id, name from generators"))
        assert "demo-ft" in names.values()  # it was made and measured...
        sets = {names[g] for (g,) in conn.execute("select generator_id from direction_sets")}
        evals = {names[g] for (g,) in conn.execute("select generator_id from evaluations")}
        swept = [int(line.rsplit("image", 1)[1].split(".")[0]) for line in r.stdout.splitlines() if "sweeps:" in line]
        owners = {names[g] for (g,) in conn.execute(
            f"select generator_id from images where id in ({','.join(map(str, swept))})")}
    assert sets == evals == owners == {"tiny"}  # ...and every later step used the parent
