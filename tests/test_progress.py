"""Progress on stderr when it is not a terminal: one status line every STATUS_INTERVAL_S seconds, the first only
after that long, a last one when any was written; nothing under --quiet."""

from __future__ import annotations

import pytest

from ohlora_cli import progress as progress_mod
from ohlora_cli.progress import LazyProgress, clock_text, progress, status_line

# tests/test_eval.py's catalog (the same commands, so the session cache is shared)
DIRS = (["generate", "--n", "64", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
        ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
        ["vectorfind", "--method", "global", "--name", "glob", "--quiet"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("args, expected", [
    (("score", 400, 1000, 10.0), "score: 400/1000 images, 40 img/s, ETA 0:00:15"),
    (("score", 1000, 1000, 24.4), "score: 1000/1000 images, 41 img/s, ETA 0:00:00"),
    (("finetune", 3, 600, 2.0, "step"), "finetune: 3/600 steps, 1.5 step/s, ETA 0:06:38"),
    (("eval", 0, 20, 12.0, "case"), "eval: 0/20 cases, 0.0 case/s"),
    (("generate", 16, 240000, 0.0), "generate: 16/240000 images, 0.0 img/s"),
    (("generate", 40000, 240000, 4000.0), "generate: 40000/240000 images, 10 img/s, ETA 5:33:20"),
])
def test_status_line(args, expected):
    assert status_line(*args) == expected


def test_finished_line_and_clock():
    assert status_line("score", 1000, 1000, 24.4, finished=True) == "score: 1000/1000 images, 41 img/s, done in 0:00:24"
    assert [clock_text(s) for s in (0, 59.6, 61, 3600, 36000 + 61)] == ["0:00:00", "0:01:00", "0:01:01", "1:00:00",
                                                                          "10:01:01"]


def test_a_line_every_interval_and_none_before(capsys):
    clock = Clock()
    with progress(1000, "score", clock=clock, interval=10) as advance:
        for _ in range(5):  # 5 batches in 7.5 s: nothing yet
            clock.now += 1.5
            advance(64)
        assert capsys.readouterr().err == ""
        clock.now += 2.5  # 10 s after the start
        advance(64)
        clock.now += 5.0
        advance(64)  # 5 s after the last line: nothing
        clock.now += 5.0
        advance(64)
    err = capsys.readouterr().err.splitlines()
    assert err == ["score: 384/1000 images, 38 img/s, ETA 0:00:16",
                   "score: 512/1000 images, 26 img/s, ETA 0:00:19",
                   "score: 512/1000 images, 26 img/s, done in 0:00:20"]


def test_short_work_and_quiet_print_nothing(capsys):
    clock = Clock()
    with progress(10, "generate", clock=clock, interval=10) as advance:
        clock.now += 9.9
        advance(10)
    with progress(10, "generate", clock=clock, interval=0, quiet=True) as advance:
        clock.now += 50
        advance(10)
    with progress(0, "generate", clock=clock, interval=0) as advance:  # nothing to do
        advance(0)
    assert capsys.readouterr().err == ""


def test_lazy_progress_uses_the_module_interval(capsys, monkeypatch):
    monkeypatch.setattr(progress_mod, "STATUS_INTERVAL_S", 0.0)
    with LazyProgress("vectorfind", unit="direction") as bar:
        bar.start(2)
        bar.advance(1)
        bar.advance(1)
    err = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in err] == ["vectorfind: 1/2 directions", "vectorfind: 2/2 directions",
                                                    "vectorfind: 2/2 directions"]
    assert err[-1].split(", ")[-1].startswith("done in ")


@pytest.mark.parametrize("args, first", [
    (["generate", "--n", "3", "--seed-start", "1000"], "generate: 3/3 images"),
    (["synth", "--seed", "1", "--sweep", "eyes=-1:1:3"], "synth: 1/3 images"),
    (["synth", "--seed", "1", "--animate", "a.gif", "--target", "mouth=1"], "synth: 1/150 frames"),
    (["vectorfind", "--groups", "2", "--name", "again"], "vectorfind: 1/6 directions"),
    (["score", "--scorers", "parser"], "score: 4/4 images"),
    (["eval", "--cases", "1"], "eval: 1/1 cases"),
])
def test_commands_write_status_lines_when_stderr_is_not_a_terminal(cli, built_catalog, monkeypatch, args, first):
    """With the interval at 0 every step writes its line (CliRunner's stderr is not a terminal)."""
    built_catalog(*DIRS)
    if args[0] == "score":
        cli("generate", "--n", "4", "--seed-start", "100")
    monkeypatch.setattr(progress_mod, "STATUS_INTERVAL_S", 0.0)
    r = cli(*args)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(args[0] + ":")]
    assert lines and lines[0].startswith(first + ", "), r.stderr
    assert ", done in " in lines[-1]


def test_quiet_commands_write_no_status_line(cli, built_catalog, monkeypatch):
    built_catalog(*DIRS)
    monkeypatch.setattr(progress_mod, "STATUS_INTERVAL_S", 0.0)
    assert cli("synth", "--seed", "1", "--sweep", "eyes=-1:1:3", "--quiet").stderr == ""
    assert cli("generate", "--n", "3", "--seed-start", "1000", "--quiet").stderr == ""


def test_no_done_line_after_an_error(capsys):
    clock = Clock()
    with pytest.raises(RuntimeError), progress(10, "score", clock=clock, interval=1) as advance:
        clock.now += 2
        advance(5)
        raise RuntimeError("disk full")
    assert capsys.readouterr().err.splitlines() == ["score: 5/10 images, 2.5 img/s, ETA 0:00:02"]
