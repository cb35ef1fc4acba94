"""A worker's share of dedup_text's verification, partition after partition in one process as
a worker runs it, with and without the per-process memo of the rule's verdicts
(``curate.ops.rule_memo``): the generated pool signed and cut into the stage's band
partitions (``bench_partition_verify.pool_band_rows``), the partitions p with p % --workers == 0
verified in order by ``textdup.partition_edges``. Arms alternate, each pass starting from
empty caches and a fresh memo, as a new worker does; CPU seconds per pass (process time: the
machine may be busy), medians, and how often the rule itself ran. Both arms must find the
same edges. --profile adds one pass with the memo under cProfile: the functions with the most
time of their own.

    .venv/bin/python benchmarks/bench_worker_verify.py [--pairs 300000] [--workers 2]
        [--repeats 3] [--profile] [--output benchmarks/results/worker_verify_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from bench_partition_verify import partition_buckets, pool_band_rows  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.ops import rule_memo, textdup  # noqa: E402


def one_pass(partitions, c: DedupTextConfig, memo) -> tuple[float, list, int, dict]:
    """(CPU seconds, edges of every partition, rule calls, counts) of verifying the
    partitions in order."""
    textdup.clear_caches()
    calls = [0]
    rule = textdup.verdicts

    def counted(forms, i, j):
        calls[0] += int(i.size)
        return rule(forms, i, j)

    textdup.verdicts = counted
    counts: dict = {}
    edges = []
    try:
        t = time.process_time()
        for buckets, forms in partitions:
            edges.append(textdup.partition_edges(buckets, forms, c.threshold, c.ngram, c.unit, c.max_compare, counts, memo=memo))
        cpu = time.process_time() - t
    finally:
        textdup.verdicts = rule
    return cpu, edges, calls[0], counts


def profile(partitions, c: DedupTextConfig, top: int = 14) -> list[dict]:
    """One pass with a fresh memo under cProfile: the `top` functions by their own time."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.runcall(one_pass, partitions, c, rule_memo.RuleMemo())
    stats = pstats.Stats(prof).stats
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    out = [{"function": f"{Path(f).name}:{line}({name})", "calls": int(v[1]), "own_s": round(v[2], 2), "cumulative_s": round(v[3], 2)}
           for (f, line, name), v in rows]
    for r in out:
        print(f"{r['own_s']:8.2f} {r['cumulative_s']:8.2f}  {r['function']}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=300_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    c = DedupTextConfig()
    texts, keys, rows, part, n_parts = pool_band_rows(args.pairs, c)
    mine = part % args.workers == 0
    keys, rows, part = keys[mine], rows[mine], part[mine]
    order = np.argsort(part, kind="stable")
    keys, rows, part = keys[order], rows[order], part[order]
    cut = np.flatnonzero(np.diff(part)) + 1
    partitions = []
    for s, e in zip(np.concatenate(([0], cut)), np.concatenate((cut, [part.size])), strict=True):
        buckets, used, _ = partition_buckets(keys[s:e], rows[s:e])
        if used.size:
            partitions.append((buckets, pa.array([textdup.tokenized(texts[u]) for u in used.tolist()], pa.string())))
    del keys, rows, part
    one_pass(partitions[:2], c, rule_memo.RuleMemo())  # compile / load the kernels
    arms = {"memo": [], "no_memo": []}
    runs = {}
    for _ in range(args.repeats):
        for arm in arms:
            cpu, edges, calls, counts = one_pass(partitions, c, rule_memo.RuleMemo() if arm == "memo" else None)
            arms[arm].append(round(cpu, 2))
            runs[arm] = (edges, calls, counts)
            print(f"{arm}: {cpu:.2f} CPU s, rule ran on {calls:,} pairs", flush=True)
    if runs["memo"][0] != runs["no_memo"][0]:
        raise SystemExit("the two arms found different edges")
    counts = runs["memo"][2]
    result = {
        "command": "python benchmarks/bench_worker_verify.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "pairs": args.pairs,
        "workers": args.workers,
        "partitions": len(partitions),
        "of_partitions": n_parts,
        **counts,
        "rule_pairs": {arm: runs[arm][1] for arm in runs},
        "cpu_s": arms,
        "cpu_s_median": {arm: statistics.median(v) for arm, v in arms.items()},
        "ratio_no_memo_over_memo": round(statistics.median(arms["no_memo"]) / statistics.median(arms["memo"]), 3),
        "same_edges": True,
    }
    if args.profile:
        result["profile_memo_pass"] = profile(partitions, c)
    print(json.dumps({k: result[k] for k in ("partitions", "rule_pairs", "cpu_s_median", "ratio_no_memo_over_memo")}))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
