"""Calibrated units: the fit (pure), ``vectorfind`` storing it, ``vectorfind calibrate``, and ``synth --units sigma``
(the same pixels as the converted raw scale), the animation's blinks, and the studio's units."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, assert_unchanged, catalog_rows

from ohlora_cli.calibration import (
    Calibration,
    beyond_range,
    fit_calibration,
    from_metrics,
    scales_for,
    to_raw,
)

# tests/test_eval.py's catalog (the session cache is shared): 64 tiny images, parser scores, two sets
DIRS = (["generate", "--n", "64", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
        ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
        ["vectorfind", "--method", "global", "--name", "glob", "--quiet"])


# ---------------------------------------------------------------- the fit (pure)


def test_fit_recovers_a_planted_slope_whatever_each_image_starts_from():
    rng = np.random.default_rng(0)
    scales = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    base = rng.normal(0, 5, size=(8, 1))  # every image has its own value at scale 0
    measured = base + 0.4 * 3.0 * scales[None] + rng.normal(0, 0.01, size=(8, 5))  # 0.4 σ per unit, σ = 3
    cal = fit_calibration(scales, measured, 3.0)
    assert cal.sigma_per_unit == pytest.approx(0.4, abs=0.005) and cal.r > 0.999
    assert cal.scale_range == (-2.0, 2.0) and cal.images == 8 and cal.usable
    flipped = fit_calibration(scales, -measured, 3.0)
    assert flipped.sigma_per_unit == pytest.approx(-0.4, abs=0.005) and not flipped.usable


@pytest.mark.parametrize("measured,sigma,images", [
    (np.full((4, 3), np.nan), 1.0, 0),  # every image unmeasured
    (np.ones((4, 3)), 0.0, 4),  # no spread in the population
    (np.ones((4, 3)), float("nan"), 4),
])
def test_fit_without_a_measure_is_nan(measured, sigma, images):
    cal = fit_calibration(np.array([-1.0, 0.0, 1.0]), measured, sigma)
    assert math.isnan(cal.sigma_per_unit) and math.isnan(cal.r) and cal.images == images and not cal.usable


def test_fit_leaves_out_unmeasured_images_and_a_flat_response_has_no_r():
    scales = np.array([-1.0, 0.0, 1.0])
    measured = np.array([[0.0, 1.0, 2.0], [np.nan, 0.0, 1.0], [5.0, 6.0, 7.0]])
    cal = fit_calibration(scales, measured, 2.0)
    assert cal.images == 2 and cal.sigma_per_unit == pytest.approx(0.5) and cal.r == pytest.approx(1.0)
    flat = fit_calibration(scales, np.ones((3, 3)), 1.0)
    assert flat.sigma_per_unit == 0.0 and math.isnan(flat.r) and not flat.usable


def test_metrics_round_trip_conversion_and_range():
    cal = Calibration(0.5, 0.9876, (-2.4, 2.4), 8)
    m = cal.to_metrics()
    assert m == {"sigma_per_unit": 0.5, "calibration_r": 0.9876, "calibrated_range": [-2.4, 2.4],
                 "calibration_images": 8}
    assert from_metrics(json.loads(json.dumps(m))) == cal
    assert from_metrics({}) is None and from_metrics(None) is None and from_metrics({"val_accuracy": 1}) is None
    assert math.isnan(from_metrics(Calibration(float("nan"), float("nan"), (-1, 1)).to_metrics()).sigma_per_unit)
    assert np.allclose(to_raw(np.array([[1.0, -2.0]]), np.array([0.5, 0.8])), [[2.0, -2.5]])
    assert not beyond_range(3.6, cal) and beyond_range(3.61, cal) and beyond_range(-3.7, cal)
    assert list(scales_for("eyes")) == [-2.4, -1.2, 0.0, 1.2, 2.4] and 0.0 in scales_for("hair_color")


# ---------------------------------------------------------------- vectorfind stores it


def _metrics(path, name):
    with sqlite3.connect(path) as conn:
        return {(p, g): json.loads(m) for p, g, m in conn.execute(
            "select property, group_name, metrics_json from directions join direction_sets "
            "on direction_sets.id = directions.set_id where direction_sets.name = ?", (name,))}


def test_vectorfind_stores_a_calibration_per_direction(built_catalog, catalog_path):
    built_catalog(*DIRS)
    for name, groups in (("svm-tiny", {"h", "l"}), ("glob", {"all"})):
        metrics = _metrics(catalog_path, name)
        assert {g for _, g in metrics} == groups and len(metrics) == 3 * len(groups)
        for (prop, _), m in metrics.items():
            assert math.isfinite(m["sigma_per_unit"]) and math.isfinite(m["calibration_r"]), m
            assert m["calibrated_range"] == [float(scales_for(prop)[0]), float(scales_for(prop)[-1])]
            assert m["calibration_images"] == 8 and m["calibration_scorer"] == "parser-synthetic/fixed"
            assert "val_accuracy" in m  # the finding's own metrics are kept
    assert _metrics(catalog_path, "svm-tiny")[("eyes", "h")]["calibration_samples"] == "the set's groups"


def test_vectorfind_says_what_the_calibration_found_and_no_calibrate_skips_it(cli, built_catalog, catalog_path):
    built_catalog(*DIRS[:2])
    r = cli("vectorfind", "--groups", "2", "--group-by", "hair_color", "--name", "a")
    line = r.stdout.splitlines()[-1]
    assert line.startswith("calibrated 6 directions on 208 images in ") and line.endswith(" (mean over 2 groups)")
    assert " s: one unit moves eyes " in line and "σ, mouth " in line
    cli("vectorfind", "--groups", "2", "--group-by", "hair_color", "--name", "b", "--no-calibrate")
    assert all("sigma_per_unit" not in m for m in _metrics(catalog_path, "b").values())
    assert "calibrated" not in cli("vectorfind", "--groups", "2", "--group-by", "hair_color", "--name", "b",
                                   "--no-calibrate").stdout.split("nothing to do")[-1]
    listed = cli("vectorfind", "list").stdout
    assert "2 groups, calibrated" in listed and "2 groups, not calibrated" in listed
    # the same directions, calibrated afterwards, get the same figures (one fixed draw of images)
    r = cli("vectorfind", "calibrate", "b")
    assert r.stdout.startswith("calibrated 6 directions on 208 images in ")
    assert _metrics(catalog_path, "b") == {k: {**m} for k, m in _metrics(catalog_path, "a").items()}


def test_calibrate_is_resumable_and_a_rerun_has_nothing_to_do(cli, built_catalog, catalog_path):
    built_catalog(*DIRS)
    before = catalog_rows(catalog_path)
    r = cli("vectorfind", "calibrate", "svm-tiny")
    assert r.stdout == ("direction set svm-tiny: all 6 directions are calibrated already; nothing to do "
                        "(--replace recalibrates)\n")
    assert_unchanged(before, catalog_rows(catalog_path))
    full = _metrics(catalog_path, "svm-tiny")
    with sqlite3.connect(catalog_path) as conn:  # as if killed after the first group
        for (prop, group), m in full.items():
            if group == "l":
                kept = {k: v for k, v in m.items() if not k.startswith("calibrat") and k != "sigma_per_unit"}
                conn.execute("update directions set metrics_json = ? where property = ? and group_name = ? and "
                             "set_id = (select id from direction_sets where name = 'svm-tiny')",
                             (json.dumps(kept), prop, group))
    r = cli("vectorfind", "calibrate", "svm-tiny")
    assert r.stdout.startswith("calibrated 3 directions on 104 images in ")
    assert _metrics(catalog_path, "svm-tiny") == full
    assert cli("vectorfind", "calibrate", "svm-tiny", "--replace").stdout.startswith("calibrated 6 directions")
    assert _metrics(catalog_path, "svm-tiny") == full  # deterministic


def test_calibrate_an_import_with_the_generator_named(cli, built_catalog, catalog_path, tmp_path):
    built_catalog(*DIRS)
    for i, prop in enumerate(("eyes", "mouth")):
        v = np.zeros((1, 512), np.float32)
        v[0, i] = 1.0
        np.save(tmp_path / f"{prop}.npy", v)
    cli("vectorfind", "import-npy", tmp_path / "eyes.npy", tmp_path / "mouth.npy", "--name", "unit")
    r = cli("vectorfind", "calibrate", "unit", "--model", "tiny")
    assert r.stdout.startswith("calibrated 2 directions on 72 images in ")
    assert {m["calibration_samples"] for m in _metrics(catalog_path, "unit").values()} == {"all images"}
    r = cli("vectorfind", "calibrate", "svm-tiny", "--model", "synthetic-base", ok=False)
    assert_one_line_error(r, "Error: direction set svm-tiny was found for generator tiny, not synthetic-base. "
                             "Leave out --model (the set is calibrated on tiny)")


# ---------------------------------------------------------------- synth --units sigma


@pytest.fixture
def calibrated_unit(built_catalog, _catalog_store, catalog_path):
    """3 tiny images and an ungrouped 'unit' set (eyes = e0, mouth = e1, pose = e2) with planted
    calibrations: eyes 0.4 σ per unit, mouth 0.8, pose 0.5 (each calibrated on ±2.4)."""
    folder = _catalog_store["root"] / "unit-directions"
    folder.mkdir(exist_ok=True)
    for i, prop in enumerate(("eyes", "mouth", "pose")):
        v = np.zeros((1, 512), np.float32)
        v[0, i] = 1.0
        np.save(folder / f"{prop}.npy", v)
    built_catalog(["generate", "--n", "3"],
                  ["vectorfind", "import-npy", *(str(folder / f"{p}.npy") for p in ("eyes", "mouth", "pose")),
                   "--name", "unit"])
    with sqlite3.connect(catalog_path) as conn:
        for prop, spu, r in (("eyes", 0.4, 0.99), ("mouth", 0.8, 0.97), ("pose", 0.5, 0.9)):
            cal = Calibration(spu, r, tuple(float(s) for s in scales_for(prop)[[0, -1]]), 8).to_metrics()
            conn.execute("update directions set metrics_json = ? where property = ?", (json.dumps(cal), prop))
    return catalog_path


def test_sigma_units_are_the_converted_raw_scale(cli, calibrated_unit, tmp_path):
    r = cli("synth", "--image", "1", "--units", "sigma", "--eyes", "1", "--mouth", "-1", "--out", "s.png")
    assert r.stdout.startswith("wrote s.png (1 image, image 1 (seed 0), tiny directions unit/all, σ units (1σ = "
                               "eyes 2.5, mouth 1.25 raw)) in ")
    r = cli("synth", "--image", "1", "--eyes", repr(1 / 0.4), "--mouth", repr(-1 / 0.8), "--out", "r.png")
    assert "directions unit/all, raw units) in " in r.stdout
    assert (tmp_path / "s.png").read_bytes() == (tmp_path / "r.png").read_bytes()
    cli("synth", "--seed", "4", "--units", "sigma", "--sweep", "eyes=-1:1:3", "--out", "ss.png")
    cli("synth", "--seed", "4", "--sweep", f"eyes={-1 / 0.4!r}:{1 / 0.4!r}:3", "--out", "sr.png")
    assert (tmp_path / "ss.png").read_bytes() != (tmp_path / "sr.png").read_bytes()  # the captions differ ...
    from ohlora_cli.images import load_png

    a, b = load_png(tmp_path / "ss.png"), load_png(tmp_path / "sr.png")
    assert a.shape == b.shape and np.array_equal(a[2:98, 64:], b[2:98, 64:])  # ... the faces do not


def test_sigma_animation_is_the_converted_raw_one(cli, calibrated_unit, tmp_path):
    cli("synth", "--seed", "2", "--units", "sigma", "--animate", "s.gif", "--target", "mouth=1,eyes=0.5")
    cli("synth", "--seed", "2", "--animate", "r.gif", "--target", f"mouth={1 / 0.8!r},eyes={0.5 / 0.4!r}")
    assert (tmp_path / "s.gif").read_bytes() == (tmp_path / "r.gif").read_bytes()


@pytest.mark.parametrize("args,message", [
    (["--eyes", "5"], "--eyes 5 is 12.5 raw units along unit's eyes direction (group all, 1σ = 2.5 raw), outside the "
                      "edit range -10..10. Pass at most 4 σ there, or --units raw"),
    (["--sweep", "mouth=-9:9:3"], "--sweep mouth value -9 is -11.2 raw units along unit's mouth direction (group all, "
                                  "1σ = 1.25 raw), outside the edit range -10..10. Pass at most 8 σ there, or --units raw"),
    (["--pose", "1"], "direction set unit's pose direction (group all) did not increase pose when calibrated (-0.2 σ "
                      "per unit), so --units sigma cannot size it. Pass --units raw"),
    (["--animate", "a.gif"], "direction set unit's pose direction (group all) did not increase pose when calibrated "
                             "(-0.2 σ per unit), so --units sigma cannot size it. Pass --units raw"),
    (["--mouth", "1", "--edit", "hair_color=1"], "unknown property 'hair_color' for direction set unit. It has eyes, "
                                                 "mouth, pose"),
])
def test_sigma_units_refuse_what_they_cannot_size(cli, calibrated_unit, args, message):
    with sqlite3.connect(calibrated_unit) as conn:  # a pose direction that moved pose the wrong way
        cal = Calibration(-0.2, -0.4, (-1.8, 1.8), 8).to_metrics()
        conn.execute("update directions set metrics_json = ? where property = 'pose'", (json.dumps(cal),))
    before = catalog_rows(calibrated_unit)
    r = cli("synth", "--seed", "1", "--units", "sigma", *args, ok=False)
    assert_one_line_error(r, f"Error: {message}")
    assert_unchanged(before, catalog_rows(calibrated_unit))


def test_scales_far_outside_the_calibrated_range_warn_once(cli, calibrated_unit):
    r = cli("synth", "--seed", "1", "--eyes", "3", "--out", "a.png")
    assert r.stderr == ""  # 3 is within 1.5 × 2.4
    r = cli("synth", "--seed", "1", "--eyes", "4", "--mouth", "-3.7", "--out", "a.png")
    assert r.stderr == ("Warning: --eyes 4 lies beyond 1.5× the scales unit's eyes direction was calibrated on "
                        "(-2.4..2.4 raw): the edit is extrapolated there (and 1 more)\n")
    r = cli("synth", "--seed", "1", "--units", "sigma", "--mouth", "3", "--out", "a.png")
    assert r.stderr == ("Warning: --mouth 3 (3.75 raw) lies beyond 1.5× the scales unit's mouth direction was "
                        "calibrated on (-2.4..2.4 raw): the edit is extrapolated there\n")
    assert cli("synth", "--seed", "1", "--eyes", "4", "--out", "a.png", "--quiet").stderr == ""


# ---------------------------------------------------------------- the animation's blinks


def test_blinks_close_the_eyes_within_the_first_second_and_the_mouth_opens():
    from ohlora_cli.motion import IDLE, JITTER_CLIP, expression_track

    track = expression_track([{"mouth": 2.5}], blink_depth=3.0)
    first = int(np.argmax(track[:, 0] < IDLE[0] - JITTER_CLIP[0] - 2.0))
    assert 0 < first < 20 and track[:, 0].min() < IDLE[0] - 2.5  # closed by nearly the whole depth
    assert track[:, 1].max() == pytest.approx(2.5)
    long = expression_track([], idle_frames=20 * 60, seed=5, blink_depth=2.0)
    starts = np.flatnonzero(np.diff((long[:, 0] < -1.0).astype(int)) == 1)
    assert 15 <= len(starts) <= 31  # one every 2-4 s for a minute
    assert np.array_equal(long, expression_track([], idle_frames=20 * 60, seed=5, blink_depth=2.0))


def test_the_animation_blinks_by_two_sigma_and_opens_the_mouth_by_default(calibrated_unit):
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.catalog.directions import resolve_direction_set
    from ohlora_cli.catalog.registry import resolve_generator
    from ohlora_cli.config import SynthConfig
    from ohlora_cli.motion import IDLE
    from ohlora_cli.stages.synth import animation_track

    catalog = open_catalog(calibrated_unit)
    try:
        ds = resolve_direction_set(catalog, resolve_generator(catalog, "tiny"), "unit")
        track, units = animation_track(catalog, ds, "all", SynthConfig(out=Path("a.png"), seed=1,
                                                                        animate=Path("a.gif")))
    finally:
        catalog.close()
    assert units.units == "raw" and track[:, 1].max() == pytest.approx(1.8)  # the default target, raw units
    assert track[:, 0].min() < IDLE[0] - 0.9 * 2.0 / 0.4  # a blink: 2σ = 5 raw below the idle eyes


# ---------------------------------------------------------------- the studio


def test_studio_units_reproduce_with_the_command(cli, calibrated_unit, tmp_path):
    import shlex
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.images import load_png
    from ohlora_cli.studio.app import create_app
    from ohlora_cli.studio.engine import Studio

    catalog = open_catalog(calibrated_unit)
    studio = Studio(catalog, catalog_arg=str(calibrated_unit), model="tiny", device="cpu")
    try:
        with TestClient(create_app(studio), base_url="http://127.0.0.1:8765") as client:
            info = client.get("/api/info").json()
            assert info["direction_sets"][0]["calibrated"] is True
            body = {"image": 2, "units": "sigma", "edits": {"eyes": 1.0, "mouth": 0.5}}
            j = client.post("/api/render", json=body).json()
            assert j["units"] == "sigma" and j["sigma_per_unit"] == {"eyes": 0.4, "mouth": 0.8, "pose": 0.5}
            assert "--directions unit --units sigma --eyes 1.0 --mouth 0.5 --out face.png" in j["command"]
            cli(*shlex.split(j["command"])[1:])
            import base64
            import io

            from PIL import Image

            shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(j["image"]))).convert("RGB"))
            assert np.array_equal(shown, load_png(tmp_path / "face.png"))
            raw = client.post("/api/render", json={"image": 2, "edits": {"eyes": 2.5, "mouth": 0.625}}).json()
            assert raw["image"] == j["image"] and raw["units"] == "raw"
            anim = client.post("/api/export/animation", json={"seed": 1, "units": "sigma", "edits": {}})
            command = anim.headers["x-ohlora-command"]
            assert command.endswith("--directions unit --units sigma --animate talk.gif --target mouth=2.0"), command
            cli(*shlex.split(command)[1:])
            assert (tmp_path / "talk.gif").read_bytes() == anim.content
            bad = client.post("/api/render", json={"seed": 1, "units": "furlongs"})
            assert bad.status_code == 400 and bad.json() == {
                "error": "units must be raw or sigma, got 'furlongs'. Send \"units\": \"sigma\" or \"raw\""}
    finally:
        catalog.close()
