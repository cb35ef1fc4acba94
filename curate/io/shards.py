"""Parquet shards in and out, and small JSON/YAML side files, through Beam's FileSystems.

``WriteShards`` is deterministic: a row goes to shard ``int(uid[:15], 16) % num_shards``,
rows in a shard are sorted by ``sort_by``, and the number of shards comes from the global
row count (a combiner, not one worker's view). The same rows therefore give byte-identical
files on any runner and any worker count.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import posixpath

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from curate import schema
from curate.transforms.base import PartitionedTablesFn, read_pieces

DEFAULT_ROWS_PER_SHARD = 100_000


def join(*parts: str) -> str:
    """Join path parts for local and remote (gs://, s3://...) paths alike."""
    return FileSystems.join(*parts)


def makedirs(path: str) -> None:
    """Create a local folder (and its parents) if missing; object stores have no folders.

    Safe when several workers create the same folder at once: checking first and creating
    after raced (four worker processes writing shards into one new kept/ folder), so create,
    and accept "already exists" when the folder is there."""
    if FileSystems.get_scheme(path) not in (None, "file"):
        return
    try:
        FileSystems.mkdirs(path)
    except OSError:
        if not FileSystems.exists(path):
            raise


def exists(path: str) -> bool:
    """Whether `path` exists, or, for a glob, whether it matches anything."""
    if any(c in path for c in "*?["):
        return any(r.metadata_list for r in FileSystems.match([path]))
    return FileSystems.exists(path)


def resolve_input(path: str) -> str:
    """An earlier run's output folder given as input means its kept/ shards (so that
    `curate filter --input out/ingest` reads out/ingest/kept); anything else is unchanged."""
    if any(c in path for c in "*?[") or path.endswith(".parquet"):
        return path
    kept = join(path, "kept")
    if exists(join(kept, "*.parquet")) and not exists(join(path, "*.parquet")):
        return kept
    return path


def remove_run_outputs(output: str) -> None:
    """Remove the shards and stats.json of an earlier attempt of a run into `output`: a run
    rewrites them all, and a killed attempt's partial files must not mix in."""
    patterns = [join(output, d, "part-*") for d in ("kept", "removed")]
    patterns.append(join(output, "stats.json"))
    stale = [m.path for r in FileSystems.match(patterns) for m in r.metadata_list]
    if stale:
        FileSystems.delete(stale)


def remove_folder(path: str) -> None:
    """Remove folder `path` and the files in it (any Beam filesystem); nothing if absent."""
    found = [m.path for r in FileSystems.match([join(path, "*")]) for m in r.metadata_list]
    if found:
        FileSystems.delete(found)
    if FileSystems.get_scheme(path) is None and os.path.isdir(path):
        os.rmdir(path)


def write_bytes(path: str, data: bytes) -> None:
    makedirs(posixpath.dirname(path) or ".")
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_json(path: str, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str):
    return json.loads(read_bytes(path))


def shard_ids(table: pa.Table, num_shards: int) -> np.ndarray:
    """Shard index of each row: the first 15 hex digits (60 bits) of its uid modulo
    `num_shards`. Removed rows without a uid (unparsable pool rows) use a hash of their
    source and row number instead."""
    uids = pc.utf8_slice_codeunits(table["uid"], 0, 15).to_pylist()
    if None in uids:
        sources = table["source"].to_pylist() if "source" in table.column_names else [None] * len(uids)
        rows = table["source_row"].to_pylist() if "source_row" in table.column_names else [None] * len(uids)
        uids = [
            u if u is not None else hashlib.sha256(f"{s}:{r}".encode()).hexdigest()[:15]
            for u, s, r in zip(uids, sources, rows, strict=True)
        ]
    return np.fromiter((int(u, 16) % num_shards for u in uids), dtype=np.int64, count=len(uids))


def split_into_shards(table: pa.Table, num_shards: int):
    """A batch → (shard index, sub-table) pairs, vectorised over the batch."""
    if table.num_rows == 0:
        return
    yield from schema.split_by_key(table, shard_ids(table, num_shards))


def sort_table(table: pa.Table, sort_by: tuple[str, ...]) -> pa.Table:
    keys = [(c, "ascending") for c in sort_by if c in table.column_names]
    return table.sort_by(keys) if keys else table


def table_to_parquet_bytes(table: pa.Table, row_group_rows: int = 16384) -> bytes:
    sink = io.BytesIO()
    # No creation timestamp or writer-specific metadata varies between runs, so
    # identical tables give identical bytes.
    pq.write_table(table, sink, row_group_size=row_group_rows, compression="zstd")
    return sink.getvalue()


def num_shards(total_rows: int, rows_per_shard: int) -> int:
    """How many shards `total_rows` rows are written in (at least one)."""
    return max(1, math.ceil(total_rows / rows_per_shard))


class KeyByShardFn(PartitionedTablesFn):
    """Batches → (shard, its rows) pieces, gathered per bundle (``PartitionedTablesFn``); with
    `exchange`, written to files there and emitted as ``Segment``s. A shard's rows reach its
    writer as many small elements: Beam's Flink batch translation emits all values of a key
    as one record, and a whole shard (~50 MB at 100K pairs) in one record ran a TaskManager
    out of heap at 3M pairs (benchmarks/results/flink_3m_2026-12-01.txt)."""

    def __init__(self, exchange: str | None = None):
        self.exchange = exchange

    def pieces(self, table: pa.Table, num_shards: int):
        yield from split_into_shards(table, num_shards)


def write_shard(item, prefix: str, sort_by, table_schema, fill, num_shards, row_group_rows):
    """One (shard id, tables or Segments) group -> one sorted Parquet file named
    NNNNN-of-NNNNN; its path."""
    shard, pieces = item
    table = schema.conform(schema.concat(read_pieces(pieces)), table_schema, fill=fill)
    table = sort_table(table, sort_by)
    path = f"{prefix}-{shard:05d}-of-{num_shards:05d}.parquet"
    write_bytes(path, table_to_parquet_bytes(table, row_group_rows))
    return path


def write_empty_shard(total: int, prefix: str, table_schema: pa.Schema, fill: bool):
    """With no rows at all, one empty shard still says "ran, kept nothing"."""
    if total:
        return
    table = table_schema.empty_table() if fill else schema.conform(
        table_schema.empty_table(), table_schema
    )
    path = f"{prefix}-00000-of-00001.parquet"
    write_bytes(path, table_to_parquet_bytes(table))
    yield path


class WriteShards(beam.PTransform):
    """In: batches. Out: the paths written, ``<prefix>-SSSSS-of-NNNNN.parquet``.

    ``table_schema`` fixes column order and types; with ``fill=True`` every shard carries
    every column of it (nulls where a batch lacked one), so all shards share one schema.
    `exchange`: a folder every worker can read and write (``curate run`` gives its
    ``<output>/.exchange``); the rows go to their shard's writer through files there and only
    their locations through the runner (``KeyByShardFn``). None: through the runner.
    """

    def __init__(
        self,
        prefix: str,
        table_schema: pa.Schema = schema.PAIR_SCHEMA,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
        sort_by: tuple[str, ...] = ("uid",),
        fill: bool = True,
        row_group_rows: int = 16384,
        exchange: str | None = None,
    ):
        super().__init__()
        if rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
        self.prefix = prefix
        self.schema = table_schema
        self.rows_per_shard = rows_per_shard
        self.sort_by = tuple(sort_by)
        self.fill = fill
        self.row_group_rows = row_group_rows
        self.exchange = exchange

    def expand(self, batches):
        from curate.transforms.base import CountRows

        total = batches | "CountRows" >> CountRows()
        shard_count = total | "NumShards" >> beam.Map(num_shards, self.rows_per_shard)
        ns = beam.pvalue.AsSingleton(shard_count)
        empty = total | "EmptyShard" >> beam.FlatMap(
            write_empty_shard, self.prefix, self.schema, self.fill
        )
        written = (
            batches
            | "KeyByShard" >> beam.ParDo(KeyByShardFn(self.exchange), ns)
            | "GroupShards" >> beam.GroupByKey()
            | "Write"
            >> beam.Map(
                write_shard,
                self.prefix,
                self.sort_by,
                self.schema,
                self.fill,
                ns,
                self.row_group_rows,
            )
        )
        return (written, empty) | "AllPaths" >> beam.Flatten()


def shard_rows(paths) -> int:
    """Rows in Parquet shards, from their footers (the data is not read)."""
    total = 0
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def read_shard(path: str, batch_rows: int = 8192, columns: list[str] | None = None):
    """Batches of one Parquet shard (pair or removed records)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        pf = pq.ParquetFile(io.BytesIO(f.read()))
    for rb in pf.iter_batches(batch_size=batch_rows, columns=columns):
        yield pa.Table.from_batches([rb])


class ReadShards(beam.PTransform):
    """In: pipeline root. Out: pair batches of every Parquet file `pattern` matches."""

    def __init__(self, pattern: str, batch_rows: int = 8192, columns: list[str] | None = None):
        super().__init__()
        from curate.io.pool import PoolFormatError, check_pool_files, match_files, parquet_columns

        self.paths = [p for p in match_files(pattern) if p.endswith(".parquet")]
        if not self.paths:
            raise ValueError(f"no .parquet shards match {pattern}")
        bad = check_pool_files(self.paths, parquet_columns)  # before any work, as for a pool
        if bad:
            more = f" (and {len(bad) - 1} more of {len(self.paths)})" if len(bad) > 1 else ""
            raise PoolFormatError(
                f"{bad[0][1]}{more}: not a shard an earlier stage wrote completely; rerun "
                "that stage, or give its kept/ folder as --input"
            )
        self.batch_rows = batch_rows
        self.columns = columns

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_shard, self.batch_rows, self.columns)
        )


def read_table(pattern: str, columns: list[str] | None = None) -> pa.Table:
    """All shards matching `pattern` as one table, outside Beam (tests, reports, small data)."""
    from curate.io.pool import match_files

    tables = [
        t
        for p in match_files(pattern)
        if p.endswith(".parquet")
        for t in read_shard(p, columns=columns)
    ]
    return schema.concat(tables) if tables else pa.table({})
