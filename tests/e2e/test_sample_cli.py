"""`curate sample`, `curate serve` and `curate ingest` on the sample, as a user runs them."""

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.io import shards

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_sample_then_ingest(tmp_path, beam_args, capsys):
    out = tmp_path / "sample"
    assert main(["sample", "--output", str(out), "--size", "150", "--seed", "3", "--port", "8799"]) == 0
    assert "150 rows" in capsys.readouterr().out
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["port"] == 8799 and doc["rows"] == 150
    pool = pq.read_table(out / "pool.parquet")
    assert all(u is None or u.startswith(("http://127.0.0.1:8799/", "http://127.0.0.1:1/", "ftp://"))
               for u in pool["url"].to_pylist())
    run = tmp_path / "run"
    assert main(["ingest", "--input", str(out / "pool.parquet"), "--output", str(run), *beam_args]) == 0
    stats = json.loads((run / "stats.json").read_text())
    assert stats["stages"][0]["removed_by_reason"] == doc["expected"]["ingest"]
    assert shards.read_table(str(run / "kept")).num_rows == 150 - sum(doc["expected"]["ingest"].values())


def _default_sigint():
    # A shell's background job (nohup ... &) starts with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: give the child the disposition a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_serve_until_ctrl_c(tmp_path, sig):
    out = tmp_path / "sample"
    assert main(["sample", "--output", str(out), "--size", "120"]) == 0
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    row = next(r for r in manifest if r["defect"] == "none")
    err_path = tmp_path / "serve.stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c",
             # SIGUSR1 dumps every thread's stack: if Ctrl-C ever hangs, the failure says where
             "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
             "from curate.cli import main; sys.exit(main(sys.argv[1:]))",
             "serve", "--root", str(out), "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=_default_sigint,
        )
    try:
        line = proc.stdout.readline()
        assert "serving" in line and "http://127.0.0.1:" in line
        base = line.split(" at ")[1].split("/ ")[0]
        with OPENER.open(f"{base}/img/{row['image']}", timeout=5) as r:
            assert r.read() == (out / "images" / row["image"]).read_bytes()
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            pytest.fail(f"curate serve did not exit within 10 s of {sig.name}; its threads:\n" + err_path.read_text())
        assert code == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
