"""`curate ingest` end to end: a pool file in, Parquet shards and stats out; and the local
runner in single- and multi-process mode giving byte-identical output."""

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.io.shards import read_table


def _write_pool(path: Path, n: int, seed: int = 0) -> dict:
    """A pool with planted problems; returns the expected removal count per reason."""
    rng = random.Random(seed)
    rows, expected = [], {"duplicate_pair": 0, "missing_url": 0, "bad_url_scheme": 0, "text_too_long": 0}
    for i in range(n):
        rows.append({"url": f"http://img{i % 97}.example.org/{i}.jpg", "text": f"caption number {i}"})
    for i in rng.sample(range(n), n // 10):  # exact duplicates, URL spelled differently
        rows.append({"url": rows[i]["url"].replace("http://", "HTTP://") + "#x", "text": rows[i]["text"]})
        expected["duplicate_pair"] += 1
    for i in range(n // 50):
        rows.append({"url": None, "text": f"orphan {i}"})
        expected["missing_url"] += 1
        rows.append({"url": f"ftp://x.org/{i}", "text": f"ftp {i}"})
        expected["bad_url_scheme"] += 1
        rows.append({"url": f"http://x.org/long{i}", "text": "w" * 5000})
        expected["text_too_long"] += 1
    rng.shuffle(rows)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return expected


def _digest(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "config.yaml"
    }


def test_ingest_cli_accounts_for_every_row(tmp_path, beam_args, capsys):
    pool = tmp_path / "pool.parquet"
    expected = _write_pool(pool, 500)
    out = tmp_path / "out"
    assert main(["ingest", "--input", str(pool), "--output", str(out), "--rows-per-shard", "200", *beam_args]) == 0
    stats = json.loads((out / "stats.json").read_text())["stages"][0]
    assert stats["in"] == pq.read_metadata(pool).num_rows
    assert stats["removed_by_reason"] == expected
    assert stats["kept"] == 500
    kept, removed = read_table(str(out / "kept")), read_table(str(out / "removed"))
    assert kept.num_rows == 500 and len(set(kept["uid"].to_pylist())) == 500
    assert removed.num_rows == sum(expected.values())
    assert len(list((out / "kept").glob("part-*-of-00003.parquet"))) == 3
    assert (out / "config.yaml").read_text().startswith("input:")
    assert "kept 500" in capsys.readouterr().out


def test_cli_reports_bad_input_without_traceback(tmp_path, beam_args, capsys):
    assert main(["ingest", "--input", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "o"), *beam_args]) == 2
    assert "no files match" in capsys.readouterr().err


@pytest.mark.slow
def test_single_and_multi_process_runs_are_byte_identical(tmp_path):
    pool = tmp_path / "pool.parquet"
    _write_pool(pool, 3000, seed=1)
    runs = {
        "single": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        "multi": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    }
    digests = {}
    for name, flags in runs.items():
        out = tmp_path / name
        assert main(["ingest", "--input", str(pool), "--output", str(out), "--rows-per-shard", "1000", *flags]) == 0
        digests[name] = _digest(out)
    assert len(digests["single"]) >= 5  # several kept and removed shards + stats
    assert digests["single"] == digests["multi"]
