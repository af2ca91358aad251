"""Import / export of the original's directions and identities; InterFaceGAN .npy."""

from __future__ import annotations

import csv
import shutil
import sqlite3

import numpy as np
import pytest

from conftest import dump
from ohlora_cli.catalog.vectors import decode


def seed_vector(artifacts, prop, group):
    with open(artifacts / "v8_vectors" / f"{prop}_change_w_vector_{group}.csv") as f:
        return np.array([float(x) for x in list(csv.reader(f))[1][1:]], np.float32)


def stored(catalog_path, set_name):
    with sqlite3.connect(catalog_path) as conn:
        return {(p, g): decode(v, 512) for p, g, v in conn.execute(
            "select property, group_name, vector from directions d join direction_sets s on s.id = d.set_id "
            "where s.name = ?", (set_name,))}


def test_import_seed_flips_sign_and_keeps_unit_norm(cli, catalog_path, artifacts):
    r = cli("vectorfind", "import-seed", artifacts / "v8_vectors")
    assert r.stdout == ("imported 48 directions as set seed-v8: properties eyes, mouth, pose; 16 groups; "
                        "signs flipped so + increases the property\n")
    vecs = stored(catalog_path, "seed-v8")
    assert len(vecs) == 48
    assert np.array_equal(vecs[("eyes", "hhhh")], -seed_vector(artifacts, "eyes", "hhhh"))
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vecs.values())
    with sqlite3.connect(catalog_path) as conn:
        assert conn.execute("select method, sign_flipped, generator_id from direction_sets").fetchone() == \
            ("seed-v8", 1, None)


def test_bundled_copy_equals_the_csv_files(cli, catalog_path, artifacts):
    cli("vectorfind", "import-seed")
    cli("vectorfind", "import-seed", artifacts / "v8_vectors", "--name", "csv")
    a, b = stored(catalog_path, "seed-v8"), stored(catalog_path, "csv")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_an_identical_rerun_does_nothing_and_another_import_needs_replace(cli, catalog_path, artifacts, tmp_path):
    cli("vectorfind", "import-seed")
    before = dump(catalog_path)
    assert cli("vectorfind", "import-seed").stdout == "set seed-v8 already holds these 48 directions: nothing to do\n"
    assert dump(catalog_path) == before
    other = tmp_path / "other"  # the same files, two components of one vector swapped: not the same set
    shutil.copytree(artifacts / "v8_vectors", other)
    path = next(iter(sorted(other.glob("eyes_change_w_vector_*.csv"))))
    rows = list(csv.reader(open(path)))
    rows[1][1], rows[1][2] = rows[1][2], rows[1][1]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    r = cli("vectorfind", "import-seed", other, ok=False)
    assert r.stderr == "Error: a direction set named 'seed-v8' already exists. Pass --name with a new name, or --replace\n"
    assert dump(catalog_path) == before
    cli("vectorfind", "import-seed", other, "--replace")
    assert len(stored(catalog_path, "seed-v8")) == 48 and dump(catalog_path) != before


def test_identity_import_twice_is_one_import(cli, catalog_path, artifacts):
    args = ("identity", "import", artifacts / "ohlora_z_vectors.csv", "--groups", artifacts / "ohlora_w_group_names.csv")
    first = cli(*args).stdout
    before = dump(catalog_path)
    again = cli(*args).stdout
    assert first.startswith("imported 19 identities: ") and again.startswith("the catalog already holds these 19 "
                                                                            "identities (")
    assert dump(catalog_path) == before


def test_export_csv_roundtrips_and_npy_is_interfacegan_shaped(cli, catalog_path, tmp_path, artifacts):
    cli("vectorfind", "import-seed", artifacts / "v8_vectors")
    assert cli("vectorfind", "export", "seed-v8", "--out", "csv", "--format", "csv").stdout == "wrote 48 csv files to csv\n"
    exported = np.array([float(x) for x in list(csv.reader(open(tmp_path / "csv" / "pose_change_w_vector_lhhl.csv")))[1][1:]])
    assert np.array_equal(exported.astype(np.float32), seed_vector(artifacts, "pose", "lhhl"))
    cli("vectorfind", "import-seed", "csv", "--name", "again")
    a, b = stored(catalog_path, "seed-v8"), stored(catalog_path, "again")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    cli("vectorfind", "export", "seed-v8", "--out", "npy")
    v = np.load(tmp_path / "npy" / "mouth_hlhl.npy")
    assert v.shape == (1, 512) and v.dtype == np.float32 and abs(np.linalg.norm(v) - 1) < 1e-5
    assert np.array_equal(v[0], a[("mouth", "hlhl")])
    cli("vectorfind", "import-npy", *sorted((tmp_path / "npy").glob("*.npy")), "--name", "ifg")
    c = stored(catalog_path, "ifg")
    assert c.keys() == a.keys() and all(np.allclose(c[k], a[k], atol=1e-7) for k in a)
    assert "ifg                  imported   generator tiny  48 directions, 16 groups" in cli("vectorfind", "list").stdout


def test_identities_import(cli, catalog_path, artifacts):
    r = cli("identity", "import", artifacts / "ohlora_z_vectors.csv", "--groups", artifacts / "ohlora_w_group_names.csv")
    assert r.stdout == "imported 19 identities: seed-v8-83 .. seed-v8-1996\n"
    with open(artifacts / "ohlora_z_vectors.csv") as f:
        first = np.array([float(x) for x in list(csv.reader(f))[1]], np.float32)
    with sqlite3.connect(catalog_path) as conn:
        z, label, group = conn.execute("select z, label, group_name from identities where name='seed-v8-83'").fetchone()
    assert np.array_equal(decode(z, 512), first[:512]) and np.array_equal(decode(label, 7), first[512:])
    assert group == "lhlh"
    assert cli("identity", "list").stdout.startswith("seed-v8-83           z512+7  group lhlh\n")


@pytest.mark.parametrize("content,message", [
    ("0,1\n1.0,2.0\n", "row 1 has 2 columns, expected 519. Each row must be z ‖ label, e.g. 519 columns for z512 + 7 labels"),
    (",".join(["0.1"] * 518 + ["abc"]) + "\n", "row 1 column 518 has a non-numeric cell 'abc'. Every value must be a number"),
])
def test_bad_z_csv(cli, catalog_path, tmp_path, content, message):
    (tmp_path / "z.csv").write_text(content)
    r = cli("identity", "import", tmp_path / "z.csv", ok=False)
    assert r.exit_code == 1 and r.stderr.endswith(f"\nError: {tmp_path / 'z.csv'} {message}\n")
    r = cli("synth", "--z-csv", tmp_path / "z.csv", ok=False)
    assert r.stderr == f"Error: {tmp_path / 'z.csv'} {message}\n"


def test_bad_direction_files(cli, tmp_path, catalog_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "eyes_change_w_vector_hhhh.csv").write_text(",0,1\n0,0.5,0.5\n")
    r = cli("vectorfind", "import-seed", tmp_path / "d", ok=False)
    assert r.stderr.endswith(f"Error: {tmp_path / 'd' / 'eyes_change_w_vector_hhhh.csv'} must hold a header and one "
                             "row of 512 values, found 1 row(s) of 2. Pass the original's property_score_vectors folder\n")
    row = ",".join(["0"] + ["0.1"] * 512)
    (tmp_path / "d" / "eyes_change_w_vector_hhhh.csv").write_text("," + ",".join(map(str, range(512))) + "\n" + row + "\n")
    r = cli("vectorfind", "import-seed", tmp_path / "d", ok=False)
    assert r.stderr.endswith("is not a unit vector (norm 2.262742). The seed's vectors are unit-norm\n")
    r = cli("vectorfind", "import-seed", tmp_path / "empty", ok=False)
    assert r.stderr.endswith(f"Error: {tmp_path / 'empty'} is not a folder. Pass the folder holding *_change_w_vector_*.csv\n")
    np.save(tmp_path / "bad name.npy", np.ones((1, 512)))
    r = cli("vectorfind", "import-npy", tmp_path / "bad name.npy", "--name", "x", ok=False)
    assert r.stderr.endswith("Error: bad name.npy is not named PROPERTY.npy or PROPERTY_GROUP.npy. "
                             "Name files like eyes.npy or eyes_hhhh.npy\n")
    r = cli("vectorfind", "export", "nope", "--out", "x", ok=False)
    assert r.stderr.endswith("Error: no direction set named 'nope'. Known sets: none (import with `ohlora vectorfind import-seed`)\n")
