"""stats.json is written only when the shards hold what the funnel counted."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.io.shards import shard_rows
from curate.pipeline import check_written
from curate.transforms.base import FunnelError


def _shard(path, rows):
    pq.write_table(pa.table({"uid": [f"{i:032x}" for i in range(rows)]}), path)
    return str(path)


def test_shard_rows_reads_the_footers(tmp_path):
    paths = [_shard(tmp_path / "a.parquet", 3), _shard(tmp_path / "b.parquet", 0), _shard(tmp_path / "c.parquet", 5)]
    assert shard_rows(paths) == 8
    assert shard_rows([]) == 0


def test_short_shards_fail_the_run(tmp_path):
    kept = [_shard(tmp_path / "k0.parquet", 4), _shard(tmp_path / "k1.parquet", 3)]
    removed = [_shard(tmp_path / "r0.parquet", 2)]
    check_written({"kept": 7, "removed": 2}, kept, removed)
    with pytest.raises(FunnelError, match="kept/ shards hold 7 rows but the funnel counted 9"):
        check_written({"kept": 9, "removed": 2}, kept, removed)
    with pytest.raises(FunnelError, match="removed/ shards hold 2 rows but the funnel counted 3"):
        check_written({"kept": 7, "removed": 3}, kept, removed)
