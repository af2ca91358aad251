"""Direction finding: the math on planted directions, and ``ohlora vectorfind`` on the catalog."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from conftest import dump

from ohlora_cli.catalog.vectors import decode
from ohlora_cli.directions import (
    all_groups,
    choose_layer_blocks,
    extremes,
    group_names,
    layer_blocks,
    orthogonalize,
    project_off,
    regression_direction,
    svm_direction,
)
from ohlora_cli.edits import edit_wp


def planted(n=600, d=32, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    w = rng.standard_normal((n, d)).astype(np.float32)
    return w, w @ u + 0.1 * rng.standard_normal(n), u


def test_svm_recovers_a_planted_direction_with_positive_orientation():
    w, scores, u = planted()
    d = svm_direction(w, scores, ratio=0.2, seed=1)
    assert abs(np.linalg.norm(d.vector) - 1) < 1e-5
    assert float(d.vector @ u) > 0.9  # + increases the property
    assert d.metrics["k"] == 120 and d.metrics["val_accuracy"] > 0.9
    assert np.array_equal(svm_direction(w, scores, seed=1).vector, d.vector)


def test_regression_and_orthogonalize():
    w, scores, u = planted(seed=2)
    assert float(regression_direction(w, scores).vector @ u) > 0.95
    u3 = np.random.default_rng(0).standard_normal((3, 8))
    v = orthogonalize(u3)
    cross = v @ u3.T  # each conditional direction is orthogonal to the *other* original directions
    assert np.allclose(cross[~np.eye(3, dtype=bool)], 0, atol=1e-5)
    assert np.allclose(np.linalg.norm(v, axis=1), 1) and (np.diag(cross) > 0).all()


def test_project_off_keeps_the_others_still():
    rng = np.random.default_rng(3)
    v, others = rng.standard_normal(16), rng.standard_normal((5, 16))
    d = project_off(v, others)
    assert abs(np.linalg.norm(d.vector) - 1) < 1e-6 and float(d.vector @ v) > 0  # unit, + still increases
    assert np.allclose(others @ d.vector, 0, atol=1e-5)  # no other direction's score moves
    assert d.metrics["projected_off"] == 5 and 0 < d.metrics["kept"] < 1
    assert np.allclose(project_off(v, np.zeros((0, 16))).vector, v / np.linalg.norm(v), atol=1e-6)
    with pytest.raises(ValueError, match="span of the off-target directions"):
        project_off(others[0] + others[1], others)


def test_layer_blocks_and_the_higan_rule():
    assert layer_blocks(10) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)] and layer_blocks(5)[-1] == (4,)
    on, off = np.array([1.0, 0.8, 0.3, 0.05, 0.4]), np.array([0.1, 0.2, 0.1, 0.01, 0.9])
    # block 3 responds too little (< 0.2 of the best), block 4 moves the others more than the property
    assert choose_layer_blocks(on, off) == [0, 1, 2]
    assert choose_layer_blocks(on, off, share=0.9) == [0]
    assert choose_layer_blocks(-on, off) == [int(np.argmax(-on))]  # nothing qualifies: the strongest block stays


def test_edit_wp_gives_each_direction_its_layers():
    w, d, s = np.zeros(4), np.eye(4)[:2], np.array([[1.0, 2.0]])
    wp = edit_wp(w, d, s, 3, direction_layers=[(0,), None])
    assert wp[0].tolist() == [[1, 2, 0, 0], [0, 2, 0, 0], [0, 2, 0, 0]]
    assert np.array_equal(edit_wp(w, d, s, 3, direction_layers=[None, None]), edit_wp(w, d, s, 3))
    # an explicit layer list (--layers, eval's @0-1) is applied to every direction instead
    assert edit_wp(w, d, s, 3, (1,), direction_layers=[(0,), None])[0].tolist() == [[0] * 4, [1, 2, 0, 0], [0] * 4]


def test_groups_and_extremes():
    assert all_groups(2) == ["hh", "hl", "lh", "ll"] and len(all_groups(4)) == 16 and all_groups(4)[-1] == "llll"
    assert list(group_names(np.array([[1.0, -1.0], [0.0, 0.0]]), np.array([0.0, 0.0]))) == ["hl", "hh"]
    top, bottom = extremes(np.array([5.0, 1.0, 3.0, 2.0, 4.0]), 0.4)
    assert list(top) == [0, 4] and list(bottom) == [1, 3]
    with pytest.raises(ValueError, match="too few"):
        svm_direction(np.zeros((3, 4), np.float32), np.arange(3.0))


@pytest.fixture
def scored(built_catalog):
    built_catalog(["generate", "--n", "160"], ["score", "--scorers", "parser"])


def test_vectorfind_stores_grouping_and_unit_directions(cli, scored, catalog_path):
    r = cli("vectorfind", "--groups", "4")
    assert r.stdout.startswith("found 12 directions (svm) for tiny from 160 samples in 4 groups (sizes ")
    assert r.stdout.splitlines()[0].endswith("; set svm-tiny")
    with sqlite3.connect(catalog_path) as conn:
        opts = json.loads(conn.execute("select options_json from direction_sets where name='svm-tiny'").fetchone()[0])
        dirs = conn.execute("select property, group_name, vector, metrics_json from directions").fetchall()
        members = conn.execute("select group_name, count(*) from group_members group by group_name").fetchall()
    assert opts["group_by"] == ["hair_color", "hair_length"] and opts["scorer"] == "parser-synthetic/fixed"
    assert len(dirs) == 12 and {g for _, g, _, _ in dirs} == {"hh", "hl", "lh", "ll"}
    assert all(abs(np.linalg.norm(decode(v, 512)) - 1) < 1e-5 for _, _, v, _ in dirs)
    assert sum(c for _, c in members) == 160
    assert all("val_accuracy" in json.loads(m) for *_, m in dirs)
    r = cli("synth", "--seed", "3", "--eyes", "1.5", "--out", "e.png")
    assert "directions svm-tiny/" in r.stdout


def test_projected_with_layers_chosen_by_rescoring(cli, scored, catalog_path):
    r = cli("vectorfind", "--method", "projected", "--no-calibrate")  # one group; --layers auto by default
    assert r.stdout.startswith("found 3 directions (projected) for tiny from 160 samples in 1 groups")
    with sqlite3.connect(catalog_path) as conn:
        opts = json.loads(conn.execute("select options_json from direction_sets where name='projected-tiny'")
                          .fetchone()[0])
        dirs = conn.execute("select d.property, d.group_name, d.vector, d.metrics_json from directions d join "
                            "direction_sets s on s.id = d.set_id where s.name='projected-tiny'").fetchall()
    assert opts["off_target"] == ["hair_color", "hair_length", "background_mean", "hairstyle"]
    assert opts["layers"] == "auto" and opts["group_by"] == []
    vec = {p: decode(v, 512) for p, g, v, _ in dirs}
    met = {p: json.loads(m) for p, g, _, m in dirs}
    assert {g for _, g, _, _ in dirs} == {"all"}
    assert {m["projected_off"] for m in met.values()} == {6}  # the other 2 found properties + 4 off-target ones
    assert abs(float(vec["eyes"] @ vec["mouth"])) < 0.2  # each is orthogonal to the others' unprojected directions
    for p in ("eyes", "mouth", "pose"):
        assert set(met[p]["layers"]) <= set(range(8)) and met[p]["layers"]  # tiny has 8 W+ layers
        assert set(met[p]["layer_response"]) == {"0-1", "2-3", "4-5", "6-7"}
    r = cli("eval", "--cases", "1", "--compare", "projected-tiny", "--out", "ev")
    assert r.stdout.splitlines()[1].startswith("projected-tiny")


@pytest.mark.parametrize("args,message", [
    (["--groups", "6"], "--groups must be a power of two, got 6. Pass e.g. --groups 16"),
    (["--groups", "16"], "group hhlh has 4 samples, too few for two classes of at least 2 at ratio 0.2. "
                         "Generate and score more images, or use fewer --groups"),
    (["--groups", "4", "--group-by", "eyes"], "--groups 4 needs 2 group-by properties, got 1 (eyes). Pass --groups 2"),
    (["--method", "magic"], "unknown method 'magic'. Use one of: svm, global, conditional, regression, projected"),
    (["--properties", "smile"], "unknown property 'smile' in --properties. Known properties: eyes, hair_color, "
     "hair_length, mouth, pose, background_mean, background_std, hairstyle, gender, quality, age, glass"),
    (["--ratio", "0.7"], "--ratio must be in (0, 0.5], got 0.7. Pass e.g. --ratio 0.2"),
])
def test_vectorfind_bad_input(cli, scored, catalog_path, args, message):
    before = dump(catalog_path)
    r = cli("vectorfind", *args, ok=False)
    assert r.exit_code == 1 and r.stderr == f"Error: {message}\n"
    assert dump(catalog_path) == before


def test_cutoff_csv_and_nan_scores(cli, scored, catalog_path, tmp_path, artifacts):
    cli("vectorfind", "--groups", "2", "--cutoffs", artifacts / "property_scores_mean_and_median.csv", "--name", "c")
    with sqlite3.connect(catalog_path) as conn:
        opts = json.loads(conn.execute("select options_json from direction_sets where name='c'").fetchone()[0])
    assert opts["cutoffs"] == {"hair_color": -0.4574}
    (tmp_path / "bad.csv").write_text("value_type,hair_color\nmedian,0.1\n")
    r = cli("vectorfind", "--groups", "4", "--cutoffs", tmp_path / "bad.csv", ok=False)
    assert r.stderr == (f"Error: {tmp_path / 'bad.csv'} has no column for hair_length. Columns: hair_color, "
                        "hair_length, background_score (or background_mean), hairstyle\n")
    with sqlite3.connect(catalog_path) as conn:
        conn.execute("update scores set value = 'nan' where image_id = 1 and property = 'eyes'")
    r = cli("vectorfind", "--groups", "2", "--name", "n", ok=False)
    assert r.stderr == ("Error: scorer parser-synthetic/fixed has NaN or infinite scores. Rescore with "
                        "`ohlora score`\n")


def test_directions_of_another_generator_are_refused(cli, scored, tmp_path):
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.checkpoints import load_checkpoint, save_checkpoint

    cli("vectorfind", "--groups", "2")
    G = load_checkpoint(embedded_generators()["tiny"].path).build_generator()
    G.truncation.w_avg.add_(1.0)
    save_checkpoint(tmp_path / "other.pt", G)
    r = cli("synth", "--model", tmp_path / "other.pt", "--seed", "1", "--eyes", "1", "--directions", "svm-tiny",
            ok=False)
    assert r.stderr == ("Error: direction set svm-tiny was found for generator tiny, not other. "
                        "Pass --directions with a set of this generator\n")


def test_expression_motion_follows_the_original_ramp():
    from ohlora_cli.motion import expression_track, ramp

    c = ramp()
    assert len(c) == 70 and c[0] == 0 and np.all(c[30:40] == 1) and c[40] == 1 and c[-1] < 0.02
    assert np.all(np.diff(c[:30]) > 0) and np.all(np.diff(c[40:]) < 0)
    track = expression_track([{"mouth": 1.8}, {"pose": -1.2}], idle_frames=10, seed=1, blinks=False)
    assert track.shape == (10 + 2 * (70 + 10), 3)
    peak = track[10 + 35]
    assert peak[1] == pytest.approx(1.8)
    assert abs(track[:10, 0] - 0.2).max() <= 0.25 and abs(track[:10, 1] - 1.0).max() <= 0.15
    assert np.array_equal(track, expression_track([{"mouth": 1.8}, {"pose": -1.2}], idle_frames=10, seed=1,
                                                  blinks=False))
    blinking = expression_track([], idle_frames=2000, seed=3)
    assert (blinking[:, 0] < 0.2 - 0.25 - 1.0).sum() > 10  # blinks occur, and close the eyes
