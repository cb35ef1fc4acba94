"""The text pipeline (ingest, filter, dedup_text, balance) on a portable runner vs the local
runner, same pool, same machine; prints the time ratio (median of repeats).

  .venv/bin/python benchmarks/bench_flink.py [--pairs 2000] [--repeats 3] [--parallelism 2]

Runner under test: Beam's FlinkRunner with an embedded Flink cluster ([local]) when Java and
the job server jar (scripts/flink_jobserver.sh) are present; otherwise Beam's Python job
service + an EXTERNAL SDK worker pool (separate processes, the docker-compose layout with
the Python job service in place of Flink's). Reference: the local FnApiRunner in-process.
Service start-up is timed separately (a cluster is long-running; a job pays only submission).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate import pipeline  # noqa: E402
from curate import runners_flink as flink  # noqa: E402
from curate.runner import in_process_args  # noqa: E402
from tests.integration.conftest import pool_files, whole_pipeline_config  # noqa: E402
from tests.integration.test_portable import _free_port, _wait_for_port  # noqa: E402


def _timed(config, args) -> tuple[float, dict]:
    t = time.perf_counter()
    stats = pipeline.run(config, args)
    return time.perf_counter() - t, stats


def _start_portable(tmp: Path):
    job_port, pool_port = _free_port(), _free_port()
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "PATH": path}
    procs = [
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={job_port}", f"--staging_dir={tmp / 'staging'}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={pool_port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    _wait_for_port(job_port, procs[0])
    _wait_for_port(pool_port, procs[1])
    args = ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}", "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}"]
    return args, procs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=2)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-flink-"))
    procs = []
    try:
        pool = tmp / "pool"
        pool.mkdir()
        for name, data in pool_files(a.pairs).items():
            (pool / name).write_bytes(data)
        jar = flink.find_job_server_jar() if flink.java_available() else None
        t = time.perf_counter()
        if jar:
            name = f"FlinkRunner [local] parallelism {a.parallelism}"
            other = flink.flink_args(jar, "[local]", parallelism=a.parallelism)
        else:
            name = "PortableRunner + Python job service + EXTERNAL worker pool"
            other, procs = _start_portable(tmp)
            print(f"(no Flink job server jar at {flink.jar_path()}: measuring the portable path)")
        startup = time.perf_counter() - t
        local, remote = [], []
        for i in range(a.repeats):
            dt, ref = _timed(whole_pipeline_config(str(pool), str(tmp / f"local{i}")), in_process_args())
            local.append(dt)
            dt, got = _timed(whole_pipeline_config(str(pool), str(tmp / f"other{i}")), other)
            remote.append(dt)
            if got != ref:
                raise SystemExit("the runners disagree: stats differ")
        lm, rm = statistics.median(local), statistics.median(remote)
        print(f"pool: {ref['input']} raw rows -> {ref['kept']} kept, stages {[s['stage'] for s in ref['stages']]}")
        print(f"local FnApiRunner (in-process):  median {lm:.1f} s  {[round(x, 1) for x in local]}")
        print(f"{name}: median {rm:.1f} s  {[round(x, 1) for x in remote]}  (+{startup:.1f} s service start, once)")
        print(f"ratio portable/local: {rm / lm:.2f}x")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
