"""dedup_text's signing step per pair at the partition counts of growing pools: a 4,096-pair
batch (generated texts) through ``SignBatchFn.pieces``, whose band rows are grouped into
``pools / rows_per_partition x bands`` partitions by ``schema.key_groups`` (one stable sort),
against the same step with the grouping it replaced (one scan of the keys per partition),
measured in the same run; the pieces are checked equal. Medians of repeats.

    .venv/bin/python benchmarks/bench_sign_split.py [--pairs 100000 1000000 3000000]
        [--repeats 5] [--output benchmarks/results/sign_split_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate import schema  # noqa: E402
from curate.config import DedupTextConfig  # noqa: E402
from curate.io import shards  # noqa: E402
from curate.transforms import dedup_text  # noqa: E402

SORTED = schema.key_groups


def groups_by_filter(keys):
    """The grouping before: one scan of the keys per distinct partition."""
    keys = np.asarray(keys)
    for k in np.unique(keys):
        yield int(k), np.flatnonzero(keys == k)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=str(HERE / "results" / f"sign_split_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    c = DedupTextConfig()
    texts = text_data.texts(a.batch, seed=5)
    table = pa.table({"uid": [f"{i:032x}" for i in range(len(texts))], "text": texts})
    fn = dedup_text.SignBatchFn(c)
    fn.setup()
    list(fn.pieces(table, 1))  # numba kernels: compile or load their cache
    rows = []
    for pool in a.pairs:
        parts = shards.num_shards(pool, c.rows_per_partition)
        # "filter_per_partition": the name files before 2026-12-03 used for the grouping before
        times: dict[str, list[float]] = {"sorted": [], "filter_per_partition": []}
        pieces = {}
        for _ in range(a.repeats):
            for name, split in (("sorted", SORTED), ("filter_per_partition", groups_by_filter)):
                schema.key_groups = split  # the grouping the step calls, for this measurement
                try:
                    t = time.perf_counter()
                    pieces[name] = list(fn.pieces(table, parts))
                    times[name].append(time.perf_counter() - t)
                finally:
                    schema.key_groups = SORTED
        same = [k for k, _ in pieces["sorted"]] == [k for k, _ in pieces["filter_per_partition"]] and all(
            x.equals(y) for (_, x), (_, y) in zip(pieces["sorted"], pieces["filter_per_partition"], strict=True))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "pool_pairs": pool,
            "band_partitions": parts * c.bands,
            "pieces": len(pieces["sorted"]),
            "us_per_pair_median": {k: round(v / len(texts) * 1e6, 1) for k, v in med.items()},
            "seconds_each_repeat": {k: [round(x, 4) for x in v] for k, v in times.items()},
            "speedup": round(med["filter_per_partition"] / med["sorted"], 2),
            "same_pieces": same,
        }
        rows.append(row)
        print(f"pool {pool:>9,}: {parts * c.bands:>5} band partitions; signing a {len(texts):,}-pair batch "
              f"{row['us_per_pair_median']['sorted']:.0f} us/pair sorted, "
              f"{row['us_per_pair_median']['filter_per_partition']:.0f} us/pair with a scan per partition "
              f"({row['speedup']:.1f}x); same pieces: {same}", flush=True)
        if not same:
            print("PIECES DIFFER", file=sys.stderr)
            return 1
    Path(a.output).write_text(json.dumps({
        "command": "python benchmarks/bench_sign_split.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()), "cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0],
        "batch_pairs": len(texts), "rows_per_partition": c.rows_per_partition, "bands": c.bands,
        "repeats": a.repeats, "rows": rows}, indent=1) + "\n")
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
