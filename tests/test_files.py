"""The one atomic writer: rename into place, symlinks replaced (never followed), nothing left on failure."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from ohlora_cli.errors import OutputError
from ohlora_cli.files import atomic_path, write_text_atomic
from ohlora_cli.images import load_png, save_png


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "out.png").symlink_to(victim)
    save_png(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "out.png").is_symlink() and load_png(tmp_path / "out.png").shape == (4, 4, 3)


def test_a_planted_symlink_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".out.txt.tmp").symlink_to(victim)
    write_text_atomic(tmp_path / "out.txt", "new")
    assert victim.read_text() == "keep me" and (tmp_path / "out.txt").read_text() == "new"


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_os_errors_become_one_line_output_errors(tmp_path):
    with pytest.raises(OutputError, match=r"^cannot write .*missing/out.txt \(No such file or directory\)\. Pass a "
                                          r"writable output path$"):
        write_text_atomic(tmp_path / "missing" / "out.txt", "x")


def test_outputs_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
