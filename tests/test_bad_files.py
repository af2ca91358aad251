"""Bad files and places: every command that reads a file or writes to a place refuses a bad one with
one line, exit 1, no traceback, no temporary file left — and a failed command leaves the catalog as it
was (only a ``runs`` row marked failed may be added).

Each case starts from a catalog built once per session (``built_catalog``, with the command lists
other test files use), plants its bad file in ``tmp_path``, runs one command and checks: exit 1, the
exact last stderr line (:data:`EXPECTED`), no traceback, the catalog's rows as before
(``assert_unchanged``), every input file named on the command line unchanged, no ``*.tmp`` left.
Disk-full cases make the write fail in-process (``os.replace`` / ``torch.save`` / ``open`` raise
ENOSPC; SQLite's ``max_page_count`` for a full catalog), so they run without root or a small
filesystem.  Read-only places are paths under a regular file (``afile/out.png``): that fails for root
too, where a ``chmod`` would not.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import os
import sqlite3
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import typer.main
import typer.testing

from tests.conftest import assert_one_line_error, assert_unchanged, catalog_rows

# -- catalogs (the same command lists as the other test files, so the session cache is shared) -------------
INIT = (["catalog", "init"],)
GEN3 = (["generate", "--n", "3"],)
SCORED3 = (["generate", "--n", "3"], ["score", "--scorers", "parser"])  # test_cli_score
SELECTION = (["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
             ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])  # test_finetune
SCORED160 = (["generate", "--n", "160"], ["score", "--scorers", "parser"])  # test_vectorfind
DIRECTIONS = (["generate", "--n", "64", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
              ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
              ["vectorfind", "--method", "global", "--name", "glob", "--quiet"])  # test_eval
SEED_DIRS = (["vectorfind", "import-seed"],)

FT = ("finetune", "--selection", "all", "--out", "ft", "--steps", "1", "--new-d", "--monitor-every", "0",
      "--quiet")
SCORE = ("score", "--scorers", "parser", "--batch-size", "1", "--quiet")
EXPORT = ("filter", "--name", "x", "--rule", "eyes>=-100", "--export", "ex", "--quiet")
CUTOFFS = ("vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet", "--cutoffs")


_command_tree = functools.lru_cache(maxsize=None)(typer.main.get_command)


@pytest.fixture(autouse=True)
def _one_command_tree(monkeypatch):
    """typer rebuilds its click command tree on every ``CliRunner.invoke`` (0.1 s, most of a failing
    command's time here): build it once."""
    monkeypatch.setattr(typer.testing, "_get_command", _command_tree)


# -- bad files ---------------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(size: int = 32, seed: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def png_header(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares ``width`` × ``height`` RGB (a few hundred bytes, whatever the size)."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


BAD_PNGS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(png()[:60]),
    "corrupt": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200))),
    "text": lambda p: p.write_text("not an image\n"),
    "empty": lambda p: p.write_bytes(b""),
    "directory": lambda p: p.mkdir(),
    "fifo": lambda p: os.mkfifo(p),
    "wrong-size": lambda p: p.write_bytes(png(64)),
    "huge": lambda p: p.write_bytes(png_header(12000, 12000)),
    "bad-pixels": lambda p: p.write_bytes(png_header(32, 32, zlib.compress(b"\x00" * 50))),  # header fine, data short
}


EXPORT_PNGS = ("truncated", "directory", "wrong-size", "huge", "bad-pixels")
FINETUNE_PNGS = ("truncated", "empty", "wrong-size", "huge", "bad-pixels")


def store_pngs(env, bad: str, *, at: int = -1) -> Path:
    """Give every catalog image a stored PNG in ``imgs/``; the one at position ``at`` is made bad."""
    folder = env.tmp / "imgs"
    folder.mkdir()
    with _connect(env.catalog) as conn:
        ids = [i for (i,) in conn.execute("select id from images order by id")]
        for k, i in enumerate(ids):
            path = folder / f"{i:07d}.png"
            if k == (at % len(ids)):
                BAD_PNGS[bad](path)
            else:
                path.write_bytes(png(seed=i))
            conn.execute("update images set path = ? where id = ?", (str(path), i))
    return folder / f"{ids[at]:07d}.png"


@contextlib.contextmanager
def _connect(path: Path):
    """A committed and closed sqlite3 connection (so nothing waits in the WAL file afterwards)."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def write_csv(text: str | bytes):
    def make(path: Path) -> None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return make


_BOMB: list[bytes] = []
CRC32_OF_1_GIB_OF_ZEROS = 0x5B64C2B0


def _zip_entry(name: str, data: bytes, *, crc: int, size: int, method: int, offset: int) -> tuple[bytes, bytes]:
    nb = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(nb), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                          len(nb), 0, 0, 0, 0, 0, offset)
    return local + nb + data, central + nb


def zip_bomb(path: Path) -> None:
    """A 1 MB torch file whose one storage record is 1 GiB of deflated zeros (torch inflates it all)."""
    if not _BOMB:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)  # independent, repeatable 1 MiB block
        deflated = block * 1024 + c.flush()
        buf = io.BytesIO()
        torch.save({"mapping.dense0.weight": torch.zeros(4)}, buf)
        src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
        out, central = io.BytesIO(), []
        for info in src.infolist():
            raw = src.read(info)
            if info.filename.endswith("/data/0"):
                entry = _zip_entry(info.filename, deflated, crc=CRC32_OF_1_GIB_OF_ZEROS, size=1 << 30, method=8,
                                   offset=out.tell())
            else:
                entry = _zip_entry(info.filename, raw, crc=zlib.crc32(raw), size=len(raw), method=0,
                                   offset=out.tell())
            out.write(entry[0])
            central.append(entry[1])
        start = out.tell()
        out.write(b"".join(central))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
        _BOMB.append(out.getvalue())
    path.write_bytes(_BOMB[0])


def tiny_state() -> dict:
    from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator

    torch.manual_seed(0)
    return StyleGANGenerator(GeneratorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32)).state_dict()


def checkpoint(obj_of: Callable[[], object]):
    def make(path: Path) -> None:
        torch.save(obj_of(), path)
    return make


def wide_state() -> dict:
    """A bare state dict whose convolutions declare 20,000 channels (stride-0 views: a tiny file)."""
    sd = tiny_state()
    for k in list(sd):
        if k.startswith("synthesis.layer") and k.endswith(".weight") and sd[k].dim() == 4:
            sd[k] = torch.zeros(1).expand(20000, 20000, 3, 3)
    return sd


CHECKPOINTS: dict[str, Callable[[Path], None]] = {
    "no-g-config": checkpoint(lambda: {"format": "ohlora-stylegan", "generator": tiny_state()}),
    "junk-g-config": checkpoint(lambda: {"format": "ohlora-stylegan", "g_config": "junk", "generator": tiny_state()}),
    "bad-resolution": checkpoint(lambda: {"format": "ohlora-stylegan", "g_config": {"resolution": 33},
                                          "generator": tiny_state()}),
    "junk-field": checkpoint(lambda: {"format": "ohlora-stylegan", "g_config": {"resolution": 32, "z_dim": "x"},
                                      "generator": tiny_state()}),
    "no-generator": checkpoint(lambda: {"format": "ohlora-stylegan", "g_config": {"resolution": 32}}),
    "smooth-tensor": checkpoint(lambda: {"generator": tiny_state(), "generator_smooth": torch.zeros(3, 3)}),
    "generator-list": checkpoint(lambda: {"generator": [1, 2, 3]}),
    "missing-key": checkpoint(lambda: {k: v for k, v in tiny_state().items() if k != "synthesis.layer3.style.weight"}),
    "wrong-shape": checkpoint(lambda: {**tiny_state(), "synthesis.layer3.bias": torch.zeros(5)}),
    "wide": checkpoint(wide_state),
    "nan-weights": checkpoint(lambda: {**tiny_state(), "mapping.dense1.weight": torch.full((512, 512), float("nan"))}),
    "bomb": zip_bomb,
    "empty": lambda p: p.write_bytes(b""),
    "directory": lambda p: p.mkdir(),
    "truncated": lambda p: (checkpoint(tiny_state)(p), p.write_bytes(p.read_bytes()[:3000])),
}


# -- the environment a case sets up --------------------------------------------------------------------

@dataclass
class Env:
    tmp: Path
    catalog: Path
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, make: Callable[[Path], None]) -> Path:
        path = self.tmp / name
        make(path)
        return path

    def regular_file(self, name: str = "afile") -> Path:
        path = self.tmp / name
        path.write_text("a regular file\n")
        return path

    def fail_replace(self, match: str = "", err: int = errno.ENOSPC) -> None:
        """``os.replace`` onto a target whose name contains ``match`` fails as on a full disk."""
        real = os.replace

        def replace(src, dst, *a, **k):
            if match in os.fspath(dst):
                raise OSError(err, os.strerror(err), os.fspath(dst))
            return real(src, dst, *a, **k)

        self.monkeypatch.setattr(os, "replace", replace)

    def fail_torch_save(self) -> None:
        """``torch.save`` writes part of the file, then fails as PyTorch's writer does on a full disk."""
        def save(obj, f, *a, **k):
            Path(f).write_bytes(b"PK\x03\x04partial")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 20736 vs 20624")

        self.monkeypatch.setattr(torch, "save", save)

    def fail_append(self, name: str) -> None:
        """Appending to a file called ``name`` fails with ENOSPC."""
        import builtins

        real = builtins.open

        def fake_open(file, mode="r", *a, **k):
            if "a" in mode and Path(str(file)).name == name:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
            return real(file, mode, *a, **k)

        self.monkeypatch.setattr(builtins, "open", fake_open)


@dataclass
class Case:
    id: str
    catalog: tuple  # the built catalog the case starts from
    setup: Callable[[Env], list]  # makes the bad file (and the failure), returns the command line


def _stored_png(bad: str, command: tuple):
    def setup(env):
        store_pngs(env, bad)
        return list(command)
    return setup


def _cutoffs(text):
    return lambda env: [*CUTOFFS, env.file("cutoffs.csv", write_csv(text))]


def _register(kind):
    return lambda env: ["model", "register", env.file(f"{kind}.pth", CHECKPOINTS[kind])]


def _seed_folder(text, name="eyes_change_w_vector_hh.csv"):
    def setup(env):
        folder = env.tmp / "v8"
        folder.mkdir()
        if callable(text):
            text(folder / name)
        else:
            (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["vectorfind", "import-seed", folder, "--name", "s"]
    return setup


def _seed_row(values):
    return "," + ",".join(str(i) for i in range(512)) + "\n0," + ",".join(values) + "\n"


UNIT = ["1.0"] + ["0.0"] * 511
Z_OK = ",".join(["0.5"] * 519)


def _identity(text, *extra):
    return lambda env: ["identity", "import", env.file("z.csv", write_csv(text) if not callable(text) else text),
                        *extra]


def _identity_groups(text):
    def setup(env):
        z = env.file("z.csv", write_csv(Z_OK + "\n"))
        groups = env.file("groups.csv", write_csv(text) if not callable(text) else text)
        return ["identity", "import", z, "--groups", groups]
    return setup


def _labels(make):
    return lambda env: ["label", "import", env.file("labels.csv", make)]


def _npy(make, name="eyes.npy"):
    return lambda env: ["vectorfind", "import-npy", env.file(name, make), "--name", "n"]


def _np_save(array):
    def make(path):
        with open(path, "wb") as f:
            np.save(f, array)
    return make


def _catalog_file(make):
    return lambda env: env.file("other.db", make)


def _foreign_sqlite(path):
    with _connect(path) as conn:
        conn.execute("create table t (x)")
        conn.execute("insert into t values (1)")


def _newer_catalog(env):
    """A copy of a real catalog whose schema revision is from a newer ohlora."""
    import shutil

    path = env.tmp / "other.db"
    shutil.copyfile(env.catalog, path)
    with _connect(path) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    return path


def _truncated_catalog(env):
    import shutil

    path = env.tmp / "other.db"
    shutil.copyfile(env.catalog, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def _with_catalog(make_path, *command):
    def setup(env):
        path = make_path(env)
        return [*command, "--catalog", path]
    return setup


CATALOG_FILES = {
    "text": lambda env: env.file("other.db", write_csv("just some text, not a database\n" * 20)),
    "directory": lambda env: env.file("other.db", Path.mkdir),
    "foreign": lambda env: env.file("other.db", _foreign_sqlite),
    "newer": _newer_catalog,
    "truncated": _truncated_catalog,
    "under-a-file": lambda env: env.regular_file() / "ohlora.db",
    "fifo": lambda env: env.file("other.db", os.mkfifo),
}


def _label_train_csv(bad: str):
    def setup(env):
        BAD_PNGS[bad](env.tmp / "face.png")
        env.file("labels.csv", write_csv("image,gender\nface.png,1\n"))
        return ["label", "train", "--name", "x", "--csv", env.tmp / "labels.csv", "--props", "gender",
                "--resolution", "32", "--folds", "2", "--epochs", "1", "--quiet"]
    return setup


def _shard_then(bad_shard: Callable[[Env], Path]):
    """A good shard (the catalog's own images under new seeds) followed by a bad one."""
    def setup(env):
        import shutil

        good = env.tmp / "ohlora.shard-0-of-2.db"
        shutil.copyfile(env.catalog, good)
        with _connect(good) as conn:
            conn.execute("update images set seed = seed + 1000")
        return ["catalog", "merge", good, bad_shard(env)]
    return setup


def _resume_from(make: Callable[[Path], None]):
    def setup(env):
        run_dir = env.tmp / "runs" / "finetune" / "00000-ft"
        run_dir.mkdir(parents=True)
        make(run_dir / "checkpoint.pt")
        return [*FT, "--resume"]
    return setup


def _catalog_full(env, *command):
    """The catalog cannot grow (SQLite's max_page_count at its current size: SQLITE_FULL, as on a full disk)."""
    from sqlalchemy import event

    import ohlora_cli.catalog.db as db

    real = db._make_engine

    def make_engine(path, *a, **k):
        engine = real(path, *a, **k)

        @event.listens_for(engine, "connect")
        def _full(dbapi_conn, _record):
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")
        return engine

    env.monkeypatch.setattr(db, "_make_engine", make_engine)
    return list(command)


def _ungrouped_image(env) -> None:
    """Image 1 loses its group and scores (synth then scores it once to find its group), and s.png cannot
    be written."""
    with _connect(env.catalog) as conn:
        conn.execute("delete from group_members where image_id = 1")
        conn.execute("delete from scores where image_id = 1")
    env.fail_replace("s.png")


def _disk_full(setup_env, *command):
    def setup(env):
        setup_env(env)
        return list(command)
    return setup


CASES: list[Case] = [
    # ---- score: stored PNGs -------------------------------------------------------------------------
    *[Case(f"score-png-{bad}", GEN3, _stored_png(bad, SCORE)) for bad in BAD_PNGS],
    # ---- filter --export ------------------------------------------------------------------------------
    *[Case(f"export-png-{bad}", SCORED3, _stored_png(bad, EXPORT)) for bad in EXPORT_PNGS],
    Case("export-under-a-file", SCORED3, lambda env: [*EXPORT[:-2], env.regular_file() / "ex", "--quiet"]),
    Case("export-onto-a-file", SCORED3, lambda env: [*EXPORT[:-2], env.regular_file("ex"), "--quiet"]),
    Case("export-disk-full", SCORED3, _disk_full(lambda env: env.fail_replace(".png"), *EXPORT)),
    # ---- finetune -------------------------------------------------------------------------------------
    *[Case(f"finetune-png-{bad}", SELECTION, _stored_png(bad, FT)) for bad in FINETUNE_PNGS],
    Case("finetune-runs-a-file", SELECTION, lambda env: [*FT, "--runs", env.regular_file("runs")]),
    Case("finetune-runs-under-a-file", SELECTION, lambda env: [*FT, "--runs", env.regular_file() / "runs"]),
    Case("finetune-disk-full-checkpoint", SELECTION, _disk_full(Env.fail_torch_save, *FT)),
    Case("finetune-disk-full-stats", SELECTION, _disk_full(lambda env: env.fail_append("stats.jsonl"), *FT)),
    Case("finetune-d-model-junk", SELECTION,
         lambda env: [*FT, "--d-model", env.file("d.pth", write_csv(b"\x00junk" * 10))]),
    Case("finetune-d-model-directory", SELECTION, lambda env: [*FT, "--d-model", env.file("d.pth", Path.mkdir)]),
    # ---- vectorfind --cutoffs ---------------------------------------------------------------------------
    Case("cutoffs-non-numeric", SCORED160, _cutoffs("value_type,hair_color\nmedian,abc\n")),
    Case("cutoffs-nan", SCORED160, _cutoffs("value_type,hair_color\nmedian,nan\n")),
    Case("cutoffs-binary", SCORED160, _cutoffs(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 20)),
    Case("cutoffs-empty", SCORED160, _cutoffs("")),
    Case("cutoffs-no-median", SCORED160, _cutoffs("value_type,hair_color\nmean,0.1\n")),
    Case("cutoffs-no-column", SCORED160, _cutoffs("value_type,eyes\nmedian,0.1\n")),
    Case("cutoffs-directory", SCORED160, lambda env: [*CUTOFFS, env.file("cut", Path.mkdir)]),
    Case("cutoffs-missing", SCORED160, lambda env: [*CUTOFFS, env.tmp / "nope.csv"]),
    Case("cutoffs-fifo", SCORED160, lambda env: [*CUTOFFS, env.file("cut.csv", os.mkfifo)]),
    # ---- vectorfind export ------------------------------------------------------------------------------
    Case("vf-export-under-a-file", SEED_DIRS,
         lambda env: ["vectorfind", "export", "seed-v8", "--out", env.regular_file() / "dirs"]),
    Case("vf-export-onto-a-file", SEED_DIRS,
         lambda env: ["vectorfind", "export", "seed-v8", "--out", env.regular_file("dirs")]),
    Case("vf-export-disk-full-npy", SEED_DIRS,
         _disk_full(lambda env: env.fail_replace("eyes_hlhl"), "vectorfind", "export", "seed-v8", "--out", "dirs")),
    Case("vf-export-disk-full-csv", SEED_DIRS,
         _disk_full(lambda env: env.fail_replace(".csv"), "vectorfind", "export", "seed-v8", "--out", "dirs",
                    "--format", "csv")),
    # ---- vectorfind import-seed ---------------------------------------------------------------------------
    Case("seed-csv-nan", INIT, _seed_folder(_seed_row(["nan"] + ["0.0"] * 511))),
    Case("seed-csv-inf", INIT, _seed_folder(_seed_row(["inf"] + ["0.0"] * 511))),
    Case("seed-csv-non-numeric", INIT, _seed_folder(_seed_row(["x"] + ["0.0"] * 511))),
    Case("seed-csv-binary", INIT, _seed_folder(b"\xff\xfe\x00\x01" * 100)),
    Case("seed-csv-empty", INIT, _seed_folder("")),
    Case("seed-csv-columns", INIT, _seed_folder(_seed_row(UNIT[:100]))),
    Case("seed-csv-directory", INIT, _seed_folder(Path.mkdir)),
    Case("seed-folder-a-file", INIT, lambda env: ["vectorfind", "import-seed", env.regular_file("v8")]),
    # ---- vectorfind import-npy ----------------------------------------------------------------------------
    Case("npy-nan", INIT, _npy(_np_save(np.full((1, 512), np.nan, np.float32)))),
    Case("npy-inf", INIT, _npy(_np_save(np.array([[np.inf] + [0.0] * 511], np.float32)))),
    Case("npy-binary", INIT, _npy(write_csv(b"\x93NUMPY junk" * 10))),
    Case("npy-empty", INIT, _npy(write_csv(b""))),
    Case("npy-directory", INIT, _npy(Path.mkdir)),
    Case("npy-object", INIT, _npy(lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True))),
    Case("npy-fifo", INIT, _npy(os.mkfifo)),
    # ---- identity import ------------------------------------------------------------------------------------
    Case("identity-nan", INIT, _identity(",".join(["0.5"] * 100 + ["nan"] + ["0.5"] * 418) + "\n")),
    Case("identity-inf", INIT, _identity(Z_OK + "\n" + ",".join(["-inf"] + ["0.5"] * 518) + "\n")),
    Case("identity-binary", INIT, _identity(b"\x00\x01\x02\xff" * 300)),
    Case("identity-empty", INIT, _identity("")),
    Case("identity-directory", INIT, _identity(Path.mkdir)),
    Case("identity-fifo", INIT, _identity(os.mkfifo)),
    Case("identity-columns", INIT, _identity(",".join(["0.5"] * 518) + "\n")),
    Case("identity-groups-binary", INIT, _identity_groups(b"\xff\xfe\xfd" * 100)),
    Case("identity-groups-header", INIT, _identity_groups("id,group\n0,hh\n")),
    Case("identity-groups-directory", INIT, _identity_groups(Path.mkdir)),
    # ---- label import ------------------------------------------------------------------------------------
    Case("labels-fifo", GEN3, _labels(os.mkfifo)),
    Case("labels-directory", GEN3, _labels(Path.mkdir)),
    Case("labels-empty", GEN3, _labels(write_csv(""))),
    Case("labels-binary", GEN3, _labels(write_csv(b"\x00\xff\x00\xfe" * 50))),
    Case("labels-header", GEN3, _labels(write_csv("id,female\n1,1\n"))),
    Case("labels-value", GEN3, _labels(write_csv("image,gender\n1,1\n2,yes\n"))),
    # ---- model register / --model -----------------------------------------------------------------------
    *[Case(f"register-{kind}", INIT, _register(kind)) for kind in CHECKPOINTS],
    Case("generate-model-no-g-config", INIT,
         lambda env: ["generate", "--n", "1", "--model", env.file("g.pth", CHECKPOINTS["no-g-config"])]),
    Case("generate-model-bomb", INIT,
         lambda env: ["generate", "--n", "1", "--model", env.file("g.pth", CHECKPOINTS["bomb"])]),
    Case("synth-model-smooth-tensor", INIT,
         lambda env: ["synth", "--model", env.file("g.pth", CHECKPOINTS["smooth-tensor"]), "--out", "s.png"]),
    Case("synth-model-wide", INIT,
         lambda env: ["synth", "--model", env.file("g.pth", CHECKPOINTS["wide"]), "--out", "s.png"]),
    Case("synth-model-missing-key", INIT,
         lambda env: ["synth", "--model", env.file("g.pth", CHECKPOINTS["missing-key"]), "--out", "s.png"]),
    # ---- catalogs -------------------------------------------------------------------------------------------
    *[Case(f"catalog-{kind}-{cmd[0]}", INIT, _with_catalog(CATALOG_FILES[kind], *cmd))
      for kind in CATALOG_FILES
      for cmd in (("generate", "--n", "1"), ("catalog", "status"))],
    Case("catalog-empty-status", INIT, _with_catalog(lambda env: env.file("other.db", write_csv("")),
                                                     "catalog", "status")),
    Case("catalog-foreign-synth", INIT, _with_catalog(CATALOG_FILES["foreign"], "synth", "--out", "s.png")),
    Case("catalog-text-score", INIT, _with_catalog(CATALOG_FILES["text"], "score")),
    Case("catalog-newer-model-list", INIT, _with_catalog(_newer_catalog, "model", "list")),
    # ---- synth outputs and inputs -------------------------------------------------------------------------
    Case("synth-out-under-a-file", GEN3, lambda env: ["synth", "--out", env.regular_file() / "s.png"]),
    Case("synth-out-a-directory", GEN3, lambda env: ["synth", "--out", env.file("s.png", Path.mkdir)]),
    Case("synth-disk-full", GEN3, _disk_full(lambda env: env.fail_replace("s.png"), "synth", "--out", "s.png")),
    Case("synth-animate-under-a-file", DIRECTIONS,
         lambda env: ["synth", "--animate", env.regular_file() / "a.gif", "--directions", "svm-tiny"]),
    Case("synth-animate-disk-full", DIRECTIONS,
         _disk_full(lambda env: env.fail_replace("a.gif"), "synth", "--animate", "a.gif", "--directions", "svm-tiny")),
    Case("synth-z-csv-nan", GEN3,
         lambda env: ["synth", "--z-csv", env.file("z.csv", write_csv(",".join(["nan"] * 519) + "\n")),
                      "--out", "s.png"]),
    Case("synth-z-csv-binary", GEN3,
         lambda env: ["synth", "--z-csv", env.file("z.csv", write_csv(b"\xff\x00" * 300)), "--out", "s.png"]),
    Case("synth-z-csv-directory", GEN3,
         lambda env: ["synth", "--z-csv", env.file("z.csv", Path.mkdir), "--out", "s.png"]),
    # ---- eval outputs -----------------------------------------------------------------------------------------
    Case("eval-out-under-a-file", DIRECTIONS,
         lambda env: ["eval", "--cases", "1", "--out", env.regular_file() / "ev", "--quiet"]),
    Case("eval-disk-full-report", DIRECTIONS,
         _disk_full(lambda env: env.fail_replace("report.md"), "eval", "--cases", "1", "--out", "ev", "--quiet")),
    # ---- label export ----------------------------------------------------------------------------------------
    Case("label-export-under-a-file", GEN3,
         lambda env: ["label", "export", "--n", "2", "--out", env.regular_file() / "lab"]),
    Case("label-export-disk-full", GEN3,
         _disk_full(lambda env: env.fail_replace("labels.csv"), "label", "export", "--n", "2", "--out", "lab")),
    # ---- more places that read files or write ----------------------------------------------------------
    *[Case(f"label-train-csv-{bad}", INIT, _label_train_csv(bad)) for bad in ("truncated", "huge", "directory")],
    Case("register-cnn-junk", INIT,
         lambda env: ["model", "register", env.file("c.pt", write_csv(b"\x00junk" * 10)), "--kind", "cnn-gender"]),
    Case("register-cnn-bomb", INIT,
         lambda env: ["model", "register", env.file("c.pt", zip_bomb), "--kind", "cnn-gender"]),
    Case("register-cnn-directory", INIT,
         lambda env: ["model", "register", env.file("c.pt", Path.mkdir), "--kind", "cnn-gender"]),
    Case("parser-weights-junk", GEN3,
         lambda env: ["score", "--parser", "bisenet", "--parser-weights", env.file("p.pth", write_csv(b"\x80junk"))]),
    Case("parser-weights-directory", GEN3,
         lambda env: ["score", "--parser", "bisenet", "--parser-weights", env.file("p.pth", Path.mkdir)]),
    Case("merge-junk-shard", GEN3, _shard_then(lambda env: env.file("junk.db", write_csv("not a database\n" * 50)))),
    Case("merge-foreign-shard", GEN3, _shard_then(lambda env: env.file("foreign.db", _foreign_sqlite))),
    Case("merge-folder-shard", GEN3, _shard_then(lambda env: env.file("dir.db", Path.mkdir))),
    Case("finetune-resume-junk-checkpoint", SELECTION, _resume_from(write_csv(b"\x00junk" * 10))),
    Case("finetune-resume-foreign-checkpoint", SELECTION, _resume_from(checkpoint(lambda: torch.zeros(3)))),
    Case("finetune-resume-damaged-state", SELECTION,
         _resume_from(checkpoint(lambda: {"format": "ohlora-train-state", "step": 1}))),
    Case("eval-out-a-file", DIRECTIONS, lambda env: ["eval", "--cases", "1", "--out", env.regular_file("ev"), "--quiet"]),
    Case("vf-export-target-a-folder", SEED_DIRS,
         lambda env: (env.file("dirs", Path.mkdir), (env.tmp / "dirs" / "eyes_hhhh.npy").mkdir(),
                      ["vectorfind", "export", "seed-v8", "--out", env.tmp / "dirs"])[-1]),
    Case("generate-save-images-under-a-file", GEN3,
         lambda env: ["generate", "--n", "2", "--seed-start", "100", "--save-images", env.regular_file() / "imgs"]),
    Case("generate-save-images-disk-full", GEN3,
         _disk_full(lambda env: env.fail_replace(".png"), "generate", "--n", "2", "--seed-start", "100",
                    "--save-images", "imgs")),
    Case("synth-image-disk-full", DIRECTIONS, _disk_full(_ungrouped_image, "synth", "--image", "1", "--directions",
                                                          "svm-tiny", "--eyes", "1", "--out", "s.png")),
    Case("catalog-full-generate", GEN3,
         lambda env: _catalog_full(env, "generate", "--n", "300", "--seed-start", "100", "--batch-size", "300")),
    Case("catalog-full-import-seed", GEN3, lambda env: _catalog_full(env, "vectorfind", "import-seed")),
]


# -- the exact messages ---------------------------------------------------------------------------------

STORED_FIX = 'Restore the file, or delete it to have the image re-rendered from its stored w'
GEN_FIX = 'Pass a GenForce, Oh-LoRA or ohlora generator file'
TORCH_FIX = 'Check the file is complete and was written by torch.save'
FULL_FIX = 'Free some disk space and run the same command again'
CUTOFF_FIX = ("Pass a CSV with a value_type column and a 'median' row, like the original's "
              "property_scores_mean_and_median.csv")
CATALOG_FIX = 'Pass --catalog with an ohlora catalog, or a new file name to create one'
PNG_PROBLEMS = {  # what each bad stored PNG is called, in score, filter --export and finetune alike
    'truncated': 'is damaged (image file is truncated)',
    'corrupt': 'is not a PNG file',
    'text': 'is not a PNG file',
    'empty': 'is empty',
    'directory': 'is a folder, not a file',
    'fifo': 'is not a regular file (a FIFO, socket or device)',
    'wrong-size': 'is 64x64 px, not 32x32',
    'huge': 'is 12000x12000 px, not 32x32',
    'bad-pixels': 'is damaged (image file is truncated (0 bytes not processed))',
}


def _stored(image: int, problem: str) -> str:
    return f"Error: stored PNG of image {image} ({{tmp}}/imgs/{image:07d}.png) {PNG_PROBLEMS[problem]}. " + STORED_FIX


EXPECTED: dict[str, str] = {  # the whole last stderr line of each case; {tmp} is its tmp_path
    **{f"score-png-{bad}": _stored(3, bad) for bad in BAD_PNGS},
    **{f"export-png-{bad}": _stored(3, bad) for bad in EXPORT_PNGS},
    **{f"finetune-png-{bad}": _stored(12, bad) for bad in FINETUNE_PNGS},
    "export-under-a-file": ('Error: cannot write to {tmp}/afile/ex: {tmp}/afile is a file, not a folder. Pass a '
                            'writable folder with --export'),
    "export-onto-a-file": ('Error: cannot write to {tmp}/ex: it is a file, not a folder. Pass a writable folder with '
                           '--export'),
    "export-disk-full": 'Error: cannot write ex/0000001.png (No space left on device). ' + FULL_FIX,
    "finetune-runs-a-file": ('Error: cannot write to {tmp}/runs: it is a file, not a folder. Pass a writable folder '
                             'with --runs'),
    "finetune-runs-under-a-file": ('Error: cannot write to {tmp}/afile/runs: {tmp}/afile is a file, not a folder. '
                                   'Pass a writable folder with --runs'),
    "finetune-disk-full-checkpoint": ('Error: cannot write checkpoint in {tmp}/runs/finetune/00000-ft (the write '
                                      'failed; the disk may be full); no checkpoint was written yet. Free disk '
                                      'space and run it again'),
    "finetune-disk-full-stats": ('Error: cannot write {tmp}/runs/finetune/00000-ft/stats.jsonl (No space left on '
                                 'device); no checkpoint was written yet. Free disk space and run it again'),
    "finetune-d-model-junk": ('Error: checkpoint {tmp}/d.pth is not a readable PyTorch file '
                              '(UnpicklingError). ' + TORCH_FIX),
    "finetune-d-model-directory": ('Error: checkpoint {tmp}/d.pth is a folder, not a file. Check the path passed to '
                                   '--d-model'),
    "cutoffs-non-numeric": ("Error: {tmp}/cutoffs.csv line 2: the median of hair_color is 'abc', not a finite "
                            'number. Every cutoff must be a number'),
    "cutoffs-nan": ("Error: {tmp}/cutoffs.csv line 2: the median of hair_color is 'nan', not a finite number. Every "
                    'cutoff must be a number'),
    "cutoffs-binary": 'Error: {tmp}/cutoffs.csv is not a text CSV (byte 0 is not UTF-8). ' + CUTOFF_FIX,
    "cutoffs-empty": 'Error: {tmp}/cutoffs.csv is empty. ' + CUTOFF_FIX,
    "cutoffs-no-median": ("Error: {tmp}/cutoffs.csv has no 'median' row. Pass the original's "
                          'property_scores_mean_and_median.csv'),
    "cutoffs-no-column": ('Error: {tmp}/cutoffs.csv has no column for hair_color. Columns: hair_color, hair_length, '
                          'background_score (or background_mean), hairstyle'),
    "cutoffs-directory": 'Error: {tmp}/cut is a folder, not a file. ' + CUTOFF_FIX,
    "cutoffs-missing": 'Error: {tmp}/nope.csv does not exist. ' + CUTOFF_FIX,
    "cutoffs-fifo": 'Error: {tmp}/cut.csv is not a regular file (a FIFO, socket or device). ' + CUTOFF_FIX,
    "vf-export-under-a-file": ('Error: cannot write to {tmp}/afile/dirs: {tmp}/afile is a file, not a folder. Pass a '
                               'writable folder with --out'),
    "vf-export-onto-a-file": ('Error: cannot write to {tmp}/dirs: it is a file, not a folder. Pass a writable folder '
                              'with --out'),
    "vf-export-disk-full-npy": 'Error: cannot write dirs/eyes_hlhl.npy (No space left on device). ' + FULL_FIX,
    "vf-export-disk-full-csv": ('Error: cannot write dirs/eyes_change_w_vector_hhhh.csv (No space left on '
                                'device). ' + FULL_FIX),
    "seed-csv-nan": ("Error: {tmp}/v8/eyes_change_w_vector_hh.csv row 1 column 1 is 'nan', not a finite number. "
                     'Every value must be a finite number'),
    "seed-csv-inf": ("Error: {tmp}/v8/eyes_change_w_vector_hh.csv row 1 column 1 is 'inf', not a finite number. "
                     'Every value must be a finite number'),
    "seed-csv-non-numeric": ("Error: {tmp}/v8/eyes_change_w_vector_hh.csv row 1 column 1 has a non-numeric cell 'x'. "
                             'Every value must be a number'),
    "seed-csv-binary": ('Error: {tmp}/v8/eyes_change_w_vector_hh.csv is not a text CSV (byte 0 is not UTF-8). Pass '
                        "the original's property_score_vectors folder"),
    "seed-csv-empty": ('Error: {tmp}/v8/eyes_change_w_vector_hh.csv must hold a header and one row of 512 values, '
                       "found 0 row(s) of 0. Pass the original's property_score_vectors folder"),
    "seed-csv-columns": ('Error: {tmp}/v8/eyes_change_w_vector_hh.csv must hold a header and one row of 512 values, '
                         "found 1 row(s) of 100. Pass the original's property_score_vectors folder"),
    "seed-csv-directory": ("Error: {tmp}/v8/eyes_change_w_vector_hh.csv is a folder, not a file. Pass the original's "
                           'property_score_vectors folder'),
    "seed-folder-a-file": 'Error: {tmp}/v8 is not a folder. Pass the folder holding *_change_w_vector_*.csv',
    "npy-nan": 'Error: {tmp}/eyes.npy is a zero or non-finite vector. Pass a real direction',
    "npy-inf": 'Error: {tmp}/eyes.npy is a zero or non-finite vector. Pass a real direction',
    "npy-binary": ('Error: {tmp}/eyes.npy is not a readable .npy array (we only support format version (1,0), (2,0), '
                   'and (3,0), not (32, 106)). Pass numpy .npy files'),
    "npy-empty": 'Error: {tmp}/eyes.npy is not a readable .npy array (it is empty). Pass numpy .npy files',
    "npy-directory": 'Error: {tmp}/eyes.npy is a folder, not a file. Pass numpy .npy files',
    "npy-object": ('Error: {tmp}/eyes.npy is not a readable .npy array (Object arrays cannot be loaded when '
                   'allow_pickle=False). Pass numpy .npy files'),
    "npy-fifo": 'Error: {tmp}/eyes.npy is not a regular file (a FIFO, socket or device). Pass numpy .npy files',
    "identity-nan": ("Error: {tmp}/z.csv row 1 column 100 is 'nan', not a finite number. Every value must be a "
                     'finite number'),
    "identity-inf": ("Error: {tmp}/z.csv row 2 column 0 is '-inf', not a finite number. Every value must be a finite "
                     'number'),
    "identity-binary": ('Error: {tmp}/z.csv is not a text CSV (byte 3 is not UTF-8). Pass a CSV with one latent code '
                        'per row'),
    "identity-empty": 'Error: {tmp}/z.csv has no data rows. Pass a CSV with one latent code per row',
    "identity-directory": 'Error: {tmp}/z.csv is a folder, not a file. Check the CSV path',
    "identity-fifo": 'Error: {tmp}/z.csv is not a regular file (a FIFO, socket or device). Check the CSV path',
    "identity-columns": ('Error: {tmp}/z.csv row 1 has 518 columns, expected 519. Each row must be z ‖ label, e.g. '
                         '519 columns for z512 + 7 labels'),
    "identity-groups-binary": ("Error: {tmp}/groups.csv is not a text CSV (byte 0 is not UTF-8). Pass the original's "
                               'ohlora_w_group_names.csv'),
    "identity-groups-header": ('Error: {tmp}/groups.csv must have columns case, group_name and one row per code (1). '
                               "Pass the original's ohlora_w_group_names.csv"),
    "identity-groups-directory": ("Error: {tmp}/groups.csv is a folder, not a file. Pass the original's "
                                  'ohlora_w_group_names.csv'),
    "labels-fifo": 'Error: {tmp}/labels.csv is not a regular file (a FIFO, socket or device). Pass a UTF-8 CSV file',
    "labels-directory": 'Error: {tmp}/labels.csv is a folder, not a file. Pass a UTF-8 CSV file',
    "labels-empty": 'Error: {tmp}/labels.csv is empty. Write a header like: image,gender,quality,age,glass',
    "labels-binary": 'Error: {tmp}/labels.csv is not a text CSV (byte 1 is not UTF-8). Pass a UTF-8 CSV file',
    "labels-header": ('Error: {tmp}/labels.csv has no gender, quality, age or glass column (columns: id, female). '
                      'Write a header like: image,gender,quality,age,glass'),
    "labels-value": ("Error: {tmp}/labels.csv line 3: gender is 'yes', not 0 or 1. Use 1 (female / good / old / "
                     'glasses), 0, or leave it empty'),
    "register-no-g-config": ('Error: checkpoint {tmp}/no-g-config.pth is an ohlora file without its '
                             'g_config. ' + GEN_FIX),
    "register-junk-g-config": ('Error: checkpoint {tmp}/junk-g-config.pth: g_config is a str, not a table '
                               'of settings. ' + GEN_FIX),
    "register-bad-resolution": ('Error: checkpoint {tmp}/bad-resolution.pth: g_config is not a '
                                'configuration this ohlora can build (resolution 33 is not one of (8, 16, '
                                '32, 64, 128, 256, 512, 1024)). ' + GEN_FIX),
    "register-junk-field": ("Error: checkpoint {tmp}/junk-field.pth: g_config z_dim is 'x', not of type "
                            'int. ' + GEN_FIX),
    "register-no-generator": 'Error: checkpoint {tmp}/no-generator.pth: the generator entry is missing. ' + GEN_FIX,
    "register-smooth-tensor": ('Error: checkpoint {tmp}/smooth-tensor.pth: the generator_smooth entry is a '
                               'Tensor, not a state dict of tensors. ' + GEN_FIX),
    "register-generator-list": ('Error: checkpoint {tmp}/generator-list.pth: the generator entry is a '
                                'list, not a state dict of tensors. ' + GEN_FIX),
    "register-missing-key": ('Error: checkpoint {tmp}/missing-key.pth: generator state dict does not match: missing '
                             'synthesis.layer3.style.weight. Pass a complete GenForce / Oh-LoRA / ohlora file'),
    "register-wrong-shape": ('Error: checkpoint {tmp}/wrong-shape.pth: generator weight synthesis.layer3.bias has '
                             'shape (5,), expected (32,). The file does not match the architecture; check --model'),
    "register-wide": ('Error: checkpoint {tmp}/wide.pth: generator would have 25,367,692,797 parameters, more than '
                      'ohlora builds (200,000,000). Check the file: its tensor shapes declare a huge network'),
    "register-nan-weights": ('Error: checkpoint {tmp}/nan-weights.pth: generator weight mapping.dense1.weight holds '
                             'NaN or infinite values. Pass an intact weight file'),
    "register-bomb": ('Error: checkpoint {tmp}/bomb.pth would inflate to 1.0 GiB from a 1.0 MB file (compressed '
                      'records, which torch.save never writes); refusing to load it. Re-save the weights with '
                      'torch.save'),
    "register-empty": 'Error: checkpoint {tmp}/empty.pth is empty. ' + TORCH_FIX,
    "register-directory": ('Error: checkpoint {tmp}/directory.pth is a folder, not a file. Check the path of the '
                           'file to register'),
    "register-truncated": ('Error: checkpoint {tmp}/truncated.pth is not a readable PyTorch file '
                           '(RuntimeError). ' + TORCH_FIX),
    "generate-model-no-g-config": 'Error: checkpoint {tmp}/g.pth is an ohlora file without its g_config. ' + GEN_FIX,
    "generate-model-bomb": ('Error: checkpoint {tmp}/g.pth would inflate to 1.0 GiB from a 1.0 MB file (compressed '
                            'records, which torch.save never writes); refusing to load it. Re-save the weights with '
                            'torch.save'),
    "synth-model-smooth-tensor": ('Error: checkpoint {tmp}/g.pth: the generator_smooth entry is a Tensor, '
                                  'not a state dict of tensors. ' + GEN_FIX),
    "synth-model-wide": ('Error: checkpoint {tmp}/g.pth: generator would have 25,367,692,797 parameters, more than '
                         'ohlora builds (200,000,000). Check the file: its tensor shapes declare a huge network'),
    "synth-model-missing-key": ('Error: checkpoint {tmp}/g.pth: generator state dict does not match: missing '
                                'synthesis.layer3.style.weight. Pass a complete GenForce / Oh-LoRA / ohlora file'),
    "catalog-text-generate": ('Error: {tmp}/other.db is not a readable SQLite catalog '
                              '((sqlite3.DatabaseError) file is not a database). ' + CATALOG_FIX),
    "catalog-text-catalog": ('Error: {tmp}/other.db is not a readable SQLite catalog '
                             '((sqlite3.DatabaseError) file is not a database). ' + CATALOG_FIX),
    "catalog-directory-generate": ('Error: catalog {tmp}/other.db is a folder, not a file. Pass --catalog with a '
                                   'file name, e.g. --catalog {tmp}/other.db/ohlora.db'),
    "catalog-directory-catalog": ('Error: catalog {tmp}/other.db is a folder, not a file. Pass --catalog with a file '
                                  'name, e.g. --catalog {tmp}/other.db/ohlora.db'),
    "catalog-foreign-generate": 'Error: {tmp}/other.db is a SQLite file but not an ohlora catalog. ' + CATALOG_FIX,
    "catalog-foreign-catalog": 'Error: {tmp}/other.db is a SQLite file but not an ohlora catalog. ' + CATALOG_FIX,
    "catalog-newer-generate": ('Error: catalog {tmp}/other.db has schema revision 9999, newer than this ohlora knows '
                               '(0005). Upgrade ohlora to open it'),
    "catalog-newer-catalog": ('Error: catalog {tmp}/other.db has schema revision 9999, newer than this ohlora knows '
                              '(0005). Upgrade ohlora to open it'),
    "catalog-truncated-generate": ('Error: {tmp}/other.db is not a readable SQLite catalog '
                                   '((sqlite3.DatabaseError) database disk image is malformed). ' + CATALOG_FIX),
    "catalog-truncated-catalog": ('Error: {tmp}/other.db is not a readable SQLite catalog '
                                  '((sqlite3.DatabaseError) database disk image is malformed). ' + CATALOG_FIX),
    "catalog-under-a-file-generate": ('Error: cannot create catalog {tmp}/afile/ohlora.db: {tmp}/afile is a file, '
                                      'not a folder. Pass another --catalog'),
    "catalog-under-a-file-catalog": ('Error: cannot create catalog {tmp}/afile/ohlora.db: {tmp}/afile is a file, not '
                                     'a folder. Pass another --catalog'),
    "catalog-fifo-generate": ('Error: catalog {tmp}/other.db is not a regular file (a FIFO, socket or device). Pass '
                              '--catalog with an ohlora catalog file'),
    "catalog-fifo-catalog": ('Error: catalog {tmp}/other.db is not a regular file (a FIFO, socket or device). Pass '
                             '--catalog with an ohlora catalog file'),
    "catalog-empty-status": ('Error: catalog {tmp}/other.db is empty. Run `ohlora catalog init --catalog '
                             '{tmp}/other.db`'),
    "catalog-foreign-synth": 'Error: {tmp}/other.db is a SQLite file but not an ohlora catalog. ' + CATALOG_FIX,
    "catalog-text-score": ('Error: {tmp}/other.db is not a readable SQLite catalog '
                           '((sqlite3.DatabaseError) file is not a database). ' + CATALOG_FIX),
    "catalog-newer-model-list": ('Error: catalog {tmp}/other.db has schema revision 9999, newer than this ohlora '
                                 'knows (0005). Upgrade ohlora to open it'),
    "synth-out-under-a-file": ('Error: cannot write to {tmp}/afile: it is a file, not a folder. Pass a writable '
                               'folder with --out'),
    "synth-out-a-directory": 'Error: cannot write {tmp}/s.png (Is a directory). Pass a writable output path',
    "synth-disk-full": 'Error: cannot write s.png (No space left on device). ' + FULL_FIX,
    "synth-animate-under-a-file": ('Error: cannot write to {tmp}/afile: it is a file, not a folder. Pass a writable '
                                   'folder with --animate'),
    "synth-animate-disk-full": 'Error: cannot write a.gif (No space left on device). ' + FULL_FIX,
    "synth-z-csv-nan": ("Error: {tmp}/z.csv row 1 column 0 is 'nan', not a finite number. Every value must be a "
                        'finite number'),
    "synth-z-csv-binary": ('Error: {tmp}/z.csv is not a text CSV (byte 0 is not UTF-8). Pass a CSV with one latent '
                           'code per row'),
    "synth-z-csv-directory": 'Error: {tmp}/z.csv is a folder, not a file. Check the CSV path',
    "eval-out-under-a-file": ('Error: cannot write to {tmp}/afile/ev: {tmp}/afile is a file, not a folder. Pass a '
                              'writable folder with --out'),
    "eval-disk-full-report": 'Error: cannot write ev/report.md (No space left on device). ' + FULL_FIX,
    "label-export-under-a-file": ('Error: cannot write to {tmp}/afile/lab: {tmp}/afile is a file, not a folder. Pass '
                                  'a writable folder with --out'),
    "label-export-disk-full": 'Error: cannot write lab/labels.csv (No space left on device). ' + FULL_FIX,
    "label-train-csv-truncated": ('Error: {tmp}/labels.csv line 2: image {tmp}/face.png is damaged (image file is '
                                  'truncated). Check the image paths'),
    "label-train-csv-huge": ('Error: {tmp}/labels.csv line 2: image {tmp}/face.png is 12000x12000 px, more than '
                             'ohlora reads (16,777,216 pixels). Check the image paths'),
    "label-train-csv-directory": ('Error: {tmp}/labels.csv line 2: image {tmp}/face.png is a folder, not a file. '
                                  'Check the image paths'),
    "register-cnn-junk": ('Error: checkpoint {tmp}/c.pt is not a readable PyTorch file '
                          '(UnpicklingError). ' + TORCH_FIX),
    "register-cnn-bomb": ('Error: checkpoint {tmp}/c.pt would inflate to 1.0 GiB from a 1.0 MB file (compressed '
                          'records, which torch.save never writes); refusing to load it. Re-save the weights with '
                          'torch.save'),
    "register-cnn-directory": "Error: checkpoint {tmp}/c.pt is a folder, not a file. Check the CNN file's path",
    "parser-weights-junk": 'Error: checkpoint {tmp}/p.pth is not a readable PyTorch file (IndexError). ' + TORCH_FIX,
    "parser-weights-directory": ('Error: checkpoint {tmp}/p.pth is a folder, not a file. Check the path passed to '
                                 '--parser-weights'),
    "merge-junk-shard": ('Error: cannot merge shard {tmp}/junk.db: {tmp}/junk.db is not a readable SQLite catalog '
                         '((sqlite3.DatabaseError) file is not a database). Pass the shard files a `--shard` run '
                         'wrote'),
    "merge-foreign-shard": ('Error: cannot merge shard {tmp}/foreign.db: {tmp}/foreign.db is a SQLite file but not '
                            'an ohlora catalog. Pass the shard files a `--shard` run wrote'),
    "merge-folder-shard": ('Error: shard catalog {tmp}/dir.db is a folder, not a file. Pass the shard files a '
                           '`--shard` run wrote'),
    "finetune-resume-junk-checkpoint": ('Error: checkpoint {tmp}/runs/finetune/00000-ft/checkpoint.pt is '
                                        'not a readable PyTorch file (UnpicklingError). ' + TORCH_FIX),
    "finetune-resume-foreign-checkpoint": ('Error: {tmp}/runs/finetune/00000-ft/checkpoint.pt does not hold an '
                                           'ohlora training state. Start a new run'),
    "finetune-resume-damaged-state": ('Error: cannot resume: {tmp}/runs/finetune/00000-ft/checkpoint.pt is '
                                      "incomplete or damaged (KeyError: 'config'). Start a new run (drop --resume)"),
    "eval-out-a-file": ('Error: cannot write to {tmp}/ev: it is a file, not a folder. Pass a writable folder with '
                        '--out'),
    "vf-export-target-a-folder": ('Error: cannot write {tmp}/dirs/eyes_hhhh.npy (Is a directory). Pass a writable '
                                  'output path'),
    "generate-save-images-under-a-file": ('Error: cannot write to {tmp}/afile/imgs: {tmp}/afile is a file, not a '
                                          'folder. Pass a writable folder with --save-images'),
    "generate-save-images-disk-full": 'Error: cannot write imgs/0000100.png (No space left on device). ' + FULL_FIX,
    "synth-image-disk-full": 'Error: cannot write s.png (No space left on device). ' + FULL_FIX,
    "catalog-full-generate": ('Error: no space left for catalog {tmp}/ohlora.db (database or disk is '
                              'full); nothing of this transaction was stored. ' + FULL_FIX),
    "catalog-full-import-seed": ('Error: no space left for catalog {tmp}/ohlora.db (database or disk is '
                                 'full); nothing of this transaction was stored. ' + FULL_FIX),
}


def _file_digests(args: list) -> dict[str, str]:
    """The content of every existing regular file named on the command line (inputs must stay as they are)."""
    out = {}
    for a in args:
        p = Path(str(a))
        if p.is_file() and not p.is_fifo():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_file(case: Case, cli, built_catalog, catalog_path, tmp_path):
    built_catalog(*case.catalog)
    with pytest.MonkeyPatch.context() as mp:
        args = [str(a) for a in case.setup(Env(tmp_path, catalog_path, mp))]
        before, files = catalog_rows(catalog_path), _file_digests(args)
        r = cli(*args, ok=False)
    if os.environ.get("SHOW"):  # SHOW=messages.jsonl: record the lines (to review, and to update EXPECTED)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.stdout
        with open(os.environ["SHOW"], "a") as f:
            f.write(json.dumps([case.id, last.replace("{", "{{").replace("}", "}}").replace(str(tmp_path), "{tmp}")])
                    + "\n")
    assert_one_line_error(r, EXPECTED.get(case.id, "?").format(tmp=tmp_path))
    assert_unchanged(before, catalog_rows(catalog_path))
    assert _file_digests(args) == files, "an input file was changed"
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"


def test_every_case_has_its_message():
    assert sorted(EXPECTED) == sorted(c.id for c in CASES)
    assert len(CASES) >= 70 and len({c.id for c in CASES}) == len(CASES)


BOM = "\ufeff"


@pytest.mark.parametrize("catalog, setup, out", [
    (GEN3, lambda env: ["label", "import", env.file("l.csv", write_csv(BOM + "image,gender\r\n1,1\r\n"))],
     "imported 1 labels of 1 images"),
    (INIT, lambda env: ["identity", "import", env.file("z.csv", write_csv(BOM + Z_OK + "\n"))],
     "imported 1 identities: seed-v8-0 .. seed-v8-0"),
    (INIT, _seed_folder(BOM + _seed_row(UNIT)), "imported 1 directions as set s: properties eyes; 1 groups"),
    (GEN3, lambda env: ["synth", "--z-csv", env.file("z.csv", write_csv(BOM + Z_OK + "\n")), "--out", "s.png"],
     "wrote s.png (1 image, "),
    (SCORED160, _cutoffs(BOM + "value_type,hair_color\nmedian,0.0\n"), "found 6 directions (svm) for tiny"),
], ids=["label-import", "identity-import", "import-seed", "synth-z-csv", "cutoffs"])
def test_utf8_files_with_a_byte_order_mark_are_read(cli, built_catalog, catalog_path, tmp_path, catalog, setup, out):
    built_catalog(*catalog)
    r = cli(*setup(Env(tmp_path, catalog_path, pytest.MonkeyPatch())))
    assert r.stdout.startswith(out), r.stdout


def test_stored_pngs_in_other_modes_are_read(cli, built_catalog, catalog_path, tmp_path):
    """A grey or RGBA stored PNG of the right size is an image, not an error (read as RGB)."""
    from PIL import Image

    built_catalog(*GEN3)
    store_pngs(Env(tmp_path, catalog_path, pytest.MonkeyPatch()), "truncated", at=0)
    Image.new("L", (32, 32), 128).save(tmp_path / "imgs" / "0000001.png")
    Image.new("RGBA", (32, 32), (10, 20, 30, 255)).save(tmp_path / "imgs" / "0000002.png")
    (tmp_path / "imgs" / "0000003.png").write_bytes(png(seed=3))
    assert cli("score", "--scorers", "parser").stdout.startswith("scored 3 images of tiny")
