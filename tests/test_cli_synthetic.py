"""``ohlora synthetic render | info``: files written, overrides, and every documented bad input."""

from __future__ import annotations

import csv

import pytest

from ohlora_cli.images import load_png


def test_render_writes_images_maps_and_csvs(cli, tmp_path):
    r = cli("synthetic", "render", "--n", "5", "--out", "w", "--seed-start", "10", "--set", "glasses=1")
    assert r.stdout == ("rendered 5 faces at 64px to w (images/, maps/, attributes.csv, hand_labels.csv, "
                        "contact_sheet.png)\n")
    rows = list(csv.DictReader(open(tmp_path / "w" / "attributes.csv")))
    assert [int(r["seed"]) for r in rows] == list(range(10, 15)) and {r["glasses"] for r in rows} == {"1.0"}
    labels = list(csv.DictReader(open(tmp_path / "w" / "hand_labels.csv")))
    assert list(labels[0]) == ["image", "gender", "quality", "age", "glass"]
    assert labels[0]["image"] == "images/000010.png" and {r["glass"] for r in labels} == {"1"}
    assert load_png(tmp_path / "w" / "images" / "000012.png").shape == (64, 64, 3)


@pytest.mark.parametrize("args,message", [
    (["--resolution", "48"], "resolution must be a power of two >= 32, got 48. See `ohlora synthetic render --help`"),
    (["--resolution", "16"], "resolution must be a power of two >= 32, got 16. See `ohlora synthetic render --help`"),
    (["--set", "smile=1"], "unknown attribute 'smile'; attributes are eyes, mouth, pose, hair_color, hair_length, "
                           "hairstyle, background_mean, background_std, gender, age, glasses, quality. "
                           "See `ohlora synthetic render --help`"),
    (["--set", "eyes=2"], "attribute 'eyes' must be in [0, 1], got 2 (row 0). See `ohlora synthetic render --help`"),
    (["--set", "glasses=0.5"], "attribute 'glasses' must be 0 or 1, got 0.5 (row 0). See `ohlora synthetic render --help`"),
    (["--n", "0"], "--n must be a positive number of faces, got 0. Pass e.g. --n 20000"),
])
def test_render_bad_input(cli, tmp_path, args, message):
    base = ["synthetic", "render", "--out", "w"] + ([] if "--n" in args else ["--n", "2"])
    r = cli(*base, *args, ok=False)
    assert r.exit_code == 1 and r.stderr == f"Error: {message}\n"
    assert not (tmp_path / "w").exists()


def test_render_unwritable_out(cli, tmp_path):
    (tmp_path / "f").write_text("")
    r = cli("synthetic", "render", "--n", "2", "--out", tmp_path / "f" / "x", ok=False)
    assert r.stderr == (f"Error: cannot write to {tmp_path / 'f' / 'x'}: {tmp_path / 'f'} is a file, not a folder. "
                        "Pass a writable folder with --out\n")


def test_info_lists_shipped_weights_within_budget(cli):
    out = cli("synthetic", "info").stdout
    assert "parser synthetic: synthetic-parser.pt" in out and "mean IoU (1000 held-out rendered faces): 0.9377" in out
    total = float(out.rsplit("total shipped weights: ", 1)[1].split(" MB")[0])
    assert total <= 25.0
