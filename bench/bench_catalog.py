"""Catalog throughput: insert 240,000 image rows (z 512 + label 7 + w 512 floats), then read the w of one
group (15,000 rows) into a numpy array.

    python bench/bench_catalog.py [--rows 240000] [--path /tmp/bench-catalog.db]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.models import Generator, GroupMember, Grouping, Image, utcnow
from ohlora_cli.catalog.vectors import decode_many, encode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=240_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--path", default="/tmp/bench-catalog.db")
    args = ap.parse_args()
    path = Path(args.path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    cat = open_catalog(path)
    with cat.write() as s:
        g = Generator(name="bench", kind="ohlora", path="-", sha256="0" * 64, resolution=256, z_dim=512, w_dim=512,
                      label_size=7, num_layers=14, config_json="{}")
        s.add(g)
        s.flush()
        gid = g.id
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((args.batch, 512 + 7 + 512)).astype(np.float32)
    t = time.perf_counter()
    for start in range(0, args.rows, args.batch):
        now = utcnow()
        rows = [dict(generator_id=gid, run_id=None, seed=start + i, label_mode="random", z=encode(pool[i, :512], 512),
                     label=encode(pool[i, 512:519], 7), w=encode(pool[i, 519:], 512), psi=1.0, trunc_layers=0,
                     noise_mode="const", path=None, created_at=now) for i in range(min(args.batch, args.rows - start))]
        with cat.write() as s:
            s.execute(insert(Image), rows)
    insert_s = time.perf_counter() - t
    print(f"inserted {args.rows} image rows in {insert_s:.1f} s ({args.rows / insert_s:.0f} rows/s, "
          f"one transaction per {args.batch}); file {path.stat().st_size / 1e9:.2f} GB")
    group_size = args.rows // 16
    with cat.write() as s:
        grouping = Grouping(name="bench", generator_id=gid, group_by_json="[]", cutoffs_json="{}")
        s.add(grouping)
        s.flush()
        ids = list(s.scalars(select(Image.id).order_by(Image.id)))
        s.execute(insert(GroupMember), [dict(grouping_id=grouping.id, image_id=i, group_name=f"g{k // group_size:02d}")
                                        for k, i in enumerate(ids)])
        gr_id = grouping.id
    t = time.perf_counter()
    with cat.read() as s:
        blobs = list(s.scalars(select(Image.w).join(GroupMember, GroupMember.image_id == Image.id)
                               .where(GroupMember.grouping_id == gr_id, GroupMember.group_name == "g03")))
    w = decode_many(blobs, 512)
    read_s = time.perf_counter() - t
    print(f"read w of one group: {w.shape[0]} rows × {w.shape[1]} in {read_s:.3f} s")
    cat.close()


if __name__ == "__main__":
    main()
