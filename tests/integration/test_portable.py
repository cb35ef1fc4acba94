"""The pipeline through Beam's portability framework, deployed the way Flink runs it.

A job service and an SDK worker pool run as separate processes on 127.0.0.1, the pipeline is
submitted with PortableRunner and the EXTERNAL environment (the docker-compose layout with
Beam's Python job service standing in for the Flink job server): the pipeline proto, every
pickled DoFn and every coder cross process boundaries. The output must be byte-identical to
the local runner's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from curate import pipeline
from tests.integration.conftest import assert_same_output, whole_pipeline_config

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.long]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def portable_services(tmp_path):
    """(job endpoint, worker pool endpoint) of a job service and a worker pool process."""
    job_port, pool_port = _free_port(), _free_port()
    # The worker pool starts SDK workers as `python -c ...`: this interpreter must come first.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "PATH": path}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
             f"--port={job_port}", f"--staging_dir={tmp_path / 'staging'}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
             f"--service_port={pool_port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait_for_port(job_port, procs[0])
        _wait_for_port(pool_port, procs[1])
        yield f"localhost:{job_port}", f"localhost:{pool_port}"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_portable_runner_with_external_worker_pool_equals_local(tmp_path, local_pool, beam_args, portable_services):
    job_endpoint, pool_endpoint = portable_services
    portable_args = [
        "--runner=PortableRunner",
        f"--job_endpoint={job_endpoint}",
        "--environment_type=EXTERNAL",
        f"--environment_config={pool_endpoint}",
    ]
    stats = pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "portable")), portable_args)
    assert pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "local")), beam_args) == stats
    assert [s["stage"] for s in stats["stages"]] == ["ingest", "filter", "dedup_text", "balance"]
    assert (stats["input"], stats["kept"]) == (634, 589)  # lid176: 4 removed for language, 10 balanced out
    assert_same_output(tmp_path / "portable", tmp_path / "local")
