"""Writes one small golden catalog per schema revision (run once per new revision; files are committed).

    python tests/golden/make_golden.py
"""

import sqlite3
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine

from ohlora_cli.catalog.db import _alembic_config, known_revisions

HERE = Path(__file__).parent


def make(rev: str) -> Path:
    from alembic import command

    path = HERE / f"catalog-{rev}.db"
    if path.exists():
        return path
    engine = create_engine(f"sqlite:///{path}")
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, rev)
    engine.dispose()
    z = np.arange(512, dtype="<f4").tobytes()
    with sqlite3.connect(path) as conn:
        conn.execute("insert into generators (id, name, kind, path, sha256, resolution, z_dim, w_dim, label_size,"
                     " num_layers, config_json, parent_id, created_at) values (1, 'golden', 'embedded', '/nowhere.pt',"
                     " ?, 32, 512, 512, 7, 8, '{}', NULL, '2026-11-29 00:00:00')", ("0" * 64,))
        conn.execute("insert into runs (id, stage, options_json, status, started_at, ended_at, version, message)"
                     " values (1, 'generate', '{}', 'done', '2026-11-29 00:00:00', '2026-11-29 00:00:01', '0.1.0',"
                     " NULL)")
        for seed in range(3):
            conn.execute("insert into images (generator_id, run_id, seed, label_mode, z, label, w, psi, trunc_layers,"
                         " noise_mode, path, created_at) values (1, 1, ?, 'random', ?, ?, ?, 1.0, 0, 'const', NULL,"
                         " '2026-11-29 00:00:00')", (seed, z, np.zeros(7, "<f4").tobytes(), z))
    return path


if __name__ == "__main__":
    for rev in known_revisions():
        print(make(rev))
