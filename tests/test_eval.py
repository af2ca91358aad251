"""``ohlora eval``: the 50-image protocol, its metrics, outputs, catalog rows and bad input."""

from __future__ import annotations

import csv
import json
import re
import sqlite3

import numpy as np
import pytest

from ohlora_cli.stages.evaluate import (
    MethodResult,
    case_metrics,
    edit_grid,
    effect_sizes,
    identity_drift,
    pass_rate_chart,
    passes,
    pearson,
    summarise,
    verdict,
)
from tests.conftest import dump


def test_grid_is_the_originals():
    g = edit_grid()
    assert g.shape == (50, 3)
    # mouth is the outer loop, then eyes, then pose
    assert g[:10].tolist() == [[e, -1.8, p] for e in (-1.2, 1.2) for p in (-1.8, -1.2, -0.6, 0.0, 0.6)]
    assert sorted(set(g[:, 1].tolist())) == [-1.8, -0.9, 0.0, 0.9, 1.8]


def test_metrics_and_pass_rule():
    g = edit_grid()
    rng = np.random.default_rng(0)
    measured = {"eyes": 2 * g[:, 0] + 0.01 * rng.standard_normal(50), "mouth": -g[:, 1],
                "pose": g[:, 2] + 0.1 * g[:, 0], "hair_color": np.ones(50), "hairstyle": g[:, 1]}
    m = case_metrics(g, measured)
    assert m["r_eyes"] > 0.999 and m["r_mouth"] == pytest.approx(-1.0)
    assert m["off_mouth_hairstyle"] == pytest.approx(1.0) and np.isnan(m["off_eyes_hair_color"])
    assert m["r_pose"] == pytest.approx(pearson(g[:, 2], g[:, 2] + 0.1 * g[:, 0]))
    assert passes(m)  # |r| counts: a negative r passes too (the original's sign issue)
    assert not passes({**m, "r_pose": 0.87})
    assert not passes({**m, "r_eyes": float("nan")})
    assert passes({**m, "r_pose": 0.87}, (0.9, 0.9, 0.8))


def test_effect_size_tells_a_big_side_effect_from_a_small_one():
    g = edit_grid()
    spread = {"eyes": 0.5, "mouth": 1.0, "pose": 1.0, "hair_color": 2.0, "hairstyle": 1.0}
    measured = {"eyes": 0.25 * g[:, 0], "mouth": g[:, 1], "pose": g[:, 2], "hair_color": 0.01 * g[:, 1], "hairstyle": 0.5 * g[:, 1] + 3.0}
    eff = effect_sizes(g, measured, spread)
    # eyes: slope 0.25 over the range 2.4 = 0.6, in units of its spread 0.5
    assert eff["eff_eyes_eyes"] == pytest.approx(1.2)
    # both side effects of the mouth edit are perfectly correlated (|r| = 1) but differ 100-fold in size
    r = case_metrics(g, measured)
    assert r["off_mouth_hair_color"] == pytest.approx(1.0) and r["off_mouth_hairstyle"] == pytest.approx(1.0)
    assert eff["eff_mouth_hair_color"] == pytest.approx(0.01 * 3.6 / 2.0)
    assert eff["eff_mouth_hairstyle"] == pytest.approx(0.5 * 3.6 / 1.0)
    assert eff["eff_pose_hairstyle"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(effect_sizes(g, measured, {**spread, "eyes": 0.0})["eff_eyes_eyes"])
    rows = [{**r, **eff, "passed": False, "group": "all", "drift": 0.0}]
    sm = summarise(rows)
    assert sm["on_target_effect"]["eyes"] == pytest.approx(1.2)
    assert sm["effect_matrix"]["mouth"]["hairstyle"] == pytest.approx(1.8)


def _method(label, method, rates, drift=0.02, off=0.3, side=0.1):
    """A MethodResult with one case per ``rates`` entry (r of eyes, mouth, pose)."""
    rows = []
    for k, (e, m, p) in enumerate(rates):
        r = {"r_eyes": e, "r_mouth": m, "r_pose": p, "group": "hl" if k % 2 else "lh", "drift": drift}
        r.update({f"off_{a}_{b}": off for a in ("eyes", "mouth", "pose") for b in ("hair_color", "hairstyle")})
        r.update({f"eff_{a}_{b}": side for a in ("eyes", "mouth", "pose") for b in ("hair_color", "hairstyle")})
        r.update({f"eff_{a}_{a}": 2.0 if a != "eyes" else 1.0 for a in ("eyes", "mouth", "pose")})
        rows.append({**r, "passed": passes(r)})
    return MethodResult(label, label, method, None, rows, summarise(rows))


def test_verdict_names_the_best_and_what_it_loses():
    svm = _method("svm", "svm", [(0.8, 0.95, 0.95), (0.93, 0.95, 0.95)])
    new = _method("new", "projected", [(0.95, 0.96, 0.96), (0.90, 0.96, 0.96)], drift=0.01, off=0.2, side=0.05)
    text = verdict([svm, new])
    assert text.startswith("**`new` does best** of 2 methods on these 2 cases: it passes 50.0% (1/2), with mean |r| "
                           "eyes .925, mouth .960, pose .960.")
    assert "better on 6 of 7 measures and not on pass rate (50.0% vs 50.0%)" in text
    assert "Of its 1 failing case, 1 misses the eyes threshold (|r| < 0.92): eyes limits it. Why: its edit moves "\
           "eyes least" in text
    assert "The runner-up, `svm`, passes 50.0% (0.0 points fewer)." in text
    better = _method("new", "projected", [(0.95, 0.96, 0.96)] * 2, drift=0.01, off=0.2, side=0.05)
    assert "it is better on every measure of the protocol" in verdict([svm, better])
    assert "Every case passes." in verdict([svm, better])
    categories, series = pass_rate_chart([svm, better])
    assert categories == ["hl", "lh", "all"] and series == {"svm": [1.0, 0.0, 0.5], "new": [1.0, 1.0, 1.0]}


def test_drift_only_counts_the_mask():
    base = np.zeros((4, 4, 3), np.uint8)
    edited = np.zeros((2, 4, 4, 3), np.uint8)
    edited[:, :2] = 255  # top half changed
    mask = np.zeros((4, 4), bool)
    mask[2:] = True
    assert identity_drift(base, edited, mask) == 0.0
    mask[:] = True
    assert identity_drift(base, edited, mask) == pytest.approx(0.5)
    assert np.isnan(identity_drift(base, edited, np.zeros((4, 4), bool)))


def test_summary_by_group():
    rows = [{"r_eyes": 0.95, "r_mouth": -0.9, "r_pose": 0.9, "passed": True, "group": "hl", "drift": 0.1},
            {"r_eyes": 0.5, "r_mouth": 0.2, "r_pose": float("nan"), "passed": False, "group": "lh", "drift": 0.3}]
    sm = summarise(rows)
    assert sm["mean_abs_r_eyes"] == pytest.approx(0.725) and sm["mean_abs_r_pose"] == pytest.approx(0.9)
    assert sm["pass_rate"] == 0.5 and sm["pass_rate_by_group"] == {"hl": 1.0, "lh": 0.0}
    assert sm["drift_mean"] == pytest.approx(0.2)


@pytest.fixture
def directions(built_catalog):
    built_catalog(["generate", "--n", "64", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                  ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
                  ["vectorfind", "--method", "global", "--name", "glob", "--quiet"])


def test_eval_compares_methods_on_the_same_cases(cli, directions, tmp_path, catalog_path):
    r = cli("eval", "--cases", "2", "--compare", "svm,glob,svm@0-1", "--out", "ev")
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["method", "|r|", "eyes", "mouth"]
    assert [line.split()[0] for line in lines[1:4]] == ["svm", "glob", "svm@0-1"]
    assert "evaluated 2 cases of tiny with parser-synthetic/fixed" in lines[4]
    out = tmp_path / "ev"
    for name in ("report.md", "test_statistics.csv", "methods.png", "pass_rate_by_group.png", "test_result_svm.csv",
                 "test_result_svm_0-1.csv", "scatter_glob.png"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "test_result_svm.csv")))
    assert list(rows[0])[:8] == ["case", "vector_no", "passed", "group_name", "eyes_corr", "mouth_corr", "pose_corr",
                                 "sum_abs_corr"]
    assert [r["source"] for r in rows] == ["seed:5000000", "seed:5000001"]
    assert {r["group_name"] for r in rows} <= {"h", "l"}
    glob = list(csv.DictReader(open(out / "test_result_glob.csv")))
    assert {r["group_name"] for r in glob} == {"all"}
    stats = list(csv.DictReader(open(out / "test_statistics.csv")))
    assert [s["method"] for s in stats] == ["svm", "glob", "svm@0-1"]
    with sqlite3.connect(catalog_path) as conn:
        evals = conn.execute("select method, scorer, summary_json from evaluations order by id").fetchall()
        n_cases = conn.execute("select count(*) from evaluation_cases").fetchone()[0]
    assert [e[0] for e in evals] == ["svm", "glob", "svm@0-1"] and n_cases == 6
    summary = json.loads(evals[0][2])
    assert summary["cases"] == 2 and set(summary["off_target_matrix"]) == {"eyes", "mouth", "pose"}
    assert set(summary["effect_matrix"]) == {"eyes", "mouth", "pose"} and "off_target_effect_mean_abs" in summary
    assert "eff_mouth_hairstyle" in rows[0] and "off_target_effect_mean_abs" in stats[0]
    report = (out / "report.md").read_text()
    assert "Effect sizes" in report
    # the report opens with a verdict naming the best method by the numbers it printed
    first = report.split("\n\n")[1]
    best = max(stats, key=lambda s: (float(s["passed_ratio"]), np.mean([float(s[f"{p}_corr_mean"]) for p in
                                                                        ("eyes", "mouth", "pose")])))
    assert first.startswith(f"**`{best['method']}` does best** of 3 methods on these 2 cases: it passes ")
    # every picture it embeds (relative links) is there
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert {"methods.png", "pass_rate_by_group.png", "scatter_svm.png", "scatter_glob.png"} <= set(pictures)
    assert all((out / p).is_file() for p in pictures)
    # the per-group picture's numbers: each method's rate per group, then 'all' = its overall pass rate
    plotted = list(csv.DictReader(open(out / "pass_rate_by_group.csv")))
    assert plotted[-1]["group"] == "all" and {r["group"] for r in plotted[:-1]} <= {"h", "l", "all"}
    assert [float(plotted[-1][s["method"]]) for s in stats] == [float(s["passed_ratio"]) for s in stats]
    # a layer-restricted edit changes the images less outside the face than ... at least differently
    assert stats[0]["drift_mean"] != stats[2]["drift_mean"]


@pytest.mark.parametrize("args, message", [
    (("--compare", "nope"), "Error: no direction set or method named 'nope' for tiny."),
    (("--compare", "svm", "--directions", "glob"), "Error: --compare and --directions exclude each other"),
    (("--pass", "0.9,x"), "Error: --pass"),
    (("--pass", "0.9,0.9"), "Error: --pass needs three thresholds in [0, 1]"),
    (("--cases", "0"), "Error: --cases must be between 1 and 2,000, got 0"),
    (("--scorer", "cnn-filter/synthetic"), "Error: scorer cnn-filter/synthetic does not measure eyes"),
    (("--scorer", "oracle"), "Error: --scorer 'oracle' is not a scorer id"),
])
def test_bad_input(cli, directions, catalog_path, args, message):
    before = dump(catalog_path)
    r = cli("eval", "--cases", "1", *args, ok=False)
    assert r.exit_code == 1 and r.stderr.startswith(message), r.stderr
    assert dump(catalog_path) == before
