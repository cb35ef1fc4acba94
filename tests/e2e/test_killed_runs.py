"""Runs killed with SIGKILL at several points, then rerun: the output equals an uninterrupted
run's, and no scratch file of the killed attempts remains.

Each run is the real `curate` in its own process with the in-memory runner (one process: the
pid killed is the whole run). Download runs against the loopback sample server with no URL
that can time out, so the comparison is exact; its /slow/ route (0.3 s) only keeps each
shard in flight long enough to be killed mid-download.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import schema
from curate.io import shards
from curate.runner import in_process_args
from curate.sample.server import SampleServer

ROOT = Path(__file__).resolve().parents[2]


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from curate.cli import run; run()", *args, *in_process_args()],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(args: list[str], cwd: Path) -> None:
    proc = _start(args, cwd)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]


def _wait_stopped(pid: int) -> None:
    """Return once every thread of `pid` is stopped. kill(SIGSTOP) returns before the
    signal takes effect: a thread running on another core goes on for a moment, long
    enough, in CI, to finish a shard and remove its scratch after the recheck."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:  # a thread that ended
                continue
        if states and all(s in "tTZX" for s in states):
            return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} did not stop within 10 s")


def _kill_when(args: list[str], cwd: Path, ready: Callable[[], bool], what: str) -> None:
    """Start a run and SIGKILL it (by pid) in a state where `ready()` holds; fails if it ends
    first. The run is frozen (SIGSTOP) before `ready()` is checked again and killed: between
    a check on a running process and the kill, a shard can finish and take its scratch with
    it (seen in full-suite runs), and the state the test then inspects is not the one it
    checked. The recheck waits until every thread has stopped (`_wait_stopped`)."""
    proc = _start(args, cwd)
    deadline = time.monotonic() + 240
    while True:
        if ready():
            os.kill(proc.pid, signal.SIGSTOP)
            _wait_stopped(proc.pid)
            if ready():
                break
            os.kill(proc.pid, signal.SIGCONT)
        assert proc.poll() is None, f"the run ended before {what}: {proc.stdout.read()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within 240 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "config.yaml"  # names its own output folder
    }


def _scratch(out: Path) -> list[str]:
    tmp = out / "images" / ".tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def _table(path: Path, out: Path) -> pa.Table:
    """A Parquet file with the run's own folder in the tar paths replaced (the `shard`
    column names the run's folder)."""
    table = pq.read_table(path)
    if "shard" in table.column_names:
        fixed = [None if s is None else s.replace(str(out), "<out>") for s in table["shard"].to_pylist()]
        table = table.set_column(table.column_names.index("shard"), "shard", pa.array(fixed, pa.string()))
    return table


@pytest.mark.long
def test_killed_download_reruns_to_the_uninterrupted_output(tmp_path):
    (tmp_path / "served" / "images").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (60 + 10 * i, 40), (80 * i, 100, 200)).save(tmp_path / "served" / "images" / f"a{i}.png")
    with SampleServer(tmp_path / "served", port=0, slow_seconds=0.3) as srv:
        urls = [f"{srv.base_url}/slow/a{i % 3}.png?copy={i}" for i in range(14)]
        urls += [f"{srv.base_url}/dead/{i}.jpg" for i in range(2)]
        texts = [f"picture {i}" for i in range(len(urls))]
        pool = pa.table({
            "uid": [schema.make_uid(u, t) for u, t in zip(urls, texts, strict=True)],
            "url": urls, "text": texts, "source": ["pool"] * len(urls),
        })
        shards.write_bytes(str(tmp_path / "in" / "part-0.parquet"), shards.table_to_parquet_bytes(pool))
        flags = ["--allow-loopback", "--image-size", "32", "--shard-size", "2", "--thread-count", "2",
                 "--timeout", "20", "--request-time-limit", "40"]

        def args(out):  # absolute: the `shard` column holds the output's path as given
            return ["download", "--input", "in", "--output", str(tmp_path / out), *flags]

        _finish(args("ref"), tmp_path)
        out = tmp_path / "out"
        markers = lambda: len(list((out / "images").glob("*.parquet"))) if (out / "images").exists() else 0  # noqa: E731
        in_flight = lambda: any(n.endswith(".lock") for n in _scratch(out))  # noqa: E731
        # 1. The first shard in flight; 2. a later one, with complete shards behind it.
        _kill_when(args("out"), tmp_path, in_flight, "a shard in flight")
        assert any(n.endswith(".lock") for n in _scratch(out))  # what the killed run left
        left = set(_scratch(out))
        _kill_when(args("out"), tmp_path, lambda: markers() >= 3 and in_flight(), "three shards done")
        assert not left & set(_scratch(out)), "the rerun removed the first attempt's scratch"
        assert _scratch(out)
        _finish(args("out"), tmp_path)

    ref = tmp_path / "ref"
    assert _scratch(out) == [] and not (out / "images" / ".tmp").exists()
    assert set(_files(out)) == set(_files(ref))  # the same files, nothing more
    assert (out / "stats.json").read_bytes() == (ref / "stats.json").read_bytes()
    for name in _files(ref):
        if name.endswith(".parquet"):  # kept, removed, shard markers
            assert _table(out / name, out).equals(_table(ref / name, ref)), name
        else:  # the tars: byte-identical
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    stats = shards.read_json(str(out / "stats.json"))["stages"][0]
    assert (stats["kept"], stats["removed_by_reason"]) == (14, {"http_404": 2})


@pytest.mark.long
def test_killed_ingest_reruns_to_the_uninterrupted_output(tmp_path):
    n = 30_000
    pq.write_table(
        pa.table({"url": [f"http://e{i % 101}.org/{i}.jpg" for i in range(n)], "text": [f"caption {i % 90_000}" for i in range(n)]}),
        tmp_path / "pool.parquet", row_group_size=2_500,
    )

    def args(out):
        return ["ingest", "--input", "pool.parquet", "--output", out, "--rows-per-shard", "5000"]

    _finish(args("ref"), tmp_path)
    out = tmp_path / "out"
    # 1. Reading; 2. writing shards (some written, a later attempt's replacing them).
    _kill_when(args("out"), tmp_path, lambda: (out / "config.yaml").exists(), "the run started")
    _kill_when(args("out"), tmp_path, lambda: (out / "kept").exists() and any((out / "kept").iterdir()), "shards written")
    assert not (out / "stats.json").exists()  # written last: a killed run has none
    _finish(args("out"), tmp_path)
    assert _files(out) == _files(tmp_path / "ref")
