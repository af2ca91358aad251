"""Hand labels → CNN ensembles → ``score --scorers cnn-filter`` → ``filter`` (and registering CNN files)."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
import torch

from ohlora_cli.models.cnns import FilterCNN
from tests.conftest import dump

# 12 images: every property has at least 3 zeros and 3 ones (two folds need both classes)
PATTERN = {"gender": [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1], "quality": [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
           "age": [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0], "glass": [0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]}


@pytest.fixture
def labelled(cli, tmp_path):
    cli("generate", "--n", "16", "--quiet")
    r = cli("label", "export", "--n", "12", "--out", "lab", "--quiet")
    assert "exported 12 images of tiny to lab" in r.stdout
    rows = list(csv.DictReader(open(tmp_path / "lab" / "labels.csv")))
    assert len(rows) == 12 and list(rows[0]) == ["image", "path", "gender", "quality", "age", "glass"]
    assert (tmp_path / "lab" / "sheet-000.png").exists() and len(list((tmp_path / "lab" / "images").iterdir())) == 12
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "gender", "quality", "age", "glass"])
        for k, row in enumerate(rows):
            w.writerow([row["image"]] + [PATTERN[p][k] for p in ("gender", "quality", "age", "glass")])
    return tmp_path / "labels.csv", rows


def test_import_counts_and_relabel(cli, labelled, catalog_path, tmp_path):
    path, rows = labelled
    r = cli("label", "import", path)
    assert "imported 48 labels of 12 images" in r.stdout
    assert "gender        8 ones      4 zeros" in r.stdout
    # a relabel replaces; an empty cell leaves the earlier label alone; paths work as image references
    with open(tmp_path / "fix.csv", "w", newline="") as f:
        f.write(f"image,gender,age\n{rows[0]['path']},0,\n")
    cli("label", "import", tmp_path / "fix.csv")
    with sqlite3.connect(catalog_path) as conn:
        got = dict(conn.execute("select property, value from hand_labels where image_id = ?", (int(rows[0]["image"]),)))
        total = conn.execute("select count(*) from hand_labels").fetchone()[0]
    assert got == {"gender": 0.0, "quality": 1.0, "age": 0.0, "glass": 0.0} and total == 48


@pytest.mark.parametrize("text, message", [
    ("image,gender\n1,2\n", "line 2: gender is '2', not 0 or 1. Use 1 (female / good / old / glasses), 0, or leave it empty"),
    ("image,gender\n999,1\n", "line 2: no catalog image with id 999"),
    ("image,gender\nelsewhere.png,1\n", "line 2: elsewhere.png is not a catalog image. To train on image files outside "
                                        "the catalog use `ohlora label train --csv FILE`"),
    ("image,colour\n1,1\n", "has no gender, quality, age or glass column (columns: image, colour)"),
    ("picture,gender\n1,1\n", "has no image, image_id or seed column"),
])
def test_import_errors_change_nothing(cli, catalog_path, tmp_path, text, message):
    cli("generate", "--n", "2", "--quiet")
    (tmp_path / "bad.csv").write_text(text)
    before = dump(catalog_path)
    r = cli("label", "import", tmp_path / "bad.csv", ok=False)
    assert r.exit_code == 1 and message in r.stderr and r.stderr.startswith("Error: "), r.stderr
    assert dump(catalog_path) == before


def test_train_score_filter(cli, labelled, catalog_path):
    path, _ = labelled
    cli("label", "import", path, "--quiet")
    r = cli("label", "train", "--name", "mine", "--folds", "2", "--epochs", "2", "--patience", "1", "--width", "0.25")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["property", "fold", "AUROC", "acc", "F1", "val", "loss", "epochs"]
    assert sum(line.startswith(("gender", "quality", "age", "glass")) for line in lines[1:]) == 8
    with sqlite3.connect(catalog_path) as conn:
        rows = conn.execute("select kind, folds, resolution, width, metrics_json from cnn_models "
                            "where name = 'mine' order by kind").fetchall()
    assert [r[:4] for r in rows] == [(f"cnn-{p}", 2, 32, 0.25) for p in ("age", "gender", "glass", "quality")]
    metrics = json.loads(rows[1][4])
    assert len(metrics["folds"]) == 2 and {"auroc", "accuracy", "f1"} <= set(metrics["folds"][0])
    r = cli("label", "train", "--name", "mine", "--folds", "2", "--epochs", "1", ok=False)
    assert r.stderr.splitlines()[-1] == ("Error: the CNN set 'mine' already has a cnn-gender model trained with "
                                         "other options. Pass another --name, or --replace")

    r = cli("score", "--scorers", "cnn-filter", "--cnns", "mine")
    assert "scored 16 images of tiny" in r.stdout and "cnn-filter/mine 16" in r.stdout
    r = cli("score", "--scorers", "cnn-filter", "--cnns", "mine")
    assert "16 images already had cnn-filter/mine scores" in r.stderr
    with sqlite3.connect(catalog_path) as conn:
        n, lo, hi = conn.execute("select count(*), min(value), max(value) from scores "
                                 "where scorer = 'cnn-filter/mine'").fetchone()
        norms = conn.execute("select count(*) from normalisations where scorer = 'cnn-filter/mine'").fetchone()[0]
    assert n == 64 and 0 <= lo <= hi <= 1 and norms == 0  # probabilities are never normalised
    r = cli("filter", "--name", "clean", "--rule", "gender>=0", "--rule", "glass<=1")
    assert "left out 12 hand-labelled images" in r.stderr
    assert "selection clean: 4 of 4 scored images of tiny" in r.stdout
    r = cli("filter", "--name", "clean2", "--rule", "gender>=0.5", "--include-labelled", "--export", "sel")
    passed = int(r.stdout.split("selection clean2: ")[1].split()[0])
    assert passed >= 8  # the 8 images labelled female pass by their label
    assert f"wrote {passed} images to sel" in r.stdout


def test_missing_cnn_set_and_register(cli, tmp_path, catalog_path):
    cli("generate", "--n", "2", "--quiet")
    r = cli("score", "--scorers", "cnn-filter", "--cnns", "nope", ok=False)
    assert r.stderr.strip() == ("Error: the CNN set 'nope' has no cnn-gender model. Register one with `ohlora model "
                                "register FILE --kind cnn-gender --name nope` or train it with `ohlora label train "
                                "--name nope`")
    # the original's bare 256-px fold files are converted once and registered
    for k in range(2):
        torch.manual_seed(k)
        torch.save(FilterCNN("gender", 256).state_dict(), tmp_path / f"cnn_ohlora_v3_gender_model_{k}.pt")
    files = [tmp_path / f"cnn_ohlora_v3_gender_model_{k}.pt" for k in range(2)]
    r = cli("model", "register", *files, "--kind", "cnn-gender", "--name", "original")
    assert "registered cnn-gender of CNN set original (2 model(s), 256px)" in r.stdout
    assert (tmp_path / "cnns" / "original-cnn-gender.pt").exists()
    r = cli("model", "register", files[0], "--kind", "cnn-age", "--name", "original", ok=False)
    assert "has the architecture of the gender CNN, not the age CNN" in r.stderr
    r = cli("model", "register", files[0], "--kind", "cnn-hat", ok=False)
    assert "Error: unknown --kind 'cnn-hat'" in r.stderr
    assert "original/cnn-gender" in cli("model", "list").stdout
