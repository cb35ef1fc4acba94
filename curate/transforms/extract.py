"""Stage `extract`: crawl files (WARC/WAT) → a raw pool of (image URL, alt-text) rows, exact
duplicates across all files removed by ingest's rule; every skipped record and image counted
with a reason (``curate.ops.extract``), per file and in total.

Work is split by file: one element per crawl file (a Common Crawl WAT file is ~1 GB, so a
snapshot's tens of thousands of files spread over any number of workers); within a file
records are streamed. Exact duplicates meet where the pool is written (``ExtractPairs``).
"""

from __future__ import annotations

import contextlib
import gc

import apache_beam as beam
import pyarrow as pa

from curate import schema
from curate.config import ExtractConfig
from curate.io import shards
from curate.io.crawl import read_records
from curate.ops import extract as ops

REMOVED, FILES, UIDS = "removed", "files", "uids"


@contextlib.contextmanager
def _paused_gc():
    """The cyclic garbage collector paused while one file is extracted. Extraction makes
    ~10 short-lived containers per image and no reference cycles (pages, attribute dicts,
    row tuples: reference counting frees them), but every 700 allocations start a
    collection, and on a worker's heap (Beam loaded) those took 7-20% of extract_file's CPU
    on the benchmark's WAT files. Collection resumes (as it was) after the file, so
    anything cyclic is still collected; tests/extract check extraction makes no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class ExtractFileFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config

    def process(self, path):
        with _paused_gc():
            kept, removed, stats = ops.extract_file(read_records(path), path, self.config)
        yield beam.pvalue.TaggedOutput(FILES, (path, stats))
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(REMOVED, removed)
        if kept.num_rows:
            yield ops.pack(kept)
            for bucket_uids in ops.uid_buckets(kept, self.config.dedup_buckets):
                yield beam.pvalue.TaggedOutput(UIDS, bucket_uids)


def _count_distinct(item) -> int:
    return ops.count_distinct(item[1])


def _num_shards(bucket_rows: list[int], rows_per_shard: int) -> int:
    """The pool's shard count, as ``shards.WriteShards`` sizes it, from its row count
    (the distinct uids of every uid bucket)."""
    return shards.num_shards(sum(bucket_rows), rows_per_shard)


def _shard_pieces(packed: bytes, bucket_rows: list[int], rows_per_shard: int):
    for shard, piece in ops.shard_pieces(ops.unpack(packed), _num_shards(bucket_rows, rows_per_shard)):
        yield shard, ops.pack(piece)


def _dedup_shard(item):
    shard, pieces = item
    table = pa.concat_tables([ops.unpack(p) for p in pieces])
    kept, dups, details = ops.dedup_table(table)
    yield shard, kept, table.num_rows
    if dups.num_rows:
        yield beam.pvalue.TaggedOutput(REMOVED, schema.removed(dups, ops.STAGE, "duplicate_pair", details))


def _table(shard_item) -> pa.Table:
    return shard_item[1]


class ExtractPairs(beam.PTransform):
    """In: crawl file paths (one element each; ``beam.Create`` spreads them over workers).
    Out: a dict: ``kept`` (``ops.POOL_SCHEMA`` tables, one per
    pool shard, one row per distinct (normalised URL, text)), ``shards`` ((shard, the same
    table, its rows before dedup)), ``bucket_rows`` (distinct uids per uid bucket: the
    pool's row count is their sum), ``removed`` (removed records) and ``files`` ((path,
    stats) per file).

    Exact duplicates meet where the pool is written: every copy of a uid goes to the same
    shard (`rows_per_shard` rows a shard, ``shards.WriteShards``' rule), so the shards'
    GroupByKey is also the dedup's. The shard count needs the row count after dedup first:
    the distinct uids are counted per uid bucket (only the uids move), then each file's
    rows move once, to their shard. Counts travel as side inputs, not global combines: each
    CombineGlobally is nine transforms to build and run, most of a small run's fixed cost."""

    def __init__(self, config: ExtractConfig = ExtractConfig(), rows_per_shard: int = 100_000):
        super().__init__()
        self.config, self.rows_per_shard = config, rows_per_shard

    def expand(self, paths):
        read = (
            paths
            | "ExtractFiles" >> beam.ParDo(ExtractFileFn(self.config)).with_outputs(REMOVED, FILES, UIDS, main="kept")
        )
        bucket_rows = read[UIDS] | "GroupUidBuckets" >> beam.GroupByKey() | "CountDistinct" >> beam.Map(_count_distinct)
        deduped = (
            read.kept
            | "KeyByShard" >> beam.FlatMap(_shard_pieces, beam.pvalue.AsList(bucket_rows), self.rows_per_shard)
            | "GroupShards" >> beam.GroupByKey()
            | "PickOne" >> beam.FlatMap(_dedup_shard).with_outputs(REMOVED, main="shards")
        )
        removed = (read.removed, deduped.removed) | "AllRemoved" >> beam.Flatten()
        kept = deduped.shards | "Tables" >> beam.Map(_table)
        return {"kept": kept, "shards": deduped.shards, "bucket_rows": bucket_rows, "removed": removed,
                "files": read.files}


def _stats(_impulse, files: list, bucket_rows: list[int], written: list, removed_written: list) -> dict:
    """stats.json of an extract run. Removed by reason: the files' own counts, plus the
    duplicates the pool writer dropped. FunnelError when the pool's shards do not hold the
    distinct uids counted, or the duplicates are not the rows extracted less those."""
    from collections import Counter

    from curate.transforms.base import FunnelError

    n_in = sum(s["in"] for _, s in files)
    extracted = sum(s["extracted"] for _, s in files)
    rows = sum(bucket_rows)
    kept, duplicates = sum(k for k, _ in written), sum(d for _, d in written)
    if kept != rows or duplicates != extracted - rows:
        raise FunnelError(
            f"stage 'extract': {extracted} rows extracted, {rows} distinct, but the pool holds {kept} "
            f"and {duplicates} were removed as duplicates"
        )
    reasons = Counter()
    for _, s in files:
        reasons.update(s["removed_by_reason"])
    if duplicates:
        reasons["duplicate_pair"] += duplicates
    n_removed = sum(reasons.values())
    if n_in != kept + n_removed or sum(n for _, n in removed_written) != n_removed:
        raise FunnelError(
            f"stage 'extract': in={n_in} but kept={kept} + removed={n_removed} "
            f"({sum(n for _, n in removed_written)} removed records written)"
        )
    stage = {
        "stage": ops.STAGE,
        "in": n_in,
        "kept": kept,
        "removed": n_removed,
        "removed_by_reason": dict(sorted(reasons.items())),
        "pages": sum(s["pages"] for _, s in files),
    }
    return {
        "stages": [stage],
        "input": n_in,
        "kept": kept,
        "removed": n_removed,
        "files": {path: s for path, s in sorted(files)},
    }


def _write_pool_shard(item, prefix: str, bucket_rows: list[int], rows_per_shard: int) -> tuple[int, int]:
    """One pool shard as ``shards.WriteShards`` writes it (`table` comes from
    ``ops.dedup_table``: already sorted by uid, one row per uid); (rows written,
    duplicates dropped)."""
    shard, table, rows_in = item
    table = schema.conform(table, ops.POOL_SCHEMA, fill=True)
    num_shards = _num_shards(bucket_rows, rows_per_shard)
    shards.write_bytes(f"{prefix}-{shard:05d}-of-{num_shards:05d}.parquet", shards.table_to_parquet_bytes(table))
    return table.num_rows, rows_in - table.num_rows


def _write_empty_pool(_impulse, prefix: str, bucket_rows: list[int]):
    """No pair at all: one empty shard still says "ran, kept nothing" (WriteShards' own)."""
    for _ in shards.write_empty_shard(sum(bucket_rows), prefix, ops.POOL_SCHEMA, True):
        yield 0, 0


REMOVED_SORT = ("stage", "uid", "source", "source_row", "reason")


def _removed_rows(files: list, bucket_rows: list[int]) -> int:
    """Removed records of the run: every row in, less the pool's (distinct) rows."""
    return sum(s["in"] for _, s in files) - sum(bucket_rows)


def _removed_pieces(table: pa.Table, files: list, bucket_rows: list[int], rows_per_shard: int):
    yield from shards.split_into_shards(table, _num_shards([_removed_rows(files, bucket_rows)], rows_per_shard))


def _write_removed_shard(item, prefix: str, files: list, bucket_rows: list[int], rows_per_shard: int):
    """One shard of removed records, written by ``shards.WriteShards``' own writer (the
    shard count comes from the side inputs instead of another global count); (path,
    rows)."""
    num_shards = _num_shards([_removed_rows(files, bucket_rows)], rows_per_shard)
    tables = list(item[1])
    path = shards.write_shard((item[0], tables), prefix, REMOVED_SORT, schema.REMOVED_SCHEMA, True, num_shards, 16384)
    return path, sum(t.num_rows for t in tables)


def _write_no_removed(_impulse, prefix: str, files: list, bucket_rows: list[int]):
    for path in shards.write_empty_shard(_removed_rows(files, bucket_rows), prefix, schema.REMOVED_SCHEMA, True):
        yield path, 0


def _write_json(doc: dict, path: str) -> dict:
    shards.write_json(path, doc)
    return doc


class ExtractToPool(beam.PTransform):
    """In: pipeline root. Writes ``<output>/pool/part-*.parquet`` (the raw pool, sorted by
    uid), ``<output>/removed/part-*.parquet`` and ``<output>/stats.json`` (written last).
    Out: the stats dict."""

    def __init__(self, paths: list[str], output: str, config: ExtractConfig = ExtractConfig(), rows_per_shard: int = 100_000):
        super().__init__()
        self.paths, self.output, self.config, self.rows_per_shard = list(paths), output, config, rows_per_shard

    def expand(self, pbegin):
        out = pbegin | "Files" >> beam.Create(self.paths) | "Extract" >> ExtractPairs(self.config, self.rows_per_shard)
        bucket_rows = beam.pvalue.AsList(out["bucket_rows"])
        pool = shards.join(self.output, "pool", "part")
        written = (
            out["shards"] | "WritePool" >> beam.Map(_write_pool_shard, pool, bucket_rows, self.rows_per_shard),
            pbegin | "NoRows" >> beam.Impulse() | "EmptyPool" >> beam.FlatMap(_write_empty_pool, pool, bucket_rows),
        ) | "PoolShards" >> beam.Flatten()
        files = beam.pvalue.AsList(out["files"])
        removed = shards.join(self.output, "removed", "part")
        removed_written = (
            out["removed"]
            | "KeyRemovedByShard" >> beam.FlatMap(_removed_pieces, files, bucket_rows, self.rows_per_shard)
            | "GroupRemoved" >> beam.GroupByKey()
            | "WriteRemoved" >> beam.Map(_write_removed_shard, removed, files, bucket_rows, self.rows_per_shard),
            pbegin
            | "NoneRemoved" >> beam.Impulse()
            | "EmptyRemoved" >> beam.FlatMap(_write_no_removed, removed, files, bucket_rows),
        ) | "RemovedShards" >> beam.Flatten()
        return (
            pbegin
            | "Finish" >> beam.Impulse()
            | "Stats"
            >> beam.Map(
                _stats,
                files,
                bucket_rows,
                beam.pvalue.AsList(written),
                beam.pvalue.AsList(removed_written),
            )
            | "WriteStats" >> beam.Map(_write_json, shards.join(self.output, "stats.json"))
        )
