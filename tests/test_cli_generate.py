"""``ohlora generate``: stored rows, per-seed determinism, resume after kill -9, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import dump
from ohlora_cli.catalog.vectors import decode
from ohlora_cli.models.inference import latents_for_seeds, map_to_w
from ohlora_cli.catalog.registry import embedded_generators
from ohlora_cli.models.checkpoints import load_checkpoint


def rows(path, where=""):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"select seed, label_mode, z, label, w, psi, trunc_layers, noise_mode, path, run_id "
                            f"from images {where} order by seed").fetchall()


def test_generate_stores_seed_z_label_w(cli, catalog_path):
    r = cli("generate", "--n", "6", "--seed-start", "10", "--batch-size", "4")
    assert r.stdout.startswith("generated 6 images with tiny (labels random) in ")
    assert r.stdout.endswith(f"; catalog {catalog_path}\n")
    got = rows(catalog_path)
    assert [g[0] for g in got] == list(range(10, 16))
    G = load_checkpoint(embedded_generators()["tiny"].path).build_generator()
    z, label = latents_for_seeds(range(10, 16), 512, 7)
    w = map_to_w(G, z, label)
    for i, (seed, mode, zb, lb, wb, psi, trunc, noise, path, run_id) in enumerate(got):
        assert mode == "random" and psi == 1.0 and trunc == 0 and noise == "const" and path is None
        assert np.array_equal(decode(zb, 512), z[i]) and np.array_equal(decode(lb, 7), label[i])
        assert np.array_equal(decode(wb, 512), w[i])
    with sqlite3.connect(catalog_path) as conn:
        stage, status, options = conn.execute("select stage, status, options_json from runs").fetchone()
    assert (stage, status) == ("generate", "done")
    assert json.loads(options)["n"] == 6 and json.loads(options)["generator"] == "tiny"


def test_rerun_completes_only_missing_seeds(cli, catalog_path):
    cli("generate", "--n", "5")
    r = cli("generate", "--n", "9")
    assert r.stdout.startswith("generated 4 images")
    assert r.stderr == "5 of 9 seeds were already in the catalog\n"
    assert cli("generate", "--n", "9").stdout.startswith("generated 0 images")
    assert [g[0] for g in rows(catalog_path)] == list(range(9))
    cli("generate", "--n", "3", "--labels", "zero")
    zero = rows(catalog_path, "where label_mode = 'zero'")
    assert len(zero) == 3 and not decode(zero[0][3], 7).any()


def test_images_identical_at_any_batch_size(cli, tmp_path):
    cli("generate", "--n", "7", "--batch-size", "1", "--save-images", "a", "--catalog", "a.db")
    cli("generate", "--n", "7", "--batch-size", "5", "--save-images", "b", "--catalog", "b.db")
    for seed in range(7):
        assert (tmp_path / "a" / f"{seed:07d}.png").read_bytes() == (tmp_path / "b" / f"{seed:07d}.png").read_bytes()
    ra, rb = rows(tmp_path / "a.db"), rows(tmp_path / "b.db")
    assert [r[2:5] for r in ra] == [r[2:5] for r in rb]
    assert ra[3][8] == str((tmp_path / "a" / "0000003.png").resolve())


def test_synth_of_a_catalog_image_rerenders_it_exactly(cli, tmp_path):
    cli("generate", "--n", "3", "--batch-size", "3", "--save-images", "imgs")
    cli("synth", "--image", "2", "--out", "again.png")
    from ohlora_cli.images import load_png
    assert np.array_equal(load_png(tmp_path / "again.png"), load_png(tmp_path / "imgs" / "0000001.png"))


def test_dry_run_prints_resolved_options(cli, catalog_path, monkeypatch):
    monkeypatch.setenv("OHLORA_BATCH_SIZE", "32")
    out = json.loads(cli("generate", "--n", "15000", "--dry-run").stdout)
    assert out["n"] == 15000 and out["batch_size"] == 32 and out["labels"] == "random"
    assert json.loads(cli("generate", "--n", "5", "--batch-size", "8", "--dry-run").stdout)["batch_size"] == 8
    assert not catalog_path.exists()


@pytest.mark.parametrize("args,message", [
    (["--n", "0"], "Error: --n must be a positive number of images, got 0. Pass e.g. --n 15000\n"),
    (["--n", "-3"], "Error: --n must be a positive number of images, got -3. Pass e.g. --n 15000\n"),
    (["--n", "2", "--labels", "odd"], "Error: --labels must be random or zero, not 'odd'. Pass --labels random\n"),
    (["--n", "2", "--batch-size", "0"], "Error: --batch-size must be between 1 and 4,096, got 0. Pass e.g. --batch-size 16\n"),
    (["--n", "2", "--psi", "3"], "Error: --psi must be between 0 and 2, got 3. Pass e.g. --psi 1.0\n"),
    (["--n", "2", "--psi", "0.7"], "Error: --psi 0.7 has no effect without --trunc-layers. Pass --trunc-layers N to "
                                   "truncate the first N W+ layers (e.g. --trunc-layers 8)\n"),
    (["--n", "2", "--device", "tpu"], "Error: --device tpu is not a device. Use one of: auto | cpu | cuda | cuda:N\n"),
    (["--n", "2", "--model", "nonesuch"],
     "Error: unknown model 'nonesuch'. Use one of: synthetic-base, tiny, or a checkpoint path\n"),
    (["--n", "2", "--model", "missing.pt"], "Error: checkpoint missing.pt does not exist. Check the path passed to --model\n"),
])
def test_bad_input_is_one_line_and_leaves_catalog_unchanged(cli, catalog_path, args, message):
    cli("catalog", "init")
    before = dump(catalog_path)
    r = cli("generate", *args, ok=False)
    assert r.exit_code == 1
    assert r.stderr == message
    assert dump(catalog_path) == before


def test_unwritable_save_images(cli, tmp_path, catalog_path):
    (tmp_path / "afile").write_text("x")
    cli("catalog", "init")
    before = dump(catalog_path)
    r = cli("generate", "--n", "2", "--save-images", tmp_path / "afile" / "sub", ok=False)
    assert r.exit_code == 1
    assert r.stderr == (f"Error: cannot write to {tmp_path / 'afile' / 'sub'}: {tmp_path / 'afile'} is a file, not a "
                        "folder. Pass a writable folder with --save-images\n")
    assert dump(catalog_path) == before


@pytest.mark.slow
def test_kill_minus_9_loses_at_most_one_batch_and_rerun_completes(tmp_path, catalog_path):
    cmd = [sys.executable, "-m", "ohlora_cli", "generate", "--n", "60", "--batch-size", "5",
           "--save-images", "imgs", "--quiet"]
    env = {**os.environ, "OHLORA_CATALOG": str(catalog_path)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    count = 0
    while time.time() < deadline:
        time.sleep(0.01)
        if catalog_path.exists():
            try:
                with sqlite3.connect(catalog_path, timeout=1) as conn:
                    count = conn.execute("select count(*) from images").fetchone()[0]
            except sqlite3.OperationalError:
                continue
        if count >= 10:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(catalog_path) as conn:
        after_kill = conn.execute("select count(*) from images").fetchone()[0]
        assert conn.execute("select status from runs").fetchone() == ("running",)
    assert 10 <= after_kill < 60 and after_kill % 5 == 0  # whole batches only
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"generated {60 - after_kill} images")
    with sqlite3.connect(catalog_path) as conn:
        seeds = [s for (s,) in conn.execute("select seed from images order by seed")]
    assert seeds == list(range(60))
    assert len(list((tmp_path / "imgs").glob("*.png"))) == 60
    assert not list((tmp_path / "imgs").glob(".*.tmp"))
