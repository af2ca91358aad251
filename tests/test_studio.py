"""``ohlora studio``'s API (Starlette's TestClient): every endpoint with good and bad input, the catalog
reopened to check its rows, the pictures against ``ohlora synth``'s files, and the server itself."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest

from conftest import dump

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.studio.app import create_app
from ohlora_cli.studio.engine import Studio, layers_spec, parse_request
from ohlora_cli.studio.serve import running

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def studio_catalog(built_catalog, _catalog_store):
    """3 images of the tiny generator and an ungrouped 'unit' set: eyes = e0, mouth = e1, pose = e2
    (built once per session, copied for each test)."""
    folder = _catalog_store["root"] / "unit-directions"
    folder.mkdir(exist_ok=True)
    for i, prop in enumerate(("eyes", "mouth", "pose")):
        v = np.zeros((1, 512), np.float32)
        v[0, i] = 1.0
        np.save(folder / f"{prop}.npy", v)
    return built_catalog(["generate", "--n", "3"],
                         ["vectorfind", "import-npy", *(str(folder / f"{p}.npy") for p in ("eyes", "mouth", "pose")),
                          "--name", "unit"])


@pytest.fixture
def client(studio_catalog):
    catalog = open_catalog(studio_catalog)
    studio = Studio(catalog, catalog_arg=str(studio_catalog), model="tiny", device="cpu")
    with TestClient(create_app(studio), base_url=BASE) as c:
        yield c
    catalog.close()


def _png(b64: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def _run_command(cli, command: str, tmp_path):
    """Run the page's `ohlora synth …` line through the CLI, in tmp_path."""
    import shlex

    args = shlex.split(command)
    assert args[:2] == ["ohlora", "synth"]
    return cli(*args[1:])


# ---------------------------------------------------------------- good input


def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and "ohlora studio" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, no fonts, no telemetry


def test_info_lists_what_the_page_offers(client):
    info = client.get("/api/info").json()
    assert info["default_model"] == "tiny" and info["images"] == {"count": 3, "first": 1, "last": 3}
    assert [d["name"] for d in info["direction_sets"]] == ["unit"]
    assert info["direction_sets"][0]["properties"] == ["eyes", "mouth", "pose"]
    assert {"name": "tiny", "resolution": 32, "num_layers": 8} in info["generators"]


def test_render_matches_synth_bit_for_bit(client, cli, tmp_path):
    r = client.post("/api/render", json={"image": 2, "edits": {"mouth": 1.5, "eyes": -0.5}, "layers": "0-3"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["properties"] == ["eyes", "mouth", "pose"] and j["group"] == "all" and j["directions"] == "unit"
    assert j["command"] == (f"ohlora synth --catalog {tmp_path / 'ohlora.db'} --image 2 --directions unit "
                            "--eyes -0.5 --mouth 1.5 --layers 0-3 --out face.png")
    m = client.post("/api/measure", json={"image": 2, "edits": {"mouth": 1.5, "eyes": -0.5}, "layers": "0-3"}).json()
    assert set(m["measured"]) >= {"eyes", "mouth", "pose", "hair_color"} and m["scorer"] == "parser-synthetic/fixed"
    assert m["normalised"] == [] and m["measured"] != m["measured_original"]
    _run_command(cli, j["command"], tmp_path)
    from ohlora_cli.images import load_png

    assert np.array_equal(_png(j["image"]), load_png(tmp_path / "face.png"))
    plain = client.post("/api/render", json={"image": 2}).json()
    assert plain["original"] == j["original"] and np.array_equal(_png(plain["image"]), _png(j["original"]))
    assert not np.array_equal(_png(j["image"]), _png(j["original"]))
    assert client.post("/api/measure", json={"image": 2}).json()["measured"] == m["measured_original"]


def test_seed_psi_and_truncation(client, cli, tmp_path):
    j = client.post("/api/render", json={"seed": 5, "model": "tiny", "psi": 0.5, "trunc_layers": 8,
                                         "edits": {"pose": 2}}).json()
    assert "--model tiny --seed 5 --directions unit --pose 2.0 --psi 0.5 --trunc-layers 8 --out face.png" in j["command"]
    _run_command(cli, j["command"], tmp_path)
    from ohlora_cli.images import load_png

    assert np.array_equal(_png(j["image"]), load_png(tmp_path / "face.png"))
    again = client.post("/api/render", json={"seed": 5, "psi": 0.5, "trunc_layers": 8, "edits": {"pose": 2}}).json()
    assert again["image"] == j["image"]  # deterministic


def test_downloads_are_synth_files(client, cli, tmp_path):
    body = {"seed": 1, "edits": {"mouth": 1.0, "eyes": 0.5}}
    png = client.post("/api/export/png", json=body)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"] == 'attachment; filename="face.png"'
    _run_command(cli, png.headers["x-ohlora-command"], tmp_path)
    assert (tmp_path / "face.png").read_bytes() == png.content
    sweep = client.post("/api/export/sweep", json={**body, "sweep_range": 1.5, "sweep_steps": 3})
    assert "--sweep eyes=-1.5:1.5:3 --sweep mouth=-1.5:1.5:3 --sweep pose=-1.5:1.5:3 --out sweep.png" in \
        sweep.headers["x-ohlora-command"]
    _run_command(cli, sweep.headers["x-ohlora-command"], tmp_path)
    assert (tmp_path / "sweep.png").read_bytes() == sweep.content
    anim = client.post("/api/export/animation", json=body)
    assert anim.headers["content-type"] == "image/gif"
    assert anim.headers["x-ohlora-command"].endswith("--animate talk.gif --target eyes=0.5,mouth=1.0")
    _run_command(cli, anim.headers["x-ohlora-command"], tmp_path)
    assert (tmp_path / "talk.gif").read_bytes() == anim.content


def test_save_as_identity_stores_one_row(client, cli, studio_catalog, tmp_path):
    before = sqlite3.connect(studio_catalog).execute("select count(*) from identities").fetchone()[0]
    r = client.post("/api/identity", json={"seed": 9, "name": "my-face", "edits": {"mouth": 1.25}})
    assert r.status_code == 201, r.text
    assert r.json()["command"].endswith("--model tiny --identity my-face --directions unit --mouth 1.25 --out face.png")
    rows = sqlite3.connect(studio_catalog).execute("select name, z_dim, label_size, source, meta_json from identities").fetchall()
    assert before == 0 and len(rows) == 1
    name, z_dim, label_size, source, meta = rows[0]
    assert (name, z_dim, label_size, source) == ("my-face", 512, 7, "studio: seed 9 of tiny")
    assert json.loads(meta)["studio"]["edits"] == {"mouth": 1.25}
    # the identity renders the same face as its seed, and the page lists it
    seed = client.post("/api/render", json={"seed": 9, "edits": {"mouth": 1.25}}).json()
    ident = client.post("/api/render", json={"identity": "my-face", "edits": {"mouth": 1.25}}).json()
    assert ident["image"] == seed["image"] and "my-face" in client.get("/api/info").json()["identities"]
    _run_command(cli, r.json()["command"], tmp_path)
    from ohlora_cli.images import load_png

    assert np.array_equal(load_png(tmp_path / "face.png"), _png(seed["image"]))
    snapshot = dump(studio_catalog)
    again = client.post("/api/identity", json={"seed": 3, "name": "my-face"})
    assert again.status_code == 409 and again.json() == {"error": "an identity named 'my-face' already exists. "
                                                                  "Choose another name"}
    assert dump(studio_catalog) == snapshot


def test_tabs_saving_at_once_do_not_corrupt_the_catalog(client, studio_catalog):
    names = [f"tab-{i % 4}" for i in range(8)]  # 4 names, each sent by two "tabs"
    codes: list[int] = []

    def save(name: str) -> None:
        codes.append(client.post("/api/identity", json={"seed": 1, "name": name}).status_code)

    threads = [threading.Thread(target=save, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] * 4 + [409] * 4
    conn = sqlite3.connect(studio_catalog)
    assert sorted(r[0] for r in conn.execute("select name from identities")) == [f"tab-{i}" for i in range(4)]
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- bad input: one line, 4xx, catalog unchanged

BAD = [
    # (method, path, body (dict, or str = raw JSON text), status, start of the error)
    ("POST", "/api/render", "not json", 400, "the request body is not valid JSON"),
    ("POST", "/api/render", "[1, 2]", 400, "the request body must be a JSON object"),
    ("POST", "/api/render", {}, 400, "send exactly one of image, seed, identity"),
    ("POST", "/api/render", {"seed": 1, "image": 1}, 400, "send exactly one of image, seed, identity"),
    ("POST", "/api/render", {"seed": 1, "path": "/etc/passwd"}, 400, "unknown field 'path'"),
    ("POST", "/api/render", {"seed": -1}, 400, "seed must be between 0 and 4294967295"),
    ("POST", "/api/render", {"seed": "7"}, 400, "seed must be a whole number"),
    ("POST", "/api/render", {"seed": True}, 400, "seed must be a whole number"),
    ("POST", "/api/render", {"seed": 1.5}, 400, "seed must be a whole number"),
    ("POST", "/api/render", {"image": 99}, 404, "no image with id 99 in the catalog"),
    ("POST", "/api/render", {"identity": "nobody"}, 404, "no identity named 'nobody'"),
    ("POST", "/api/render", {"seed": 1, "model": "nope"}, 404, "unknown model 'nope'"),
    ("POST", "/api/render", {"seed": 1, "model": "/etc/passwd"}, 404, "unknown model '/etc/passwd'"),
    ("POST", "/api/render", {"seed": 1, "model": "x.pt"}, 404, "unknown model 'x.pt'"),
    ("POST", "/api/render", {"seed": 1, "directions": "nope"}, 404, "no direction set named 'nope'"),
    ("POST", "/api/render", {"seed": 1, "edits": {"nose": 1}}, 404, "unknown property 'nose' for direction set unit"),
    ("POST", "/api/render", {"seed": 1, "edits": {"mouth": "big"}}, 400, "mouth must be a number"),
    ("POST", "/api/render", {"seed": 1, "edits": {"mouth": 11}}, 400, "mouth must be between -10 and 10"),
    ("POST", "/api/render", '{"seed": 1, "edits": {"mouth": NaN}}', 400, "mouth must be between -10 and 10"),
    ("POST", "/api/render", {"seed": 1, "edits": [1]}, 400, "edits must be an object"),
    ("POST", "/api/render", {"seed": 1, "layers": "a-b"}, 400, "--layers 'a-b' is not a list like 0-5"),
    ("POST", "/api/render", {"seed": 1, "layers": "0-8"}, 400, "layers goes up to 8 but tiny has 8 layers"),
    ("POST", "/api/render", {"seed": 1, "psi": 3}, 400, "psi must be between 0 and 2"),
    ("POST", "/api/render", {"seed": 1, "psi": 0.5}, 400, "--psi 0.5 has no effect without --trunc-layers"),
    ("POST", "/api/render", {"seed": 1, "psi": 0.5, "trunc_layers": 9}, 400, "trunc_layers 9 is more than tiny's 8"),
    ("POST", "/api/render", {"seed": 1, "trunc_layers": -1}, 400, "trunc_layers must be between 0 and 64"),
    ("POST", "/api/measure", {"seed": 1, "edits": {"nose": 1}}, 404, "unknown property 'nose'"),
    ("POST", "/api/measure", {"seed": 1, "psi": 0.5}, 400, "--psi 0.5 has no effect without --trunc-layers"),
    ("POST", "/api/identity", {"seed": 1}, 400, "name is missing"),
    ("POST", "/api/identity", {"seed": 1, "name": "../x"}, 400, "identity name '../x' may use letters"),
    ("POST", "/api/identity", {"seed": 1, "name": "ok", "edits": {"nose": 1}}, 404, "unknown property 'nose'"),
    ("POST", "/api/identity", {"name": "ok"}, 400, "send exactly one of image, seed, identity"),
    ("POST", "/api/export/pdf", {"seed": 1}, 404, "unknown export 'pdf'"),
    ("POST", "/api/export/sweep", {"seed": 1, "sweep_steps": 1}, 400, "sweep_steps must be between 2 and 15"),
    ("POST", "/api/export/sweep", {"seed": 1, "sweep_range": 0}, 400, "sweep_range must be between 0.05 and 10"),
    ("GET", "/api/render", None, 405, "GET is not allowed on /api/render"),
    ("GET", "/etc/passwd", None, 404, "no page '/etc/passwd'"),
    ("GET", "/static/../../ohlora.db", None, 404, "no page"),
]


@pytest.mark.parametrize("method,path,body,status,error", BAD, ids=[f"{b[1]}:{b[4][:30]}" for b in BAD])
def test_bad_input_is_one_line_and_changes_nothing(client, studio_catalog, method, path, body, status, error):
    client.post("/api/render", json={"seed": 1, "edits": {"mouth": 1}})  # the generator is registered: a write
    before = dump(studio_catalog)
    if body is None:
        r = client.request(method, path)
    else:
        content = body if isinstance(body, str) else json.dumps(body)
        r = client.request(method, path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert message.startswith(error) and "\n" not in message
    assert dump(studio_catalog) == before


def test_requests_the_studio_did_not_ask_for_are_refused(client, studio_catalog):
    before = dump(studio_catalog)
    r = client.get("/", headers={"Host": "attacker.example:8765"})  # DNS rebinding
    assert r.status_code == 400 and r.json()["error"].startswith("Host header 'attacker.example:8765' is not")
    r = client.get("/api/info", headers={"Host": "127.0.0.1:9999"})
    assert r.status_code == 400
    r = client.post("/api/identity", json={"seed": 1, "name": "x"}, headers={"Origin": "http://attacker.example"})
    assert r.status_code == 403 and r.json()["error"].startswith("requests from 'http://attacker.example' are refused")
    r = client.post("/api/render", content="seed=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"].startswith("the request must be JSON")
    r = client.post("/api/render", content=b'{"seed": 1, "x": "' + b"a" * 70000 + b'"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "more than 65536" in r.json()["error"]
    assert dump(studio_catalog) == before
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.post("/api/render", json={"seed": 1}, headers={"Origin": BASE}).status_code == 200


def test_a_generator_without_directions_still_renders(cli, catalog_path):
    cli("generate", "--n", "1")
    catalog = open_catalog(catalog_path)
    with TestClient(create_app(Studio(catalog, model="tiny", device="cpu")), base_url=BASE) as c:
        j = c.post("/api/render", json={"seed": 2}).json()
        assert j["properties"] == [] and j["note"].startswith("generator tiny has no directions yet")
        r = c.post("/api/render", json={"seed": 2, "edits": {"mouth": 1}})
        assert r.status_code == 404 and r.json()["error"].startswith("generator tiny has no directions yet")
    catalog.close()


def test_pure_helpers():
    assert layers_spec((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8" and layers_spec(None) is None
    cfg = parse_request({"seed": 3, "edits": {"hair_color": 1, "pose": 0.5, "eyes": 0, "mouth": -1}})
    assert cfg.edits == (("mouth", -1.0), ("pose", 0.5), ("hair_color", 1.0))  # synth's --eyes/--mouth/--pose first


# ---------------------------------------------------------------- the server


def test_served_over_http_with_the_host_check(studio_catalog):
    catalog = open_catalog(studio_catalog)
    with running(Studio(catalog, model="tiny", device="cpu")) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/info", timeout=10) as r:
            assert json.load(r)["default_model"] == "tiny"
        req = urllib.request.Request(url, headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
    catalog.close()


def test_cli_refuses_wildcard_and_busy_ports(cli):
    r = cli("studio", "--host", "0.0.0.0", ok=False)
    assert r.exit_code == 1 and r.stderr.strip() == ("Error: --host 0.0.0.0 would listen on every interface. "
                                                     "Pass the one address to serve on (default 127.0.0.1)")
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        r = cli("studio", "--port", busy.getsockname()[1], "--quiet", ok=False)
    assert r.exit_code == 1 and "Pass another --port, or --port 0 for a free one" in r.stderr


@pytest.mark.slow
def test_cli_prints_its_url_and_stops_on_ctrl_c(studio_catalog, tmp_path):
    env = {**os.environ, "OHLORA_CATALOG": str(studio_catalog)}
    proc = subprocess.Popen([sys.executable, "-m", "ohlora_cli", "studio", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ohlora studio at http://127.0.0.1:") and line.rstrip().endswith("(Ctrl-C stops it)")
        url = line.split()[3]
        with urllib.request.urlopen(url, timeout=20) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert "studio stopped" in proc.stderr.read() and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
