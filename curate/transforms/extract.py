"""Stage `extract`: crawl files (WARC/WAT) → a raw pool of (image URL, alt-text) rows, exact
duplicates across all files removed by ingest's rule; every skipped record and image counted
with a reason (``curate.ops.extract``), per file and in total.

Work is split by file: one element per crawl file (a Common Crawl WAT file is ~1 GB, so a
snapshot's tens of thousands of files spread over any number of workers); within a file
records are streamed. Duplicates are found by grouping rows on a prefix of their uid.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from curate import schema
from curate.config import ExtractConfig
from curate.io.crawl import read_records
from curate.ops import extract as ops

REMOVED, FILES, UIDS = "removed", "files", "uids"


class ExtractFileFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config

    def process(self, path):
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


def _num_shards(rows: int, rows_per_shard: int) -> int:
    return max(1, -(-rows // rows_per_shard))


def _shard_pieces(packed: bytes, num_shards: int):
    for shard, piece in ops.shard_pieces(ops.unpack(packed), num_shards):
        yield shard, ops.pack(piece)


def _dedup_shard(item):
    shard, pieces = item
    kept, dups, details = ops.dedup_table(pa.concat_tables([ops.unpack(p) for p in pieces]))
    yield shard, kept
    if dups.num_rows:
        yield beam.pvalue.TaggedOutput(REMOVED, schema.removed(dups, ops.STAGE, "duplicate_pair", details))


class ExtractPairs(beam.PTransform):
    """In: crawl file paths. Out: a dict: ``kept`` (``ops.POOL_SCHEMA`` tables, one per
    pool shard, one row per distinct (normalised URL, text)), ``shards`` ((shard, the same
    table)), ``num_shards`` and ``rows`` (singletons: the pool's shard count at
    `rows_per_shard`, and its row count), ``removed`` (removed records) and ``files``
    ((path, stats) per file).

    Exact duplicates meet where the pool is written: every copy of a uid goes to the same
    shard, so the shards' GroupByKey is also the dedup's. The shard count needs the row
    count after dedup first: the distinct uids are counted per uid bucket (only the uids
    move), then each file's rows move once, to their shard."""

    def __init__(self, config: ExtractConfig = ExtractConfig(), rows_per_shard: int = 100_000):
        super().__init__()
        self.config, self.rows_per_shard = config, rows_per_shard

    def expand(self, paths):
        read = (
            paths
            | "Spread" >> beam.Reshuffle()
            | "ExtractFiles" >> beam.ParDo(ExtractFileFn(self.config)).with_outputs(REMOVED, FILES, UIDS, main="kept")
        )
        rows = (
            read[UIDS]
            | "GroupUidBuckets" >> beam.GroupByKey()
            | "CountDistinct" >> beam.Map(_count_distinct)
            | "PoolRows" >> beam.CombineGlobally(sum)
        )
        num_shards = rows | "NumShards" >> beam.Map(_num_shards, self.rows_per_shard)
        deduped = (
            read.kept
            | "KeyByShard" >> beam.FlatMap(_shard_pieces, beam.pvalue.AsSingleton(num_shards))
            | "GroupShards" >> beam.GroupByKey()
            | "PickOne" >> beam.FlatMap(_dedup_shard).with_outputs(REMOVED, main="shards")
        )
        removed = (read.removed, deduped.removed) | "AllRemoved" >> beam.Flatten()
        kept = deduped.shards | "Tables" >> beam.Values()
        return {"kept": kept, "shards": deduped.shards, "num_shards": num_shards, "rows": rows,
                "removed": removed, "files": read.files}


def _stats(files: list, rows: int, written: list, n_removed: int, *_removed_paths) -> dict:
    """stats.json of an extract run. Removed by reason: the files' own counts, plus the
    duplicates (rows extracted less the distinct rows). FunnelError when the pool's shards
    do not hold `rows` rows, or in != kept + removed records written."""
    from collections import Counter

    from curate.transforms.base import FunnelError

    n_in = sum(s["in"] for _, s in files)
    kept = sum(written)
    reasons = Counter()
    for _, s in files:
        reasons.update(s["removed_by_reason"])
    duplicates = sum(s["extracted"] for _, s in files) - rows
    if duplicates:
        reasons["duplicate_pair"] += duplicates
    if kept != rows or n_in != kept + n_removed or sum(reasons.values()) != n_removed:
        raise FunnelError(
            f"stage 'extract': in={n_in} but kept={kept} (of {rows} distinct) + removed={n_removed} "
            f"(by reason: {sum(reasons.values())})"
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


def _write_pool_shard(item, prefix: str, num_shards: int) -> int:
    """One pool shard as ``shards.WriteShards`` writes it (`table` comes from
    ``ops.dedup_table``: already sorted by uid, one row per uid); its row count."""
    from curate.io import shards

    shard, table = item
    table = schema.conform(table, ops.POOL_SCHEMA, fill=True)
    shards.write_bytes(f"{prefix}-{shard:05d}-of-{num_shards:05d}.parquet", shards.table_to_parquet_bytes(table))
    return table.num_rows


def _write_empty_pool(rows: int, prefix: str):
    """No pair at all: one empty shard still says "ran, kept nothing"."""
    from curate.io import shards

    if not rows:
        shards.write_bytes(f"{prefix}-00000-of-00001.parquet", shards.table_to_parquet_bytes(ops.POOL_SCHEMA.empty_table()))
        yield 0


def _write_json(doc: dict, path: str) -> dict:
    from curate.io import shards

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
        from curate.io import shards
        from curate.transforms.base import CountRows

        out = pbegin | "Files" >> beam.Create(self.paths) | "Extract" >> ExtractPairs(self.config, self.rows_per_shard)
        pool = shards.join(self.output, "pool", "part")
        written = (
            out["shards"] | "WritePool" >> beam.Map(_write_pool_shard, pool, beam.pvalue.AsSingleton(out["num_shards"])),
            out["rows"] | "EmptyPool" >> beam.FlatMap(_write_empty_pool, pool),
        ) | "PoolShards" >> beam.Flatten()
        removed_paths = out["removed"] | "WriteRemoved" >> shards.WriteShards(
            shards.join(self.output, "removed", "part"),
            schema.REMOVED_SCHEMA,
            self.rows_per_shard,
            sort_by=("stage", "uid", "source", "source_row", "reason"),
        )
        return (
            out["files"]
            | "FileList" >> beam.combiners.ToList()
            | "Stats"
            >> beam.Map(
                _stats,
                beam.pvalue.AsSingleton(out["rows"]),
                beam.pvalue.AsList(written),
                beam.pvalue.AsSingleton(out["removed"] | "CountRemoved" >> CountRows(), default_value=0),
                beam.pvalue.AsList(removed_paths),
            )
            | "WriteStats" >> beam.Map(_write_json, shards.join(self.output, "stats.json"))
        )
