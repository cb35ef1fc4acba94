"""Scratch folders: an attempt's folder goes when it ends, a killed attempt's on the next
sweep, and a running attempt's never (its lock is held by a live process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from curate.io import scratch

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from curate.io import scratch
with scratch.attempt(sys.argv[1], sys.argv[2]) as folder:
    open(folder + "/spool.bin", "wb").write(b"x" * 1000)
    print(folder, flush=True)
    time.sleep(120)
"""


def _holder(base: Path, prefix: str) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(base), prefix],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    folder = Path(proc.stdout.readline().strip())
    assert folder.is_dir() and folder.parent == base
    return proc, folder


def test_attempt_cleans_up_after_itself(tmp_path):
    base = tmp_path / ".tmp"
    with scratch.attempt(str(base), "shard") as folder:
        assert Path(folder).is_dir() and Path(folder + scratch.LOCK).exists()
        Path(folder, "input.feather").write_bytes(b"x")
    assert not base.exists()


def test_sweep_removes_dead_attempts_only(tmp_path):
    base = tmp_path / ".tmp"
    live, live_folder = _holder(base, "live")
    dead, dead_folder = _holder(base, "dead")
    try:
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait(10)
        # An older layout's folder (no lock file) and a lock file being created by a
        # process killed long ago are left-overs too.
        (base / "abc123-old").mkdir()
        (base / "abc123-old" / "spool.bin").write_bytes(b"x")
        stale = base / (scratch.CREATING + "deadbeef")
        stale.write_bytes(b"")
        os.utime(stale, (time.time() - 3600, time.time() - 3600))

        removed = scratch.sweep(str(base))

        assert sorted(removed) == sorted([str(dead_folder), str(base / "abc123-old")])
        assert live_folder.is_dir() and (live_folder / "spool.bin").exists()
        assert Path(str(live_folder) + scratch.LOCK).exists()
        assert not dead_folder.exists() and not Path(str(dead_folder) + scratch.LOCK).exists()
        assert not stale.exists()
        # A new attempt sweeps as it starts, and leaves the live one alone as well.
        with scratch.attempt(str(base), "next") as folder:
            assert live_folder.is_dir() and Path(folder).is_dir()
    finally:
        live.kill()
        live.wait(10)
    assert scratch.sweep(str(base)) == [str(live_folder)]
    assert sorted(os.listdir(base)) == []
