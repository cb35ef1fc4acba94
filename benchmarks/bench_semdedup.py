"""SemDeDup on random 512-d vectors: time and peak memory of the stage's steps (the same
ops functions the Beam workers run, in one process), against brute force (all pairs,
blocked numpy) measured on --ref-n vectors and extrapolated quadratically.

    python benchmarks/bench_semdedup.py --n 1000000       # the issue's size
    python benchmarks/bench_semdedup.py --n 100000 --ref-n 20000

5% of the vectors are planted near-copies (noise 0.05-0.3) so the rule has work to do.
Prints JSON."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate.config import SemDedupConfig  # noqa: E402
from curate.ops import semdedup as ops  # noqa: E402


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def make(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((n, d), np.float16)
    base = n - n // 20
    for s in range(0, base, 65536):
        e = min(base, s + 65536)
        x[s:e] = ops.normalise(rng.standard_normal((e - s, d), np.float32))
    src = rng.integers(0, base, n - base)
    for s in range(0, n - base, 65536):
        idx = src[s : s + 65536]
        noise = rng.standard_normal((len(idx), d), np.float32) * rng.uniform(0.05, 0.3, (len(idx), 1)).astype(np.float32) / np.sqrt(d)
        x[base + s : base + s + len(idx)] = ops.normalise(x[idx].astype(np.float32) + noise)
    return x


def brute_force(x: np.ndarray, block: int = 4096) -> float:
    t = time.perf_counter()
    x = x.astype(np.float32)
    for a in range(0, len(x), block):
        (x[a : a + block] @ x.T).max(axis=1)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--ref-n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=8192)
    args = ap.parse_args()
    conf = SemDedupConfig()
    t0 = time.perf_counter()
    x = make(args.n, args.d)
    uids = [f"{i:032x}" for i in range(args.n)]
    gen_s = time.perf_counter() - t0
    rss_data = peak_rss_gib()
    times = {}

    t = time.perf_counter()
    acc = None
    for s in range(0, args.n, args.batch):
        keys = ops.sample_keys(uids[s : s + args.batch], 0)
        part = ops.bottom_k(keys, x[s : s + args.batch], conf.sample_size)
        acc = part if acc is None else ops.bottom_k(np.concatenate([acc[0], part[0]]), np.concatenate([acc[1], part[1]]), conf.sample_size)
    times["sample"] = time.perf_counter() - t

    t = time.perf_counter()
    k = ops.num_clusters(args.n, len(acc[0]), conf.num_clusters, conf.cluster_size)
    centroids = ops.train_kmeans(acc[1].astype(np.float32), k, conf.kmeans_iters, 0)
    times["kmeans"] = time.perf_counter() - t

    t = time.perf_counter()
    labels = np.concatenate([ops.assign(x[s : s + args.batch], centroids)[0] for s in range(0, args.n, args.batch)])
    times["assign"] = time.perf_counter() - t

    t = time.perf_counter()
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    removed = 0
    sizes = []
    for c in range(k):
        idx = order[bounds[c] : bounds[c + 1]]
        if len(idx):
            sizes.append(len(idx))
            _, mask, _ = ops.dedup_cluster([uids[i] for i in idx], x[idx], centroids[c], conf.eps)
            removed += int(mask.sum())
    times["dedup_clusters"] = time.perf_counter() - t
    total = sum(times.values())

    ref_n = min(args.ref_n, args.n)
    ref_s = brute_force(x[:ref_n]) * (args.n / ref_n) ** 2
    print(json.dumps({
        "n": args.n, "d": args.d, "clusters": k, "largest_cluster": max(sizes), "eps": conf.eps,
        "removed": removed, "planted": args.n // 20, "seconds": {k_: round(v, 2) for k_, v in times.items()},
        "total_s": round(total, 2), "data_gen_s": round(gen_s, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2), "rss_after_data_gib": round(rss_data, 2),
        "brute_force_all_pairs_s_extrapolated": round(ref_s, 1), "ref_n": ref_n,
        "speedup_vs_brute_force": round(ref_s / total, 1),
    }))


if __name__ == "__main__":
    main()
