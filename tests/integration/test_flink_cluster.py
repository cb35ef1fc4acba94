"""A standalone Flink 1.20 cluster on 127.0.0.1 (``scripts/flink_cluster.sh``): a JobManager and
two TaskManagers (separate JVMs) that start the Python SDK harnesses as their own child
processes (PROCESS environment, ``curate.sdk_boot``), so the pipeline's Python code runs in the
cluster's workers, not in the submitting process.

- The demo pipeline (text stages, download from a loopback server, image dedup,
  decontamination) on the cluster writes what the local runner writes, byte for byte.
- A TaskManager killed with SIGKILL in the middle of a job: the restart strategy reruns it,
  and the output is still byte-identical (nothing lost, nothing twice).
- ``stop`` leaves no process behind.

The cluster gets its own ports and run folder, so it never meets a cluster a user runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from curate import config as cfg
from curate import pipeline
from curate.runner import in_process_args
from tests.integration import mission
from tests.integration.conftest import assert_same_output, whole_pipeline_config
from tests.integration.test_flink import require_flink

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.flink]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "flink_cluster.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, run: Path):
        self.run = run
        self.env = {
            **os.environ,
            "CURATE_FLINK_RUN": str(run),
            "FLINK_REST_PORT": str(_free_port()),
            "FLINK_RPC_PORT": str(_free_port()),
        }

    def script(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), command], env=self.env, capture_output=True,
                              text=True, check=check, timeout=300)

    def rest(self, path: str):
        url = f"http://127.0.0.1:{self.env['FLINK_REST_PORT']}{path}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def beam_args(self) -> list[str]:
        return self.script("args").stdout.split()

    def taskmanager_pids(self) -> list[int]:
        (pidfile,) = self.run.glob("flink-*-taskexecutor.pid")
        return [int(p) for p in pidfile.read_text().split()]

    def all_pids(self) -> list[int]:
        return [int(p) for f in self.run.glob("*.pid") for p in f.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_flink()
    c = Cluster(tmp_path_factory.mktemp("flink-cluster"))
    c.script("start")
    pids = c.all_pids()
    try:
        yield c
    finally:
        c.script("stop")
        left = [p for p in pids if _alive(p)]
        assert not left, f"processes left after stop: {left}"
        harnesses = subprocess.run(["pgrep", "-f", f"--curate_flink_run={c.run}"], capture_output=True, text=True)
        assert not harnesses.stdout.split(), f"SDK harnesses left after stop: {harnesses.stdout.split()}"
    assert c.script("status", check=False).returncode == 3


def test_cluster_has_two_taskmanagers_that_start_sdk_harnesses(cluster):
    overview = cluster.rest("/overview")
    assert (overview["taskmanagers"], overview["slots-total"]) == (2, 4)
    tms = cluster.taskmanager_pids()
    assert len(tms) == 2 and all(_alive(p) for p in tms)
    args = cluster.beam_args()
    assert "--environment_type=PROCESS" in args
    boot = cluster.run / "sdk-boot"
    assert f'--environment_config={{"command":"{boot}"}}' in args
    assert os.access(boot, os.X_OK)


def test_demo_pipeline_on_standalone_cluster_equals_local(tmp_path, cluster):
    from curate.commands.demo import first_pass_config

    # the demo's stages that need no bootstrapped model (its model stages load checkpoints the
    # demo trains first), and decontaminate (pHash/sha256 against an installed eval set)
    demo = cfg.load(str(ROOT / "pipelines" / "demo.yaml"))
    stages = {**first_pass_config(demo).stages, "decontaminate": demo.stages["decontaminate"]}
    run = tmp_path / "run"
    with mission.served_sample(tmp_path / "sample") as pool:
        download = cfg.stage_config("download", {"allow_loopback": True, "timeout": 10, "request_time_limit": 20,
                                                 "image_size": 32, "thread_count": 8})
        config = cfg.PipelineConfig(input=str(pool), output=str(run), queries=mission.QUERIES, rows_per_shard=40,
                                    stages={**stages, "download": download})
        local_stats = pipeline.run(config, in_process_args())
        local = mission.move_run(run, tmp_path / "local")
        harnesses_before = _harness_starts(cluster)
        stats = pipeline.run(config, cluster.beam_args())
    assert stats == local_stats
    assert [s["stage"] for s in stats["stages"]] == list(stages)
    assert all(s["removed"] > 0 for s in stats["stages"] if s["stage"] in ("ingest", "filter", "download")), stats
    assert_same_output(run, local)
    # the Python work ran in harnesses the TaskManagers started for this job
    assert _harness_starts(cluster) > harnesses_before


def _harness_starts(cluster) -> int:
    """SDK harness processes the TaskManagers started (the boot wrapper logs each start)."""
    log = cluster.run / "log" / "sdk-harnesses.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_taskmanager_killed_mid_job_still_gives_the_same_output(tmp_path, local_pool, cluster):
    """SIGKILL one TaskManager while the job runs: Flink restarts the job on the other
    TaskManager's slots (fixed-delay restart strategy), and the output equals a local run's."""
    conf = whole_pipeline_config(local_pool, str(tmp_path / "local"), rows_per_shard=20)
    local_stats = pipeline.run(conf, in_process_args())
    conf_path = tmp_path / "killed.yaml"
    conf_path.write_text(cfg.dump(whole_pipeline_config(local_pool, str(tmp_path / "killed"), rows_per_shard=20)))
    jobs_before = {j["jid"] for j in cluster.rest("/jobs/overview")["jobs"]}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("curate")), "run", "--config", str(conf_path), *cluster.beam_args()],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job = _wait_for_running_job(cluster, jobs_before, proc)
        # Kill a TaskManager while one of the job's subtasks is RUNNING on it: a TaskManager
        # that only holds a slot (or finished work nobody reads any more) can die without the
        # job noticing, which a fresh-clone run on a quiet machine showed.
        pid = _wait_for(lambda: _taskmanager_running_a_subtask(cluster, job), proc)
        os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    # the kill happened while the job ran: Flink recorded the failure and restarted
    history = cluster.rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
    assert history, "no failure recorded: the TaskManager died after the job finished"
    assert cluster.rest(f"/jobs/{job}")["state"] == "FINISHED"
    assert json.loads((tmp_path / "killed" / "stats.json").read_text()) == local_stats
    assert_same_output(tmp_path / "killed", tmp_path / "local")
    # the lost TaskManager is not replaced (standalone); restart the cluster's spare for later tests
    cluster.script("stop")
    cluster.script("start")


def _wait_for(find, proc, timeout: float = 300):
    """Poll `find()` until it returns something; fail if the job ends first."""
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        if proc.poll() is not None:
            pytest.fail(f"the job ended before the TaskManager was killed: {proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail("no subtask of the job was seen running on a TaskManager")
        time.sleep(0.1)
    return found


def _taskmanager_running_a_subtask(cluster, job: str) -> int | None:
    """The pid of a TaskManager on which a subtask of `job` is RUNNING now, or None. A
    TaskManager's REST id is <host>:<rpc port>-<suffix>; its pid is the one of ours that
    listens on that port."""
    for vertex in cluster.rest(f"/jobs/{job}")["vertices"]:
        if vertex["status"] != "RUNNING":
            continue
        for tm in cluster.rest(f"/jobs/{job}/vertices/{vertex['id']}/taskmanagers")["taskmanagers"]:
            if tm["status"] == "RUNNING" and tm.get("taskmanager-id"):
                port = int(tm["taskmanager-id"].split(":")[1].split("-")[0])
                pid = _listening_pid(port, cluster.taskmanager_pids())
                if pid is not None:
                    return pid
    return None


def _listening_pid(port: int, pids: list[int]) -> int | None:
    """Which of `pids` has a TCP socket listening on `port` (from /proc: no extra tool)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    return None


def _wait_for_running_job(cluster, jobs_before: set, proc, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the job ended before it was seen running: {proc.stdout.read()[-3000:]}")
        for j in cluster.rest("/jobs/overview")["jobs"]:
            if j["jid"] not in jobs_before and j["state"] == "RUNNING":
                return j["jid"]
        time.sleep(0.5)
    pytest.fail("no job reached RUNNING")
