"""One dedup_text partition's verification at a given pool size, as a worker at scale meets
it: caches cold (at 3M pairs a worker's caches hold ~4% of the texts it sees), the partition
cut from the generated pool the way the stage cuts it (band key % partitions), buckets with
several members verified by ``textdup.partition_edges``. Per partition: rows, texts,
candidates, edges, CPU seconds (median of --repeats, process time: the machine may be busy)
and the memory verification needs above what it leaves in the caches (tracemalloc, a separate
pass: tracing slows numpy). Partitions: the first --partitions and the one holding the
largest bucket ("hot").

    .venv/bin/python benchmarks/bench_partition_verify.py --pairs 3000000 [--partitions 1]
        [--repeats 3] [--output benchmarks/results/partition_verify_<date>.json]

Run it on two commits (a worktree of the older one, PYTHONPATH set to it) to compare them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.io import shards  # noqa: E402
from curate.ops import minhash, textdup  # noqa: E402


def band_rows(texts: list[str], c: DedupTextConfig) -> tuple[np.ndarray, np.ndarray]:
    """(band key, text number) of every band row, as SignBatchFn makes them."""
    owner, keys = [], []
    for i, t in enumerate(texts):
        for k in textdup.lsh_keys(t):
            owner.append(i)
            keys.append(k)
    out = np.empty((len(keys), c.bands), np.uint64)
    for s in range(0, len(keys), 1 << 15):
        sig = textdup.key_signatures(
            keys[s : s + (1 << 15)], c.ngram, c.unit, c.num_perm, c.minhash_seed
        )
        out[s : s + (1 << 15)] = minhash.band_keys(sig, c.bands, c.rows)
    return out.reshape(-1), np.repeat(np.asarray(owner, np.int64), c.bands)


def pool_band_rows(pairs: int, c: DedupTextConfig):
    """The generated pool of `pairs` texts and its band rows as the stage partitions them:
    (texts, band keys, text numbers, partition of each row, number of band partitions)."""
    texts = text_data.texts(pairs)
    n_parts = shards.num_shards(pairs, c.rows_per_partition) * c.bands
    keys, rows = band_rows(texts, c)
    return texts, keys, rows, (keys % np.uint64(n_parts)).astype(np.int64), n_parts


def partition_buckets(keys: np.ndarray, rows: np.ndarray):
    """BucketEdgesFn's input of one partition: (members, offsets) over text numbers in order,
    and those text numbers (the partition's texts, in uid order)."""
    order = np.lexsort((rows, keys))
    keys, rows = keys[order], rows[order]
    cut = np.flatnonzero(np.diff(keys)) + 1
    starts, ends = np.concatenate(([0], cut)), np.concatenate((cut, [keys.size]))
    multi = (ends - starts) > 1
    starts, ends = starts[multi], ends[multi]
    lengths = ends - starts
    members = rows[np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])]
    used, number = np.unique(members, return_inverse=True)
    return (
        (number.astype(np.int64), np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)),
        used,
        int(lengths.max()),
    )


def measure(buckets, texts: list[str], c: DedupTextConfig, repeats: int) -> dict:
    # The stage gives partition_edges tokenized forms where this code has them (band rows
    # carry them); before that, the texts.
    forms = [textdup.tokenized(t) for t in texts] if hasattr(textdup, "tokenized") else texts
    if hasattr(textdup, "text_codes"):  # the stage gives them as its band table's Arrow column
        import pyarrow as pa

        forms = pa.array(forms, pa.string())
    cpu, counts = [], {}
    for _ in range(repeats):
        textdup.clear_caches()
        counts = {}
        t = time.process_time()
        edges = textdup.partition_edges(
            buckets, forms, c.threshold, c.ngram, c.unit, c.max_compare, counts
        )
        cpu.append(time.process_time() - t)
    textdup.clear_caches()
    tracemalloc.start()
    textdup.partition_edges(buckets, forms, c.threshold, c.ngram, c.unit, c.max_compare)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "texts": len(texts),
        **counts,
        "edges": len(edges),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "cpu_s": [round(x, 3) for x in cpu],
        "verification_memory_mb": round((peak - retained) / 2**20, 1),
        "left_in_caches_mb": round(retained / 2**20, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=3_000_000)
    ap.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="how many partitions from the first, besides the hot one",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    c = DedupTextConfig()
    texts, keys, rows, part, n_parts = pool_band_rows(args.pairs, c)
    distinct, sizes = np.unique(keys, return_counts=True)
    hot = int(distinct[np.argmax(sizes)] % np.uint64(n_parts))
    textdup.partition_edges(
        ([0, 1], np.array([0, 2])), ["a b", "a b"], 0.25, 3, "char", 64
    )  # compile
    out = []
    for p in list(range(args.partitions)) + [hot]:
        mask = part == p
        buckets, used, largest = partition_buckets(keys[mask], rows[mask])
        row = {
            "partition": p,
            "hot": p == hot,
            "band_rows": int(mask.sum()),
            "largest_bucket": largest,
            **measure(buckets, [texts[u] for u in used.tolist()], c, args.repeats),
        }
        print(json.dumps(row), flush=True)
        out.append(row)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(textdup.__file__).parent,
    ).stdout.strip()
    result = {
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "code": commit,
        "pairs": args.pairs,
        "partitions_in_all": n_parts,
        "rows": out,
    }
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
