"""How long ending a bundle waits for Beam's state sampler, at Beam's period (200 ms) and at
curate's (``curate.beam_worker.STATE_SAMPLING_MS``), alternating within each repeat.

A bundle processor starts a ``StateSampler`` when the bundle starts and stops it when the
bundle ends; ``stop`` joins the sampler's thread, which sleeps a period at a time (from 1-2 ms
up to the period, x1.2 per wake). Here a sampler runs as long as a bundle would (a random
0.2-3 s, the same for both periods in a repeat), then ``stop`` is timed. The worker does
nothing else while it waits, and the runner starts the stages that need the bundle's output
only after it.

    .venv/bin/python benchmarks/bench_bundle_end.py [--repeats 30]
        [--out benchmarks/results/bundle_end_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def stop_wait(period_ms: int, run_s: float) -> float:
    """Seconds `stop` takes on a sampler of `period_ms` that ran `run_s`."""
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    sampler = statesampler.StateSampler("bench", CounterFactory(), sampling_period_ms=period_ms)
    sampler.start()
    time.sleep(run_s)
    t = time.perf_counter()
    sampler.stop()
    return time.perf_counter() - t


def main(argv=None) -> int:
    from curate.beam_worker import STATE_SAMPLING_MS

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / f"bundle_end_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    periods = (200, STATE_SAMPLING_MS)
    waits: dict[int, list[float]] = {p: [] for p in periods}
    for r in range(a.repeats):
        run_s = rng.uniform(0.2, 3.0)
        for p in periods if r % 2 == 0 else periods[::-1]:
            waits[p].append(stop_wait(p, run_s))
    result = {
        "command": "python benchmarks/bench_bundle_end.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0]},
        "repeats": a.repeats,
        "bundle_seconds": "uniform 0.2-3.0, the same for both periods in a repeat",
        "stop_wait_ms": {
            str(p): {
                "median": round(1000 * statistics.median(w), 1),
                "mean": round(1000 * statistics.fmean(w), 1),
                "max": round(1000 * max(w), 1),
            }
            for p, w in waits.items()
        },
        "each_repeat_ms": {str(p): [round(1000 * x, 1) for x in w] for p, w in waits.items()},
    }
    for p in periods:
        s = result["stop_wait_ms"][str(p)]
        print(f"period {p:>3} ms: a bundle's end waits {s['median']:.1f} ms (median), {s['mean']:.1f} mean, {s['max']:.1f} max")
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
