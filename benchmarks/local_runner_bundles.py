"""Where the local runner's time goes with worker processes: bench_text_stage's pipeline
(filter → dedup_text → balance on generated pairs), with Beam's FnApiRunner timed per fused
stage, every bundle a worker ran (counted and timed from the driver handing it over to the
answer: how many, how many longer than 0.2 s and 1.2 s, where Beam's state sampler reaches
its full period, and the short ones' median), the bytes each worker got of every bundle input
over 1 MB, and the time to stop the workers. ``--beam`` undoes curate.runner's two changes
to the runner (even bundle splits, workers stopped together) to see Beam's own behaviour in
the same script.

    .venv/bin/python benchmarks/local_runner_bundles.py [--pairs 100000] [--workers 2] [--beam]
        [--output benchmarks/results/local_runner_bundles_<date>.json]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Beam's own methods, taken before curate.runner replaces them on import.
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner, worker_handlers

BEAM_PARTITION = execution.ListBuffer.partition
BEAM_CLOSE_ALL = worker_handlers.WorkerHandlerManager.close_all

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402
from bench_text_stage import write_pairs  # noqa: E402

from curate import config as cfg  # noqa: E402
from curate import pipeline  # noqa: E402
from curate.runner import LOCAL_RUNNER  # noqa: E402


def instrument(beam: bool) -> dict:
    """Wrap the runner's bundle execution, input split and worker stop; returns what they record."""
    rec = {"stages": collections.defaultdict(float), "splits": [], "stop_s": 0.0, "stage": "", "bundles": []}
    if beam:
        execution.ListBuffer.partition = BEAM_PARTITION
        worker_handlers.WorkerHandlerManager.close_all = BEAM_CLOSE_ALL
    execute, partition, close_all = (fn_runner.FnApiRunner._execute_bundle, execution.ListBuffer.partition,
                                     worker_handlers.WorkerHandlerManager.close_all)
    process_bundle = fn_runner.BundleManager.process_bundle

    def timed_bundle(self, *args, **kwargs):  # one per worker's share of a stage, in the runner's threads
        t = time.perf_counter()
        try:
            return process_bundle(self, *args, **kwargs)
        finally:
            rec["bundles"].append(time.perf_counter() - t)  # list.append: atomic under the GIL

    def timed_execute(self, context, manager, bundle_input):
        rec["stage"] = manager.stage.name
        t = time.perf_counter()
        try:
            return execute(self, context, manager, bundle_input)
        finally:
            rec["stages"][manager.stage.name] += time.perf_counter() - t

    def measured_partition(self, n):
        parts = partition(self, n)
        sizes = [sum(map(len, p)) for p in parts]
        if sum(sizes) > 1_000_000:
            rec["splits"].append({"stage": rec["stage"][-120:], "chunks": len(self._inputs), "bytes_per_worker": sizes})
        return parts

    def timed_close_all(self):
        t = time.perf_counter()
        try:
            return close_all(self)
        finally:
            rec["stop_s"] += time.perf_counter() - t

    fn_runner.FnApiRunner._execute_bundle = timed_execute
    execution.ListBuffer.partition = measured_partition
    worker_handlers.WorkerHandlerManager.close_all = timed_close_all
    fn_runner.BundleManager.process_bundle = timed_bundle
    return rec


def bundle_counts(durations: list[float]) -> dict:
    short = [d for d in durations if d <= 0.2]
    return {
        "bundles": len(durations),
        "longer_than_0.2_s": sum(d > 0.2 for d in durations),
        "longer_than_1.2_s": sum(d > 1.2 for d in durations),
        "short_median_ms": round(1000 * statistics.median(short), 1) if short else None,
        "bundle_seconds": round(sum(durations), 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--beam", action="store_true", help="Beam's own bundle splits and worker stop")
    ap.add_argument("--output", type=Path)
    a = ap.parse_args()
    rec = instrument(a.beam)
    entries, _ = text_data.entries()
    texts = text_data.texts(a.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        write_pairs(texts, tmp / "in")
        (tmp / "queries").mkdir()
        (tmp / "queries" / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
        config = cfg.PipelineConfig(
            input=str(tmp / "in" / "*.parquet"), output=str(tmp / "out"), queries=str(tmp / "queries"),
            stages={"filter": cfg.FilterConfig(), "dedup_text": cfg.DedupTextConfig(), "balance": cfg.BalanceConfig()},
        )
        t = time.perf_counter()
        stats = pipeline.run(config, [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing",
                                      f"--direct_num_workers={a.workers}"])
        wall = time.perf_counter() - t
    top = sorted(rec["stages"].items(), key=lambda kv: -kv[1])[:6]
    print(f"{a.pairs:,} pairs, {a.workers} workers, {'Beam' if a.beam else 'curate'}'s splits and stop: {wall:.1f} s, "
          f"in bundles {sum(rec['stages'].values()):.1f} s, stopping the workers {rec['stop_s']:.2f} s")
    for name, s in top:
        print(f"  {s:6.2f} s  {name[:110]}")
    print(f"  bundles: {bundle_counts(rec['bundles'])}")
    for split in rec["splits"]:
        print(f"  split of {split['chunks']} chunks: {split['bytes_per_worker']} bytes  {split['stage'][-70:]}")
    if a.output:
        a.output.write_text(json.dumps({
            "command": "python benchmarks/local_runner_bundles.py " + " ".join(sys.argv[1:]),
            "date": str(datetime.date.today()), "pairs": a.pairs, "workers": a.workers, "beam": a.beam,
            "wall_s": round(wall, 2), "stop_workers_s": round(rec["stop_s"], 2),
            "stages_s": {name: round(s, 2) for name, s in top}, "bundles": bundle_counts(rec["bundles"]), "splits": rec["splits"],
            "funnel": {s["stage"]: [s["in"], s["kept"]] for s in stats["stages"]},
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
