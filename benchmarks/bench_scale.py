"""Which runner for which pool size: the text stages (ingest → filter → dedup_text → balance) on
generated pairs at several sizes, on (a) the local runner (Beam's FnApiRunner, multi-process)
and (b) the standalone Flink cluster of scripts/flink_cluster.sh (JobManager, two
TaskManagers that start the Python SDK harnesses as their children) at parallelism 2. Per
run: wall time, pairs/s and the peak resident memory of every process, by role (driver = the
`curate run` process; local workers; job server; JobManager; TaskManagers; SDK harnesses),
with a timeline of each role's largest RSS every 15 s; on the cluster also the TaskManagers'
JVM memory as Flink reports it (heap used and its maximum, managed memory used, direct
buffers: a JVM's RSS rises to its configured sizes as pages are touched, so these say what was
in use) and every job vertex's duration.

The goal it checks: on Flink, peak RSS per process grows by at most 1.5x from the smallest to
the largest size, while the local runner's driver keeps every PCollection in memory. A run
whose processes together pass --memory-cap-gb, or that runs past --time-limit-s, is stopped
(with every process it started) and recorded as not finished, with its memory so far.

    .venv/bin/python benchmarks/bench_scale.py --pairs 250000 1000000 3000000 \
        [--runners local cluster] [--output benchmarks/results/scale_<date>.json]

The cluster is started (and stopped at the end) by this script unless one is running.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402
from bench_text_stage import write_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "scripts" / "flink_cluster.sh"
CURATE = Path(sys.executable).with_name("curate")


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, RSS bytes, command line) of every process visible in /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            with open(f"/proc/{d}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, rss, cmd)
    return out


def _rss_split(pid: int) -> dict[str, int]:
    """RssAnon / RssFile / RssShmem of a process, in MB: anonymous memory (heap, malloc, JVM
    off-heap) against file pages mapped into it (jars, libraries, mmap'd files), which the
    kernel can drop."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    key, kb = line.split()[:2]
                    out[key[3:-1].lower()] = round(int(kb) / 1024)
    except OSError:
        pass
    return out


def _native_memory(pid: int) -> dict[str, int] | None:
    """Committed MB per category from the JVM's Native Memory Tracking (`jcmd <pid>
    VM.native_memory summary`), or None when the JVM was not started with
    -XX:NativeMemoryTracking (CURATE_TM_JAVA_OPTS of scripts/flink_cluster.sh)."""
    try:
        out = subprocess.run(["jcmd", str(pid), "VM.native_memory", "summary", "scale=MB"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    got = {}
    for m in re.finditer(r"^(?:-\s+([A-Za-z][\w ]*?)|Total:)\s*\(?reserved=\d+MB, committed=(\d+)MB", out, re.M):
        got[(m.group(1) or "Total").strip()] = int(m.group(2))
    return got or None


def _descendants(table, root: int) -> set[int]:
    found, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == p and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return found


def _role(pid: int, driver: int, cmd: str, cluster_pids: dict[int, str]) -> str | None:
    if pid in cluster_pids:
        return cluster_pids[pid]
    if pid == driver:
        return "driver"
    if "job-server" in cmd or "jobserver" in cmd:
        return "job server"
    if "sdk_worker" in cmd or "SdkHarness" in cmd or "worker_pool_main" in cmd or "sdk_boot" in cmd:
        return "sdk worker"
    return "driver child"


class MemorySampler(threading.Thread):
    """Peak RSS per process (by role) of a run's processes, sampled every `interval` s; stops
    the run (its process and every descendant) when their sum passes `cap` bytes or the run
    passes `time_limit` seconds."""

    def __init__(self, proc: subprocess.Popen, cluster_pids: dict[int, str], cap: int, interval=0.5,
                 time_limit: float | None = None, rest: str | None = None, every: float = 15.0):
        super().__init__(daemon=True)
        self.proc, self.cluster_pids, self.cap, self.interval = proc, cluster_pids, cap, interval
        self.started = time.monotonic()
        self.deadline = self.started + time_limit if time_limit else None
        self.rest, self.every, self.next_slow = rest, every, self.started
        self.timeline: list[dict] = []  # every `every` s: each role's largest RSS (MB)
        # every `every` s: the largest TaskManager's RSS split (anon/file/shmem) and, every
        # fourth time, its JVM's native memory by category when tracking is on
        self.tm_timeline: list[dict] = []
        self.jvm: dict[str, dict[str, int]] = {}  # TaskManager id -> metric -> largest value (MB)
        self.peaks: dict[int, tuple[str, int]] = {}
        self.peak_total = 0
        self.capped = False
        self.timed_out = False
        self.done = threading.Event()

    def _stop_run(self, table) -> None:
        for pid in sorted(_descendants(table, self.proc.pid), reverse=True):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def run(self):
        while not self.done.is_set() and self.proc.poll() is None:
            table = _proc_table()
            pids = _descendants(table, self.proc.pid) | set(self.cluster_pids)
            # SDK harnesses are the TaskManagers' children (PROCESS environment)
            for root in [p for p, r in self.cluster_pids.items() if r in ("taskmanager", "worker pool")]:
                pids |= _descendants(table, root)
            total = 0
            now_by_role: dict[str, int] = {}
            largest_tm = (0, None)
            for pid in pids:
                if pid not in table:
                    continue
                _, rss, cmd = table[pid]
                role = _role(pid, self.proc.pid, cmd, self.cluster_pids)
                total += rss
                now_by_role[role] = max(now_by_role.get(role, 0), rss)
                if role == "taskmanager" and rss > largest_tm[0]:
                    largest_tm = (rss, pid)
                if rss > self.peaks.get(pid, ("", 0))[1]:
                    self.peaks[pid] = (role, rss)
            self.peak_total = max(self.peak_total, total)
            if time.monotonic() >= self.next_slow:
                self.next_slow += self.every
                self.timeline.append({"s": round(time.monotonic() - self.started),
                                      **{r: round(v / 2**20) for r, v in sorted(now_by_role.items())}})
                if self.rest:
                    self._sample_jvm()
                if largest_tm[1] is not None:
                    row = {"s": self.timeline[-1]["s"], "pid": largest_tm[1], **_rss_split(largest_tm[1])}
                    # jcmd starts a JVM: only where tracking is on, once a minute
                    if len(self.tm_timeline) % 4 == 0 and "NativeMemoryTracking" in table[largest_tm[1]][2]:
                        nmt = _native_memory(largest_tm[1])
                        if nmt:
                            row["native_memory_mb"] = nmt
                    self.tm_timeline.append(row)
            if total > self.cap:
                self.capped = True
                self._stop_run(table)
                return
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.timed_out = True
                self._stop_run(table)
                return
            time.sleep(self.interval)

    def _sample_jvm(self) -> None:
        try:
            for tm in _rest_json(self.rest, "/taskmanagers")["taskmanagers"]:
                got = _rest_json(self.rest, f"/taskmanagers/{tm['id']}/metrics?get={','.join(JVM_METRICS)}")
                mine = self.jvm.setdefault(tm["id"], {})
                for m in got:
                    name = JVM_METRICS[m["id"]]
                    mine[name] = max(mine.get(name, 0), round(float(m["value"]) / 2**20))
        except (OSError, ValueError, KeyError):
            pass  # the REST endpoint is busy or gone: the next sample tries again

    def by_role(self) -> dict[str, dict]:
        roles: dict[str, list[int]] = {}
        for role, rss in self.peaks.values():
            roles.setdefault(role, []).append(rss)
        return {r: {"processes": len(v), "peak_rss_mb_max": round(max(v) / 2**20), "peak_rss_mb_sum": round(sum(v) / 2**20)}
                for r, v in sorted(roles.items())}


# Flink's TaskManager metrics (bytes) -> the names the results use (MB, the largest sample)
JVM_METRICS = {
    "Status.JVM.Memory.Heap.Used": "heap_used_mb_max",
    "Status.JVM.Memory.Heap.Max": "heap_max_mb",
    "Status.JVM.Memory.NonHeap.Used": "non_heap_used_mb_max",
    "Status.JVM.Memory.Direct.MemoryUsed": "direct_used_mb_max",
    "Status.Flink.Memory.Managed.Used": "managed_used_mb_max",
    "Status.Flink.Memory.Managed.Total": "managed_total_mb",
}


def _rest_json(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.load(r)


def flink_vertices(base: str) -> list[dict]:
    """Each job vertex of the newest job on the cluster: name, seconds, state."""
    jobs = sorted(_rest_json(base, "/jobs/overview")["jobs"], key=lambda j: j["start-time"])
    if not jobs:
        return []
    job = _rest_json(base, f"/jobs/{jobs[-1]['jid']}")
    return [{"name": v["name"][:160], "s": round(max(v.get("duration", 0), 0) / 1000), "state": v["status"]}
            for v in job["vertices"]]


def cluster_pids() -> dict[int, str]:
    run = Path(os.environ.get("CURATE_FLINK_RUN", ROOT / "data" / "flink" / "run"))
    roles = {"standalonesession": "jobmanager", "taskexecutor": "taskmanager", "worker-pool": "worker pool"}
    out = {}
    for f in run.glob("*.pid"):
        role = next((r for k, r in roles.items() if k in f.name), f.stem)
        for p in f.read_text().split():
            out[int(p)] = role
    return out


def stage_options(items: list[str]) -> dict[str, dict]:
    """["dedup_text.bands=2", ...] -> {"dedup_text": {"bands": 2}}; values are JSON (or strings)."""
    stages: dict[str, dict] = {"ingest": {}, "filter": {}, "dedup_text": {}, "balance": {}}
    for item in items:
        key, sep, value = item.partition("=")
        stage, dot, name = key.partition(".")
        if not sep or not dot or stage not in stages:
            raise SystemExit(f"--stage-option {item!r}: expected STAGE.KEY=VALUE with STAGE one of {', '.join(stages)}")
        try:
            stages[stage][name] = json.loads(value)
        except json.JSONDecodeError:
            stages[stage][name] = value
    return stages


def run_once(runner: str, pool: Path, queries: Path, out: Path, workers: int, cap_gb: float, flink_args: list[str],
             time_limit: float | None = None, stages: dict | None = None) -> dict:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(json.dumps({
        "input": str(pool / "*.parquet"), "output": str(out), "queries": str(queries),
        "stages": stages or stage_options([]),
    }))
    rest = None
    if runner == "local":
        args = ["--runner=local", "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        pids = {}
    else:
        args = subprocess.run(["bash", str(CLUSTER), "args"], check=True, capture_output=True, text=True).stdout.split()
        args += flink_args
        pids = cluster_pids()
        master = next(x.split("=", 1)[1] for x in args if x.startswith("--flink_master="))
        rest = f"http://{master}"
    t = time.perf_counter()
    proc = subprocess.Popen([str(CURATE), "run", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(proc, pids, int(cap_gb * 2**30), time_limit=time_limit, rest=rest)
    sampler.start()
    log, _ = proc.communicate()
    wall = time.perf_counter() - t
    sampler.done.set()
    sampler.join()
    parallelism = workers if runner == "local" else next(
        (int(x.split("=", 1)[1]) for x in args if x.startswith("--parallelism=")), None)
    result = {"runner": runner, "parallelism": parallelism, "wall_s": round(wall, 1), "finished": proc.returncode == 0,
              "load_average_1m_after": round(os.getloadavg()[0], 1),
              "memory_by_role": sampler.by_role(), "peak_rss_total_mb": round(sampler.peak_total / 2**20),
              "rss_timeline_mb": sampler.timeline}
    if rest:
        result["taskmanager_jvm"] = sampler.jvm
        result["taskmanager_rss_split_mb"] = sampler.tm_timeline
        try:
            result["flink_vertices"] = flink_vertices(rest)
        except (OSError, ValueError, KeyError) as e:
            result["flink_vertices"] = f"not read: {e}"
    if sampler.capped:
        result["note"] = f"stopped: its processes together passed {cap_gb} GiB"
    elif sampler.timed_out:
        result["note"] = f"stopped: not finished within --time-limit-s {time_limit:.0f}"
    elif proc.returncode != 0:
        result["note"] = f"exit {proc.returncode}: {log[-2000:]}"
    else:
        stats = json.loads((out / "stats.json").read_text())
        result["funnel"] = {s["stage"]: [s["in"], s["kept"]] for s in stats["stages"]}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[250_000, 1_000_000, 3_000_000])
    ap.add_argument("--runners", nargs="+", default=["local", "cluster"], choices=["local", "cluster"])
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (the cluster runs at parallelism 2)")
    ap.add_argument("--memory-cap-gb", type=float, default=20.0)
    ap.add_argument("--time-limit-s", type=float, default=None,
                    help="stop a run (recorded as not finished, with its memory so far) after this many seconds")
    ap.add_argument("--flink-arg", action="append", default=[], metavar="FLAG",
                    help="one more pipeline flag for the cluster runs (repeatable), e.g. --flink-arg=--execution_mode_for_batch=BATCH_FORCED")
    ap.add_argument("--stage-option", action="append", default=[], metavar="STAGE.KEY=VALUE",
                    help="a stage setting for every run (repeatable), e.g. dedup_text.bands=2 to make verification "
                         "cheap when only the phases around it are studied; the results' command records it")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / f"scale_{datetime.date.today()}.json"))
    a = ap.parse_args()
    stages = stage_options(a.stage_option)
    entries, source = text_data.entries()
    started_cluster = False
    if "cluster" in a.runners and subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", str(CLUSTER), "start"], check=True)
        started_cluster = True
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            queries = tmp / "queries"
            queries.mkdir()
            (queries / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
            for n in sorted(a.pairs):
                pool = tmp / f"pool-{n}"
                pool.mkdir()
                write_pairs(text_data.texts(n), pool)
                for runner in a.runners:
                    r = run_once(runner, pool, queries, tmp / f"out-{runner}-{n}", a.workers, a.memory_cap_gb, a.flink_arg, a.time_limit_s,
                                 stages)
                    r.update(pairs=n, pairs_per_s=round(n / r["wall_s"]) if r["finished"] else None)
                    results.append(r)
                    mem = ", ".join(f"{k} {v['peak_rss_mb_max']} MB" for k, v in r["memory_by_role"].items())
                    print(f"{n:>9,} {runner:>7}: {r['wall_s']:>7.0f} s, {r['pairs_per_s'] or 0:>6,} pairs/s; "
                          f"peak RSS per process: {mem}{'; ' + r.get('note', '')[:200] if 'note' in r else ''}", flush=True)
                    Path(a.output).write_text(json.dumps({
                        "command": " ".join(sys.argv), "date": str(datetime.date.today()), "entries": source,
                        "taskmanager_memory": os.environ.get("CURATE_TASKMANAGER_MEMORY", "4096m (flink_cluster.sh default)"),
                        "taskmanager_java_opts": os.environ.get("CURATE_TM_JAVA_OPTS", ""),
                        "stages": stages,
                        "machine": f"{os.cpu_count()} cores", "results": results}, indent=2) + "\n")
                    subprocess.run(["rm", "-rf", str(tmp / f"out-{runner}-{n}")])
                subprocess.run(["rm", "-rf", str(pool)])
    finally:
        if started_cluster:
            subprocess.run(["bash", str(CLUSTER), "stop"])
    print(f"results in {a.output}")


if __name__ == "__main__":
    main()
