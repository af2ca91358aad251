"""vectorfind at the original's scale: 240,000 w (512-d), 16 groups × 3 properties, method ``svm``.

Prints the wall time of ohlora's per-group SVM search (``directions.svm_direction``, what the stage
runs after reading w from the catalog), the peak memory it adds over the w matrix, and the ratio
against a plain loop that fits scikit-learn's ``LinearSVC()`` with default settings on the same
top / bottom 20 % samples.  Data: w ~ N(0, I); each score is w projected on a random unit vector plus
noise, so the true direction is known and the found one is compared to it (cosine).

    python bench/bench_vectorfind.py [--n 240000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM, Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=240_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-plain", action="store_true")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from ohlora_cli.directions import all_groups, extremes, group_names, svm_direction

    threadpool_limits(args.threads)
    import sklearn.svm  # noqa: F401 — imported before any timing
    rng = np.random.default_rng(0)
    w = rng.standard_normal((args.n, 512), dtype=np.float32)
    true = rng.standard_normal((7, 512))
    true /= np.linalg.norm(true, axis=1, keepdims=True)
    scores = (w @ true.T.astype(np.float32)) + 0.5 * rng.standard_normal((args.n, 7), dtype=np.float32)
    names = group_names(scores[:, 3:7], np.median(scores[:, 3:7], axis=0))
    w_mb = w.nbytes / 2**20
    reset_peak()
    base = peak_rss_mb()
    t = time.perf_counter()
    cos, acc = [], []
    for g in all_groups(4):
        rows = np.flatnonzero(names == g)
        wg = w[rows]
        for j in range(3):
            d = svm_direction(wg, scores[rows, j], ratio=0.2, seed=2025)
            cos.append(float(d.vector @ true[j]))
            acc.append(d.metrics["val_accuracy"])
    ours = time.perf_counter() - t
    extra = peak_rss_mb() - base
    print(f"ohlora svm: {args.n} x 512 w, 16 groups x 3 properties = 48 SVMs in {ours:.1f} s "
          f"({args.threads} threads); mean val accuracy {np.mean(acc):.3f}, mean cosine to the true direction "
          f"{np.mean(cos):.3f}")
    print(f"peak memory over the w matrix: +{extra:.0f} MB = {extra / w_mb:.2f}x w ({w_mb:.0f} MB)")
    if args.skip_plain:
        return
    from sklearn.svm import LinearSVC

    from ohlora_cli.directions import _split

    t = time.perf_counter()
    for g in all_groups(4):
        rows = np.flatnonzero(names == g)
        for j in range(3):
            top, bottom = extremes(scores[rows, j], 0.2)
            rng = np.random.default_rng(2025)
            top_tr, _ = _split(top, rng, 0.8)
            bot_tr, _ = _split(bottom, rng, 0.8)
            x = np.concatenate([w[rows[top_tr]], w[rows[bot_tr]]])
            y = np.r_[np.ones(len(top_tr)), np.zeros(len(bot_tr))]
            LinearSVC().fit(x, y)
    plain = time.perf_counter() - t
    print(f"plain LinearSVC() loop (default settings, the same training samples): {plain:.1f} s; "
          f"ohlora / plain = {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
