"""Start-up cost of the command line: `curate --help`, and one stage on a 10-row pool with
the local runner's choice for small inputs (in this process) against the multi-process mode
(what every run used before: worker processes for 10 rows), in the same run.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--results FILE] [--bytecode]

--bytecode runs every case twice, with the .venv's bytecode (what scripts/setup.sh compiles)
and without it (PYTHONPYCACHEPREFIX at an empty folder and PYTHONDONTWRITEBYTECODE=1: every
module compiled from source in every process, as in a venv installed without bytecode where
Python may not write it), and adds a worker's imports (what each SDK worker process loads).

Prints the median wall time of each (separate processes, as a user runs them) and the load
average before and after: the machine is shared, so compare the ratio, not the seconds."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CURATE = str(Path(sys.executable).with_name("curate"))


def timed(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--results", default=None, help="also write the figures as JSON here")
    p.add_argument("--bytecode", action="store_true", help="each case with and without compiled bytecode")
    args = p.parse_args(argv)
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    pool = tmp / "pool10.parquet"
    pq.write_table(pa.table({"url": [f"http://example.com/{i}.jpg" for i in range(10)],
                             "caption": [f"a photo of a red dog number {i}" for i in range(10)]}), pool)
    load_before = os.getloadavg()
    cases = {
        "curate --help": lambda i: [CURATE, "--help"],
        "curate ingest, 10 rows (in-process, the default for small inputs)":
            lambda i: [CURATE, "ingest", "--input", str(pool), "--output", str(tmp / f"a{i}")],
        "curate ingest, 10 rows (--direct_running_mode=multi_processing, the earlier default)":
            lambda i: [CURATE, "ingest", "--input", str(pool), "--output", str(tmp / f"b{i}"),
                       "--direct_running_mode=multi_processing"],
    }
    envs = {"": None}
    if args.bytecode:
        cases["a worker's imports (Beam's SDK worker, numba, scipy, curate's stages)"] = lambda i: [
            sys.executable, "-c", "import apache_beam.runners.worker.sdk_worker_main, numba, scipy.special, "
            "curate.pipeline, curate.ops.textdup, curate.ops.text_filter"]
        (tmp / "no-pyc").mkdir()
        base = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        envs = {" [bytecode]": base, " [no bytecode]": {**base, "PYTHONPYCACHEPREFIX": str(tmp / "no-pyc")}}
    times = {name + tag: [] for name in cases for tag in envs}
    for i in range(args.repeats):  # interleaved, so load changes hit every case alike
        for name, make in cases.items():
            for tag, env in envs.items():
                times[name + tag].append(timed(make(i), env))
    load_after = os.getloadavg()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, m in medians.items():
        print(f"{m:6.2f} s  median of {args.repeats}  {name}  (all: {', '.join(f'{t:.1f}' for t in times[name])})")
    names = list(cases)
    tag = next(iter(envs))
    print(f"in-process / multi-process: {medians[names[1] + tag] / medians[names[2] + tag]:.2f}")
    if args.bytecode:
        for name in names:
            print(f"without / with bytecode: {medians[name + ' [no bytecode]'] / medians[name + ' [bytecode]']:.2f}  {name}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min), on {os.cpu_count()} cores")
    if args.results:
        with open(args.results, "w") as f:
            json.dump({"medians_s": medians, "all_s": times, "load_before": load_before,
                       "load_after": load_after, "cpus": os.cpu_count(),
                       "command": "python benchmarks/bench_startup.py " + " ".join(argv or sys.argv[1:])}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
