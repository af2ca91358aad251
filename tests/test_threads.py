"""The thread policy (``--threads auto``), ``--threads`` / ``OHLORA_THREADS`` on every compute command, and the
contention benchmark's helpers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, assert_unchanged, catalog_rows

from ohlora_cli import threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cores, reserve, expected", [
    (2, 0, 2),     # every core, whatever else runs (the same count, the same bits)
    (16, 0, 16),
    (16, 1, 15),   # the studio leaves a core to the browser
    (2, 1, 1),
    (1, 1, 1),     # never zero
    (1, 0, 1),
])
def test_auto_policy(cores, reserve, expected):
    assert threads.choose_threads(cores, reserve=reserve) == expected


@pytest.mark.parametrize("cpus, siblings, expected", [
    ({0, 1}, {0: "0\n", 1: "1\n"}, 2),                              # this machine: no hyperthreads
    ({0, 1, 2, 3}, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}, 2),   # 2 cores, 2 threads each
    ({0, 2}, {0: "0,2", 2: "0,2"}, 1),                              # taskset to both threads of one core
    ({0, 1}, {0: None, 1: None}, 2),                                # no topology: each CPU counts
    ({5}, {}, 1),
])
def test_physical_cores(cpus, siblings, expected):
    assert threads.physical_cores(cpus, siblings) == expected


def test_auto_on_this_machine_is_a_count():
    assert 1 <= threads.auto_threads() <= (os.cpu_count() or 1)
    assert threads.auto_threads(reserve=1) == max(1, threads.auto_threads() - 1)


@pytest.mark.parametrize("cpu_max, expected", [
    ("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000", 2), ("50000 100000", 1),
    ("", None), (None, None), ("x y", None), ("0 100000", None), ("100000", None),
])
def test_cgroup_quota(cpu_max, expected):
    assert threads.quota_cores(cpu_max) == expected


@pytest.mark.parametrize("text, expected", [
    ("auto", None), ("AUTO", None), (" auto ", None), ("1", 1), ("4", 4), (" 2 ", 2), ("1024", 1024), ("0008", 8),
])
def test_good_thread_counts(text, expected):
    assert threads.parse_threads(text) == expected


@pytest.mark.parametrize("environ, explicit, expected", [
    ({}, False, {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
                 "OMP_WAIT_POLICY": "PASSIVE"}),
    ({"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}, False,  # what the user set stays
     {"MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}),
    ({"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}, True,   # --threads beats OMP_NUM_THREADS
     {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}),
])
def test_openmp_environment(environ, explicit, expected):
    assert threads.openmp_env(2, environ, explicit=explicit) == expected


@pytest.mark.parametrize("value, expected", [("3", 3), ("4,2", 4), ("", None), ("abc", None), ("0", None)])
def test_auto_follows_the_users_omp_num_threads(value, expected):
    assert threads.user_threads({"OMP_NUM_THREADS": value}) == expected


def test_the_variables_reach_openmp_before_torch_loads():
    """In a fresh process (torch not loaded yet) the count and PASSIVE waiting are in place when torch loads;
    --threads 1 beats the user's OMP_NUM_THREADS, auto follows it."""
    code = ("import os, sys; from ohlora_cli.threads import apply_threads; n = apply_threads({req}); "
            "import torch; print(n, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    out = [subprocess.run([sys.executable, "-c", code.format(req=req)], env={**env, "OMP_NUM_THREADS": omp},
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
           for req, omp in (("1", "3"), ("None", "1"))]
    assert out == [["1", "1", "PASSIVE"], ["1", "1", "PASSIVE"]]


BAD = ["0", "-1", "abc", "1.5", "nan", "", "1025", "1e3", "inf", "2 threads"]


@pytest.mark.parametrize("value", BAD)
def test_bad_threads_flag_is_one_line(cli, built_catalog, value):
    path = built_catalog(["generate", "--n", "4"])
    before = catalog_rows(path)
    r = cli("score", "--threads", value, ok=False)
    assert_one_line_error(r, f"Error: --threads {value!r} is not a thread count. Pass a whole number from 1 to "
                             "1024, or auto")
    assert_unchanged(before, catalog_rows(path))


@pytest.mark.parametrize("value", ["0", "abc", "1.5", "", "-3"])
def test_bad_threads_variable_is_one_line(cli, built_catalog, monkeypatch, value):
    path = built_catalog(["generate", "--n", "4"])
    before = catalog_rows(path)
    monkeypatch.setenv("OHLORA_THREADS", value)
    r = cli("generate", "--n", "2", ok=False)
    assert_one_line_error(r, f"Error: OHLORA_THREADS={value!r} is not a thread count. Set it to a whole number "
                             "from 1 to 1024, or auto, or unset it")
    assert_unchanged(before, catalog_rows(path))


@pytest.mark.parametrize("args", [
    ["generate", "--n", "2"], ["score"], ["filter", "--name", "x", "--export", "out"], ["eval", "--cases", "2"],
    ["finetune", "--selection", "x", "--out", "ft", "--steps", "1"], ["vectorfind", "--groups", "2"],
    ["synth", "--seed", "1"], ["demo", "--out", "d", "--n", "8"], ["studio", "--port", "0"],
    ["label", "train", "--name", "x"], ["label", "export", "--n", "2", "--out", "x"],
])
def test_every_compute_command_checks_threads(cli, built_catalog, tmp_path, args):
    path = built_catalog(["generate", "--n", "4"])
    before = catalog_rows(path)
    r = cli(*args, "--threads", "abc", ok=False)
    assert_one_line_error(r, "Error: --threads 'abc' is not a thread count. Pass a whole number from 1 to 1024, "
                             "or auto")
    assert_unchanged(before, catalog_rows(path))
    made = [p.name for p in tmp_path.iterdir() if not p.name.startswith("ohlora.db")]
    assert made == []  # no demo folder, no export, no run folder


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_threads_set_torch_for_the_command(cli, monkeypatch, how):
    """``--threads N`` / ``OHLORA_THREADS=N`` is torch's thread count while the command runs."""
    from ohlora_cli.stages import generate as stage

    seen = []
    real = stage.run
    monkeypatch.setattr(stage, "run", lambda *a, **k: (seen.append(torch.get_num_threads()), real(*a, **k))[1])
    try:
        for n in ("2", "1"):
            if how == "flag":
                cli("generate", "--n", "1", "--threads", n, "--seed-start", n)
            else:
                monkeypatch.setenv("OHLORA_THREADS", n)
                cli("generate", "--n", "1", "--seed-start", n)
    finally:
        torch.set_num_threads(1)
    assert seen == [2, 1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_contention", ROOT / "bench" / "bench_contention.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_contention", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_runs_commands_beside_busy_loops(tmp_path):
    """The benchmark's machinery on a command that costs nothing: ``ohlora --version`` alone and beside a busy
    loop, one table; the policies' command lines."""
    bench = _bench()
    work = {"version": bench.Work("version", ("--version",))}
    lines = []
    result = bench.run_bench(tmp_path, work, ["new"], [0, 1], 1, cores=2, log=lines.append)
    assert len(lines) == 2 and all(t > 0 for v in result["times"].values() for t in v)
    table = bench.table(result, work, ["new"], [0, 1]).splitlines()
    assert table[0].split() == ["command", "policy", "alone", "+1", "busy"]
    assert table[1].startswith("version") and table[1].endswith("x)") and table[2].startswith("others")
    argv, env = bench.command("old", ("score",), 2)
    assert argv[1] == "-c" and "import sys, torch" in argv[2] and env["OHLORA_THREADS"] == "2"
    assert not any(k.startswith(("OMP_", "MKL_")) for k in env) and "OHLORA_MODEL" not in env
    assert bench.command("one", ("score",), 2)[1]["OHLORA_THREADS"] == "1"
    assert "OHLORA_THREADS" not in bench.command("new", ("score",), 2)[1]
    assert set(bench.works(quick=True)) == {"demo", "score", "eval", "synth"}


def test_cpu_renders_are_the_same_bits_at_any_thread_count():
    """Each sample is rendered on one intra-op thread (several samples at once), so neither the thread
    count nor the number of images changes an image, and the count is restored afterwards."""
    import numpy as np

    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render

    G = load_checkpoint(embedded_generators()["tiny"].path).build_generator().eval()
    z, label = latents_for_seeds(np.arange(5), G.cfg.z_dim, G.cfg.label_size)
    w = map_to_w(G, z, label)
    before, workers = torch.get_num_threads(), threads.sample_workers()
    try:
        images = {}
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            threads.set_sample_workers(count)
            ticks: list[int] = []
            images[count] = render(G, w, advance=ticks.append)
            assert ticks == [1] * 5 and torch.get_num_threads() == count
        alone = render(G, w[3:4])
    finally:
        torch.set_num_threads(before)
        threads.set_sample_workers(workers)
    assert np.array_equal(images[1], images[2]) and np.array_equal(images[1], images[3])
    assert np.array_equal(alone[0], images[1][3])


@pytest.mark.parametrize("before, after, expected", [
    ([0, 0, 0, 0, 0, 0, 0, 0], [10, 0, 0, 10, 0, 0, 0, 0], 0.5),   # one of two CPUs busy
    ([5, 0, 5, 100, 0, 0, 0, 0], [15, 0, 15, 100, 0, 0, 0, 0], 1.0),
    ([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 15, 5, 0, 0, 0], 0.0),    # iowait is not busy
    ([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 10, 0, 0, 0, 10], 0.5),   # steal is (another VM has the core)
    ([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], 0.0),     # no ticks
])
def test_busy_fraction(before, after, expected):
    assert threads.busy_fraction(before, after) == pytest.approx(expected)


@pytest.mark.parametrize("count, others, passive", [
    (2, 0.0, False), (2, 0.4, False), (2, 0.5, True), (2, 3.0, True), (2, None, True), (1, 0.0, True),
    (16, 0.1, False)])
def test_wait_policy(count, others, passive):
    assert threads.wait_passively(count, others) is passive


def test_waits_and_kernels_follow_what_else_runs():
    """In a fresh process on 2 threads beside busy processes: passive waits, and with auto one thread per
    kernel while renders still run 2 samples at once; a training command (adapt=False), an explicit count
    and a wait policy the user set are kept."""
    code = ("import os; from ohlora_cli.threads import apply_threads, sample_workers; "
            "n = apply_threads({req}, adapt={adapt}); import torch; "
            "print(n, torch.get_num_threads(), sample_workers(), os.environ.get('OMP_WAIT_POLICY', '-'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_", "OHLORA_"))}

    def policy(req="None", adapt=True, extra=None):
        return subprocess.run([sys.executable, "-c", code.format(req=req, adapt=adapt)], env={**env, **(extra or {})},
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()

    cores = threads.auto_threads()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        if cores > 1:
            assert policy() == [str(cores), "1", str(cores), "PASSIVE"]
            assert policy(adapt=False) == [str(cores), str(cores), str(cores), "PASSIVE"]
        assert policy(req="2") == ["2", "2", "2", "PASSIVE"]
        assert policy(req="2", extra={"OMP_WAIT_POLICY": "ACTIVE"}) == ["2", "2", "2", "ACTIVE"]
    finally:
        for p in busy:
            p.kill()
            p.wait()


def test_cpu_networks_score_the_same_bits_at_any_thread_count():
    """The parser and the CNNs run fixed padded chunks, each on one intra-op thread and several at once
    (models/devices.cpu_parallel): a map or a score does not depend on the thread count or on the
    number of images in the call, and the count is restored afterwards."""
    import numpy as np

    from ohlora_cli.models.cnns import PropertyScoreCNN, predict
    from ohlora_cli.models.parsers import SyntheticParser

    torch.manual_seed(0)
    cnn = PropertyScoreCNN(resolution=64, width=0.25).eval()
    parser = SyntheticParser()
    images = np.random.default_rng(0).integers(0, 256, (37, 64, 64, 3), dtype=np.uint8)  # 3 chunks, the last padded
    before, workers = torch.get_num_threads(), threads.sample_workers()
    out = {}
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            threads.set_sample_workers(count)
            out[count] = predict(cnn, images), parser.parse(images).maps
            assert torch.get_num_threads() == count
        alone = predict(cnn, images[20:21]), parser.parse(images[20:21]).maps
    finally:
        torch.set_num_threads(before)
        threads.set_sample_workers(workers)
    for count in (2, 3):
        assert np.array_equal(out[1][0], out[count][0]) and np.array_equal(out[1][1], out[count][1])
    assert np.array_equal(alone[0][0], out[1][0][20]) and np.array_equal(alone[1][0], out[1][1][20])
