"""``ohlora synth``: edits along directions, sweeps, grids, sources, and every documented error."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dump

from ohlora_cli.edits import edit_wp
from ohlora_cli.images import load_png


@pytest.fixture
def with_directions(built_catalog, _catalog_store):
    """A catalog with 3 images and an ungrouped 'unit' set: eyes = e0, mouth = e1 (for the tiny generator;
    built once per session, copied for each test)."""
    folder = _catalog_store["root"] / "unit-eyes-mouth"
    folder.mkdir(exist_ok=True)
    for i, prop in enumerate(("eyes", "mouth")):
        v = np.zeros((1, 512), np.float32)
        v[0, i] = 1.0
        np.save(folder / f"{prop}.npy", v)
    built_catalog(["generate", "--n", "3"],
                  ["vectorfind", "import-npy", str(folder / "eyes.npy"), str(folder / "mouth.npy"), "--name", "unit"])


def test_edit_wp_math():
    w = np.arange(4, dtype=np.float32)
    d = np.eye(4, dtype=np.float32)[:2]
    wp = edit_wp(w, d, np.array([[1.0, -2.0]]), num_layers=3)
    assert wp.shape == (1, 3, 4) and np.array_equal(wp[0, 2], [1, -1, 2, 3])
    wp = edit_wp(w, d, np.array([[1.0, 0.0]]), num_layers=3, layers=(1,))
    assert np.array_equal(wp[0, 0], w) and np.array_equal(wp[0, 1], [1, 1, 2, 3])


def test_positive_scale_moves_w_along_the_direction(cli, with_directions, tmp_path):
    """The edit at --eyes s equals rendering w + s·e0 directly."""
    import sqlite3

    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.catalog.vectors import decode
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.models.inference import render

    r = cli("synth", "--image", "1", "--eyes", "2.5", "--out", "e.png")
    assert r.stdout.startswith("wrote e.png (1 image, image 1 (seed 0), tiny directions unit/all, raw units) in ")
    w = decode(sqlite3.connect(tmp_path / "ohlora.db").execute("select w from images where id=1").fetchone()[0], 512)
    w2 = w.copy()
    w2[0] += 2.5
    G = load_checkpoint(embedded_generators()["tiny"].path).build_generator()
    assert np.array_equal(load_png(tmp_path / "e.png"), render(G, w2[None])[0])
    cli("synth", "--image", "1", "--eyes", "0", "--out", "zero.png")
    cli("synth", "--image", "1", "--out", "plain.png")
    assert np.array_equal(load_png(tmp_path / "zero.png"), load_png(tmp_path / "plain.png"))


def test_sweep_and_grid_sheets(cli, with_directions, tmp_path):
    r = cli("synth", "--seed", "4", "--sweep", "eyes=-2:2:5", "--sweep", "mouth=-1:1:2", "--out", "sweep.png")
    assert "(10 images, seed 4," in r.stdout
    sheet = load_png(tmp_path / "sweep.png")
    assert sheet.shape == (2 * (96 + 2 + 12) + 2, 64 + 5 * (96 + 2) + 2, 3)
    r = cli("synth", "--seed", "4", "--grid", "eyes=-1,1", "--grid", "mouth=-1:1:3", "--out", "grid.png")
    assert "(6 images, seed 4," in r.stdout
    assert load_png(tmp_path / "grid.png").shape == (2 * (96 + 2 + 12) + 2, 3 * (96 + 2) + 2, 3)


def test_layerwise_edit_and_psi(cli, with_directions, tmp_path):
    cli("synth", "--seed", "1", "--eyes", "3", "--layers", "0-3", "--out", "a.png")
    cli("synth", "--seed", "1", "--eyes", "3", "--out", "b.png")
    cli("synth", "--seed", "1", "--psi", "0.5", "--trunc-layers", "8", "--out", "c.png")
    cli("synth", "--seed", "1", "--out", "d.png")
    a, b, c, d = (load_png(tmp_path / f"{x}.png") for x in "abcd")
    assert not np.array_equal(a, b) and not np.array_equal(a, d) and not np.array_equal(c, d)


def test_identity_uses_its_stored_group(cli, artifacts, tmp_path):
    cli("vectorfind", "import-seed")
    cli("identity", "import", artifacts / "ohlora_z_vectors.csv", "--groups", artifacts / "ohlora_w_group_names.csv")
    r = cli("synth", "--identity", "seed-v8-83", "--directions", "seed-v8", "--pose", "-1.8", "--out", "i.png")
    assert "identity seed-v8-83, tiny directions seed-v8/lhlh" in r.stdout
    r = cli("synth", "--z-csv", artifacts / "ohlora_z_vectors.csv", "--row", "0", "--out", "z.png")
    assert np.array_equal(load_png(tmp_path / "z.png"), _plain(cli, tmp_path, "--identity", "seed-v8-83"))


def _plain(cli, tmp_path, *args):
    cli("synth", *args, "--out", "plain.png")
    return load_png(tmp_path / "plain.png")


@pytest.mark.parametrize("args,message", [
    (["--image", "99"], "no image with id 99 in the catalog. Image ids here run from 1 to 3"),
    (["--seed", "1", "--edit", "smile=1"], "unknown property 'smile' for direction set unit. It has eyes, mouth"),
    (["--seed", "1", "--eyes", "1", "--directions", "seed-v8"], "no direction set named 'seed-v8'. Known sets: unit"),
    (["--seed", "1", "--eyes", "1", "--group", "hhhh"], "unknown group 'hhhh' in direction set unit. Use one of all"),
    (["--seed", "1", "--sweep", "eyes=1:2"], "--sweep value '1:2' is not START:STOP:COUNT. e.g. --sweep eyes=-1.2:1.2:7"),
    (["--seed", "1", "--sweep", "eyes"], "--sweep 'eyes' must look like PROPERTY=START:STOP:COUNT. e.g. --sweep eyes=-1.2:1.2:7"),
    (["--seed", "1", "--layers", "0-40"], "--layers goes up to 40 but tiny has 8 layers. Use layers 0..7"),
    (["--seed", "1", "--layers", "a"], "--layers 'a' is not a list like 0-5 or 0,1,2. e.g. --layers 0-5"),
    (["--seed", "1", "--out", "x.jpg"], "--out x.jpg must end in .png. e.g. --out face.png"),
    (["--seed", "1", "--image", "1"], "pass exactly one of --image, --seed, --identity, --z-csv. e.g. `ohlora synth --seed 7 --eyes 1.2`"),
    (["--identity", "nobody"], "no identity named 'nobody'. Known: none (import with `ohlora identity import`)"),
    (["--z-csv", "nofile.csv"], "nofile.csv does not exist. Check the CSV path"),
])
def test_synth_errors(cli, with_directions, catalog_path, args, message):
    before = dump(catalog_path)
    r = cli("synth", *args, ok=False)
    assert r.exit_code == 1
    assert r.stderr == f"Error: {message}\n"
    assert dump(catalog_path) == before


def test_grouped_set_needs_a_group_and_checks_generator(cli, tmp_path, catalog_path):
    cli("generate", "--n", "1")
    cli("vectorfind", "import-seed")
    r = cli("synth", "--seed", "0", "--eyes", "1", "--directions", "seed-v8", ok=False)
    assert r.stderr.startswith("Error: no group is known for this sample. Pass --group (one of hhhh, hhhl,")
    r = cli("synth", "--seed", "0", "--eyes", "1", ok=False)
    assert r.stderr == ("Error: generator tiny has no directions yet. Run `ohlora vectorfind`, or pass --directions "
                        "seed-v8 after `ohlora vectorfind import-seed DIR`\n")
    r = cli("synth", "--seed", "0", "--z-csv", "x.csv", ok=False)
    assert r.stderr.startswith("Error: pass exactly one of")


def test_unwritable_out(cli, tmp_path):
    (tmp_path / "f").write_text("")
    r = cli("synth", "--seed", "0", "--out", tmp_path / "f" / "x.png", ok=False)
    assert r.stderr.endswith(f"Error: cannot write to {tmp_path / 'f'}: it is a file, not a folder. "
                             "Pass a writable folder with --out\n")


def test_animate_writes_the_motion_as_gif(cli, with_directions, tmp_path):
    from PIL import Image

    from ohlora_cli.motion import expression_track

    # the 'unit' set has no pose direction: animation needs all three
    r = cli("synth", "--seed", "2", "--animate", "a.gif", "--target", "mouth=1.8", ok=False)
    assert r.stderr == "Error: unknown property 'pose' for direction set unit. It has eyes, mouth\n"
    for i, prop in enumerate(("eyes", "mouth", "pose")):
        v = np.zeros((1, 512), np.float32)
        v[0, i] = 1.0
        np.save(tmp_path / f"{prop}.npy", v)
    cli("vectorfind", "import-npy", tmp_path / "eyes.npy", tmp_path / "mouth.npy", tmp_path / "pose.npy",
        "--name", "unit3")
    r = cli("synth", "--seed", "2", "--animate", "a.gif", "--target", "mouth=1.8,eyes=1", "--directions", "unit3")
    frames = len(expression_track([{"mouth": 1.8, "eyes": 1.0}]))
    assert r.stdout.startswith(f"wrote a.gif ({frames} images, seed 2, rendered at ")
    with Image.open(tmp_path / "a.gif") as gif:  # PIL merges identical neighbours, adding their durations
        total = 0
        for k in range(gif.n_frames):
            gif.seek(k)
            total += gif.info["duration"]
        assert total == frames * 50 and gif.n_frames > frames // 2
    for args, message in [
        (["--target", "smile=1"], "--target property 'smile' is not animated. Targets use eyes, mouth, pose"),
        (["--sweep", "eyes=1:2:2"], "--animate cannot be combined with --sweep or --grid. Use one of them per call"),
    ]:
        r = cli("synth", "--seed", "2", "--animate", "b.gif", "--directions", "unit3", *args, ok=False)
        assert r.stderr == f"Error: {message}\n"
    r = cli("synth", "--seed", "2", "--animate", "b.png", ok=False)
    assert r.stderr == "Error: --animate b.png must end in .gif. e.g. --animate talk.gif\n"
