"""generate + score throughput with 2 processes (torchrun, one thread each) vs 1, and the merged catalog's
equality with a single-process catalog, in one run.

    python bench/bench_shards.py            # --n 3000 (about 5 minutes on 2 cores)

Prints images/s of: one process with one thread; one process with torch's default threads; two
processes under ``torchrun --nproc-per-node 2`` (which sets one thread each) including rank 0's merge;
the ratio 2 processes / 1 process; and whether the merged catalog equals the single-process one
(seeds, z, label, w, scores, normalisation references).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def content(path: Path) -> dict:
    with sqlite3.connect(path) as c:
        return {
            "images": c.execute("select i.seed, i.label_mode, i.z, i.label, i.w from images i order by i.seed").fetchall(),
            "scores": c.execute("select i.seed, s.property, s.scorer, s.value from scores s join images i "
                                "on i.id = s.image_id order by 1, 2, 3").fetchall(),
            "references": c.execute("select scorer, property, mean, std, n from normalisations order by 1, 2")
                           .fetchall(),
        }


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--model", default="synthetic-base")
    args = ap.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OHLORA_CATALOG")}
    base.update(OHLORA_MODEL=args.model, OHLORA_DEVICE="cpu")
    work = ["generate", "--n", str(args.n), "--score", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = timed([sys.executable, "-m", "ohlora_cli", *work, "--catalog", "one.db"], tmp,
                    {**base, "OMP_NUM_THREADS": "1"})
        default = timed([sys.executable, "-m", "ohlora_cli", *work, "--catalog", "default.db"], tmp, base)
        two = timed([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                     "-m", "ohlora_cli", "--", *work, "--catalog", "two.db"], tmp, base)
        two_c, one_c, default_c = content(tmp / "two.db"), content(tmp / "one.db"), content(tmp / "default.db")
        equal = two_c == one_c
        n_images = len(two_c["images"])
        differ = sum(a != b for a, b in zip(one_c["scores"], default_c["scores"]))
    print(f"generate --score of {args.n} images with {args.model} at 64 px, whole commands (start-up included), "
          f"{os.cpu_count()} cores")
    print(f"{'setup':<38} {'seconds':>8} {'img/s':>7}")
    for name, sec in (("1 process, 1 thread", one), ("1 process, torch default threads", default),
                      ("2 processes (torchrun), 1 thread each", two)):
        print(f"{name:<38} {sec:>8.1f} {args.n / sec:>7.1f}")
    print(f"2 processes vs 1 process (1 thread): {one / two:.2f}x   vs 1 process at default threads: "
          f"{default / two:.2f}x")
    print(f"merged catalog equals the single-process catalog (1 thread): {equal} ({n_images} images, "
          f"{len(two_c['scores'])} scores, {len(two_c['references'])} references)")
    print(f"single process at torch's default threads vs 1 thread: z and w equal: "
          f"{[r[:5] for r in one_c['images']] == [r[:5] for r in default_c['images']]}; "
          f"{differ} of {len(one_c['scores'])} score values differ (the CPU convolutions round differently "
          f"with more threads)")


if __name__ == "__main__":
    main()
