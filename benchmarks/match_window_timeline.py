"""What `bench_match.py`'s Beam run spends its time on, from timestamps taken inside it:
FilterText's batches, the matching kernel within them, and the stamps
`bench_match.run_beam` puts where FilterText's outputs leave it and after the Flatten that
follows (another stage on the local runner). Per text count, medians of repeats:

- kernel: the seconds inside ``Matcher.match_array``;
- filter other: FilterText's batches less the kernel (word counts, reasons, columns, split);
- reads: reading the same shards as ReadShards does, outside Beam, right after the run;
- window: the steady window as `bench_match` measures it now (first batch in, last out);
- events span: FilterText's first batch started to its last done;
- stage end: from the last output leaving FilterText to the last one through the Flatten
  (``beam_stage_end_s``; before 2026-12-03 this was inside the window).

    .venv/bin/python benchmarks/match_window_timeline.py [--texts 25000 100000 200000]
        [--repeats 3] [--sampler-ms 200] [--out benchmarks/results/match_window_timeline_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import bench_match  # noqa: E402
import text_data  # noqa: E402

from curate.io import shards  # noqa: E402
from curate.ops import text_filter  # noqa: E402
from curate.transforms import filter as filter_stage  # noqa: E402

SECONDS = {"kernel": 0.0, "filter": 0.0}
EVENTS: list[float] = []


def _timed_process(process):
    """FilterTextFn.process, its time added to SECONDS["filter"] and its start and end to
    EVENTS (Beam reads the method's parameters, so they are spelt out)."""

    def timed(self, table):
        t = time.perf_counter()
        EVENTS.append(t)
        for out in process(self, table):
            SECONDS["filter"] += time.perf_counter() - t
            yield out
            t = time.perf_counter()
        SECONDS["filter"] += time.perf_counter() - t
        EVENTS.append(time.perf_counter())

    return timed


def _timed_kernel(match_array):
    def timed(self, texts):
        t = time.perf_counter()
        try:
            return match_array(self, texts)
        finally:
            SECONDS["kernel"] += time.perf_counter() - t

    return timed


def install() -> None:
    """Time FilterText's batches and the kernel. `run_beam` runs its bundles in this process
    and the pipeline refers to these classes by name, so the patched methods are the ones run."""
    filter_stage.FilterTextFn.process = _timed_process(filter_stage.FilterTextFn.process)
    text_filter.Matcher.match_array = _timed_kernel(text_filter.Matcher.match_array)


def read_seconds(paths: list[Path]) -> float:
    """Reading the shards as ReadShards does, outside Beam."""
    t = time.perf_counter()
    for path in paths:
        for _ in shards.read_shard(str(path), bench_match.BATCH):
            pass
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, nargs="+", default=[25_000, 100_000, 200_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sampler-ms", type=int, default=None,
                    help="Beam's state-sampling period for these runs (default: curate's, curate.beam_worker; Beam's own is 200)")
    ap.add_argument("--out", default=str(HERE / "results" / f"match_window_timeline_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    install()
    if a.sampler_ms is not None:
        from curate.beam_worker import short_state_sampling

        short_state_sampling(a.sampler_ms)  # the bundles here run in this process
    entries, source = text_data.entries()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        q = bench_match.write_queries(Path(tmp) / "q", entries)
        one = Path(tmp) / "one"
        bench_match.write_shards(one, text_data.texts(1))
        for n in a.texts:
            data = Path(tmp) / f"data{n}"
            bench_match.write_shards(data, text_data.texts(n))
            seen: dict[str, list[float]] = {k: [] for k in ("window", "events_span", "kernel", "filter_other", "reads", "stage_end")}
            for _ in range(a.repeats):
                bench_match.run_beam(str(one / "in-*.parquet"), str(q))  # what loads on first use
                for k in SECONDS:
                    SECONDS[k] = 0.0
                EVENTS.clear()
                _, window, stage_end = bench_match.run_beam(str(data / "in-*.parquet"), str(q))
                seen["window"].append(window)
                seen["events_span"].append(max(EVENTS) - min(EVENTS))
                seen["kernel"].append(SECONDS["kernel"])
                seen["filter_other"].append(SECONDS["filter"] - SECONDS["kernel"])
                seen["reads"].append(read_seconds(sorted(data.glob("*.parquet"))))
                seen["stage_end"].append(stage_end)
            row = {"texts": n, "median_s": {k: round(statistics.median(v), 3) for k, v in seen.items()},
                   "each_repeat_s": {k: [round(x, 3) for x in v] for k, v in seen.items()}}
            rows.append(row)
            print(f"{n:>8,} texts: " + ", ".join(f"{k} {v:.3f} s" for k, v in row["median_s"].items()), flush=True)
    Path(a.out).write_text(json.dumps({
        "command": "python benchmarks/match_window_timeline.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0]},
        "entries": len(entries), "entries_source": source, "repeats": a.repeats,
        "state_sampling_ms": a.sampler_ms if a.sampler_ms is not None else "curate's", "rows": rows}, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
