"""The whole text stage (filter → dedup_text → balance) on generated pairs through
`curate.pipeline.run` on the local multi-process runner, with peak memory; the reference,
measured in the same run, is the bare per-batch kernels (language id, matching, MinHash) in
one process on a subset: ratio = pipeline pairs/s / bare single-core pairs/s (2 cores: the
ideal is ~2, minus shuffles, dedup joins and Beam's per-bundle costs).

    .venv/bin/python benchmarks/bench_text_stage.py [--pairs 1000000] [--workers 2]
        [--output benchmarks/results/text_stage_<date>.json]

--output also writes the figures as JSON (benchmarks/perf_tables.py renders the README's table
from every benchmarks/results/text_stage_*.json); the printed lines are the same either way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate import config as cfg  # noqa: E402
from curate import pipeline  # noqa: E402
from curate.ops import minhash  # noqa: E402
from curate.ops import text_filter as tf  # noqa: E402
from curate.runner import LOCAL_RUNNER  # noqa: E402

ROWS_PER_FILE = 50_000


def write_pairs(texts, folder: Path):
    for f, i in enumerate(range(0, len(texts), ROWS_PER_FILE)):
        chunk = texts[i : i + ROWS_PER_FILE]
        pq.write_table(
            pa.table(
                {
                    "uid": [f"{(i + k) * 2654435761 % (1 << 64):032x}" for k in range(len(chunk))],
                    "url": [f"http://127.0.0.1/{i + k}.jpg" for k in range(len(chunk))],
                    "text": chunk,
                    "source": ["bench"] * len(chunk),
                    "source_row": list(range(i, i + len(chunk))),
                }
            ),
            folder / f"pairs-{f:04d}.parquet",
        )


def cluster_fingerprint(output: Path) -> dict:
    """The kept pairs' near-duplicate clusters (``text_cluster`` of every pair in a cluster of
    two or more), counted and hashed: two runs with the same figures found the same clusters."""
    import hashlib

    kept = pq.read_table(output / "kept", columns=["uid", "text_cluster", "text_cluster_size"])
    rows = sorted(
        (u, c) for u, c, n in zip(*(kept[k].to_pylist() for k in ("uid", "text_cluster", "text_cluster_size")), strict=True) if n > 1
    )
    digest = hashlib.sha256("\n".join(f"{u}\t{c}" for u, c in rows).encode()).hexdigest()
    return {"clusters": len({c for _, c in rows}), "pairs_in_clusters": len(rows), "sha256": digest}


def bare_rate(texts, entries) -> float:
    lid, matcher = tf.language_identifier(cfg.FilterConfig().language_model), tf.Matcher(entries)
    c = cfg.DedupTextConfig()
    minhash.signatures([["warm"]], c.num_perm, c.minhash_seed)
    t = time.perf_counter()
    for i in range(0, len(texts), 4096):
        chunk = texts[i : i + 4096]
        lid.classify(chunk)
        matcher.match_array(pa.array(chunk))
        minhash.signatures([minhash.shingles(x, c.ngram, c.unit) for x in chunk], c.num_perm, c.minhash_seed)
    return len(texts) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bare", type=int, default=20_000)
    ap.add_argument("--mode", default="multi_processing", choices=["multi_processing", "in_memory"],
                    help="the local runner's running mode (in_memory: one process, --workers 1)")
    ap.add_argument("--output", default=None, help="also write the figures as JSON here")
    a = ap.parse_args()
    entries, source = text_data.entries()
    n_entries = len(entries)
    t = time.perf_counter()
    texts = text_data.texts(a.pairs)
    print(f"{len(texts):,} generated pairs in {time.perf_counter() - t:.0f} s; entries: {len(entries):,} ({source})")
    bare = bare_rate(texts[: a.bare], entries)
    print(f"bare kernels, one process: {bare:,.0f} pairs/s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        write_pairs(texts, tmp / "in")
        del texts
        q = tmp / "queries"
        q.mkdir()
        (q / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
        del entries
        config = cfg.PipelineConfig(
            input=str(tmp / "in" / "*.parquet"),
            output=str(tmp / "out"),
            queries=str(q),
            stages={"filter": cfg.FilterConfig(), "dedup_text": cfg.DedupTextConfig(), "balance": cfg.BalanceConfig()},
        )
        args = [f"--runner={LOCAL_RUNNER}", f"--direct_running_mode={a.mode}", f"--direct_num_workers={a.workers}"]
        t = time.perf_counter()
        stats = pipeline.run(config, args)
        wall = time.perf_counter() - t
        clusters = cluster_fingerprint(tmp / "out")
    for s in stats["stages"]:
        print(f"  {s['stage']:>10}: in {s['in']:,} kept {s['kept']:,} removed {s['removed_by_reason']}")
    rate = a.pairs / wall
    self_mb, child_mb = text_data.peak_rss_mb()
    print(f"pipeline ({a.workers} workers): {wall:.0f} s, {rate:,.0f} pairs/s, {rate / a.workers:,.0f} pairs/s per core")
    print(f"ratio pipeline / bare single-core kernels: {rate / bare:.2f} (ideal ~{a.workers})")
    print(f"peak RSS: driver {self_mb:.0f} MB, largest worker process {child_mb:.0f} MB")
    print(f"text clusters of kept pairs: {clusters['clusters']:,} of {clusters['pairs_in_clusters']:,} pairs; sha256 {clusters['sha256'][:16]}")
    if a.output:
        Path(a.output).write_text(json.dumps({
            "command": "python benchmarks/bench_text_stage.py " + " ".join(sys.argv[1:]),
            "date": str(datetime.date.today()),
            "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 1)},
            "pairs": a.pairs, "workers": a.workers, "mode": a.mode, "entries": n_entries, "entries_source": source,
            "bare_pairs": min(a.bare, a.pairs), "bare_pairs_per_s": round(bare, 1),
            "wall_s": round(wall, 1), "pairs_per_s": round(rate, 1),
            "peak_rss_mb": {"driver": round(self_mb), "largest_worker": round(child_mb)},
            "stages": [{k: s[k] for k in ("stage", "in", "kept", "removed_by_reason")} for s in stats["stages"]],
            "text_clusters": clusters,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
