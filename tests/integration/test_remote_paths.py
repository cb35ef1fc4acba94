"""Inputs and outputs go through Beam's FileSystems: the whole pipeline reads a pool from, and
writes shards, stats and config to, a registered non-local scheme (an in-memory object store
standing in for gs:// or s3://), touches no local file, and gives the local run's output."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.compute as pc
import pytest

from curate import config as cfg
from curate import pipeline
from curate.io import shards
from tests.integration import memfs
from tests.integration.conftest import QUERIES, whole_pipeline_config

pytestmark = [pytest.mark.integration, pytest.mark.long]


def _without_pool_folder(table, folder: str):
    """`source` (and a duplicate's `detail`) name the pool file: compare runs on different
    filesystems by file name."""
    for name in ("source", "detail"):
        if name in table.column_names:
            column = pc.replace_substring(table[name], folder.rstrip("/") + "/", "")
            table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def test_pipeline_reads_and_writes_through_a_remote_scheme(tmp_path, local_pool, pool_bytes, beam_args, monkeypatch):
    memfs.STORE.clear()
    for name, data in pool_bytes.items():
        memfs.STORE[f"memfs://bucket/pool/{name}"] = data
    for f in Path(QUERIES).iterdir():
        memfs.STORE[f"memfs://bucket/queries/{f.name}"] = f.read_bytes()
    memfs.STORE["memfs://bucket/run.yaml"] = cfg.dump(
        whole_pipeline_config("memfs://bucket/pool/", "memfs://bucket/out", queries="memfs://bucket/queries")
    ).encode()

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # anything written to a "local" path would land here
    remote = cfg.load("memfs://bucket/run.yaml")
    stats = pipeline.run(remote, beam_args)

    assert os.listdir(workdir) == [], "the remote run wrote local files"
    keys = sorted(memfs.STORE)
    assert "memfs://bucket/out/stats.json" in keys
    assert "memfs://bucket/out/config.yaml" in keys
    kept_shards = [k for k in keys if k.startswith("memfs://bucket/out/kept/part-")]
    assert len(kept_shards) == -(-stats["kept"] // 100)

    local = whole_pipeline_config(local_pool, str(tmp_path / "out"), queries=QUERIES)
    local_stats = pipeline.run(local, beam_args)
    assert stats == local_stats
    assert [s["stage"] for s in stats["stages"]] == ["ingest", "filter", "dedup_text", "balance"]
    # 600 distinct pairs + 3 with upper-cased paths (a different URL) + 31 bad or duplicate rows
    assert (stats["input"], stats["stages"][0]["kept"], stats["kept"]) == (634, 603, 589)  # lid176: 4 removed for language, 10 balanced out
    assert stats["stages"][0]["removed_by_reason"] == {
        "bad_url": 1, "bad_url_scheme": 1, "duplicate_pair": 25, "malformed_row": 2,
        "missing_url": 1, "undecodable_text": 1,
    }

    for part in ("kept", "removed"):
        got = _without_pool_folder(shards.read_table(f"memfs://bucket/out/{part}/*"), "memfs://bucket/pool")
        want = _without_pool_folder(shards.read_table(str(tmp_path / "out" / part)), local_pool)
        assert got.num_rows == want.num_rows > 0
        assert got.sort_by([("uid", "ascending"), ("source", "ascending"), ("source_row", "ascending")]).equals(
            want.sort_by([("uid", "ascending"), ("source", "ascending"), ("source_row", "ascending")])
        )
    memfs.STORE.clear()
