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
from curate.transforms.base import non_empty

REMOVED, FILES = "removed", "files"


class ExtractFileFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config

    def process(self, path):
        kept, removed, stats = ops.extract_file(read_records(path), path, self.config)
        yield beam.pvalue.TaggedOutput(FILES, (path, stats))
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(REMOVED, removed)
        buckets = self.config.dedup_buckets
        if kept.num_rows:
            keys = [int(u[:8], 16) % buckets for u in kept["uid"].to_pylist()]
            by_key: dict[int, list[int]] = {}
            for i, k in enumerate(keys):
                by_key.setdefault(k, []).append(i)
            for k, idx in sorted(by_key.items()):
                yield k, kept.take(pa.array(idx))


def _dedup_bucket(item):
    _, tables = item
    kept, dups, details = ops.dedup_table(pa.concat_tables(list(tables)))
    yield kept
    if dups.num_rows:
        yield beam.pvalue.TaggedOutput(REMOVED, schema.removed(dups, ops.STAGE, "duplicate_pair", details))


class ExtractPairs(beam.PTransform):
    """In: crawl file paths. Out: a dict of PCollections: ``kept`` (``ops.POOL_SCHEMA``
    batches, one row per distinct (normalised URL, text)), ``removed`` (removed records)
    and ``files`` ((path, stats) per file)."""

    def __init__(self, config: ExtractConfig = ExtractConfig()):
        super().__init__()
        self.config = config

    def expand(self, paths):
        read = (
            paths
            | "Spread" >> beam.Reshuffle()
            | "ExtractFiles" >> beam.ParDo(ExtractFileFn(self.config)).with_outputs(REMOVED, FILES, main="kept")
        )
        deduped = (
            read.kept
            | "GroupByUidPrefix" >> beam.GroupByKey()
            | "PickOne" >> beam.FlatMap(_dedup_bucket).with_outputs(REMOVED, main="kept")
        )
        removed = (read.removed, deduped.removed) | "AllRemoved" >> beam.Flatten()
        kept = deduped.kept | "NonEmpty" >> beam.Filter(non_empty)
        return {"kept": kept, "removed": removed, "files": read.files}


def _stats(files: list, kept: int, removed: dict, *_written) -> dict:
    """stats.json of an extract run; FunnelError when in != kept + removed."""
    from curate.transforms.base import FunnelError

    n_in = sum(s["in"] for _, s in files)
    n_removed = sum(removed.values())
    if n_in != kept + n_removed:
        raise FunnelError(f"stage 'extract': in={n_in} but kept={kept} + removed={n_removed}")
    stage = {
        "stage": ops.STAGE,
        "in": n_in,
        "kept": kept,
        "removed": n_removed,
        "removed_by_reason": dict(sorted(removed.items())),
        "pages": sum(s["pages"] for _, s in files),
    }
    return {
        "stages": [stage],
        "input": n_in,
        "kept": kept,
        "removed": n_removed,
        "files": {path: s for path, s in sorted(files)},
    }


def _reasons(table: pa.Table):
    from collections import Counter

    yield from Counter(table["reason"].to_pylist()).items()


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

        out = pbegin | "Files" >> beam.Create(self.paths) | "Extract" >> ExtractPairs(self.config)
        kept_paths = out["kept"] | "WritePool" >> shards.WriteShards(
            shards.join(self.output, "pool", "part"), ops.POOL_SCHEMA, self.rows_per_shard
        )
        removed_paths = out["removed"] | "WriteRemoved" >> shards.WriteShards(
            shards.join(self.output, "removed", "part"),
            schema.REMOVED_SCHEMA,
            self.rows_per_shard,
            sort_by=("stage", "uid", "source", "source_row", "reason"),
        )
        n_kept = out["kept"] | "CountKept" >> CountRows()
        reasons = (
            out["removed"]
            | "Reasons" >> beam.FlatMap(_reasons)
            | "SumReasons" >> beam.CombinePerKey(sum)
            | "ReasonDict" >> beam.combiners.ToDict()
        )
        return (
            out["files"]
            | "FileList" >> beam.combiners.ToList()
            | "Stats"
            >> beam.Map(
                _stats,
                beam.pvalue.AsSingleton(n_kept, default_value=0),
                beam.pvalue.AsSingleton(reasons, default_value={}),
                beam.pvalue.AsList(kept_paths),
                beam.pvalue.AsList(removed_paths),
            )
            | "WriteStats" >> beam.Map(_write_json, shards.join(self.output, "stats.json"))
        )
