"""Where a text-stage run's samples go, from py-spy's raw output of the benchmark (all its
processes): samples per process (and how many sit in a waiting leaf), per DoFn of the text
stage, inside BucketEdgesFn per callee of dedup_text's verification, the worker processes'
samples in a DoFn, waiting or in the runner, the callees of signing and of the filter, and the
exchange's spill writes by line.

    /path/to/py-spy record --subprocesses --rate 20 --format raw -o spy.txt -- \\
        .venv/bin/python benchmarks/bench_text_stage.py --pairs 1000000 --workers 2
    python benchmarks/pyspy_summary.py spy.txt --rate 20

Figures are thread-samples / rate: a process with several busy threads counts each.
"""

from __future__ import annotations

import argparse
import collections

DOFNS = ["BucketEdgesFn", "SignBatchFn", "FilterTextFn", "_Spill", "ApplyLabelsFn", "CapClusterFn", "KeyByShardFn",
         "Balance", "write_shard", "read_shard", "text_data", "write_pairs", "bare_rate", "cluster_fingerprint"]
INSIDE = ["SignBatchFn.pieces", "SignBatchFn.process", "FilterTextFn.process"]  # broken down by callee as well
LINES = ["_Spill.write"]  # broken down by the line the function was at (its callees' samples included)
WAITING = ["Condition.wait", "_serve", "channel_spin", "Popen._try_wait", "Event.wait", "Queue.get",
           "Semaphore.acquire", "_wait_once", "select"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("raw", help="py-spy --format raw output")
    ap.add_argument("--rate", type=float, default=20, help="the --rate py-spy sampled at")
    a = ap.parse_args(argv)
    procs, waiting, dofn, verify = (collections.Counter() for _ in range(4))
    inside = {name: collections.Counter() for name in INSIDE}
    lines = {name: collections.Counter() for name in LINES}
    workers = collections.Counter()  # SDK worker processes' samples: in a DoFn, waiting, the runner
    with open(a.raw, encoding="utf-8") as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            frames = stack.split(";")
            proc = next((x for x in frames[1:3] if x.startswith("process")), frames[0])[:90]
            procs[proc] += n
            if any(w in frames[-1] for w in WAITING):
                waiting[proc] += n
            which = next((d for d in DOFNS if d in stack), "(runner, driver, other)")
            dofn[which] += n
            if sum(x.startswith("process") for x in frames[:3]) > 1:  # a worker (a child of the driver)
                workers["waiting" if any(w in frames[-1] for w in WAITING) else
                        "in a DoFn" if which != "(runner, driver, other)" else "the runner (neither)"] += n
            for name, counter in inside.items():
                hits = [k for k, x in enumerate(frames) if name in x]
                if hits:
                    below = [x.split(" (")[0] for x in frames[hits[-1] + 1 : hits[-1] + 3]]
                    counter[" > ".join(below) or "(itself)"] += n
            for name, counter in lines.items():
                hits = [k for k, x in enumerate(frames) if name in x]
                if hits:
                    counter[frames[hits[-1]].rpartition(":")[2].rstrip(")")] += n
            if "BucketEdgesFn" in stack:
                at = max(k for k, x in enumerate(frames) if "BucketEdgesFn" in x)
                below = [x.split(" (")[0] for x in frames[at + 1 :]]
                key = below[0] if below else "(BucketEdgesFn itself)"
                if key == "partition_edges" and len(below) > 2:
                    key = "partition_edges > " + below[2]
                    if below[2] in ("_verify", "text_codes") and len(below) > 3:
                        key += " > " + below[3]
                verify[key] += n
    print("processes (seconds of samples, of which in a waiting leaf):")
    for p, n in procs.most_common(6):
        print(f"  {n / a.rate:8.1f} {waiting[p] / a.rate:8.1f}  {p}")
    print("by DoFn:")
    for d, n in dofn.most_common():
        print(f"  {n / a.rate:8.1f}  {d}")
    print("inside BucketEdgesFn (a callee's own samples; _verify's own include the compiled Jaccard loop):")
    for k, n in verify.most_common(16):
        print(f"  {n / a.rate:8.1f}  {k}")
    print("worker processes' samples:")
    for k, n in workers.most_common():
        print(f"  {n / a.rate:8.1f}  {k}")
    for name, counter in inside.items():
        print(f"inside {name} (callees two levels down; compiled code counts in its caller):")
        for k, n in counter.most_common(10):
            print(f"  {n / a.rate:8.1f}  {k}")
    for name, counter in lines.items():
        print(f"{name} by line (its callees included):")
        for k, n in counter.most_common(6):
            print(f"  {n / a.rate:8.1f}  line {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
