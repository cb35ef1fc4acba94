"""Stage `ingest`: raw pool batches → pair records with uids; malformed rows and exact
(URL, text) duplicates removed with their reasons."""

from __future__ import annotations

import apache_beam as beam

from curate import schema
from curate.config import IngestConfig
from curate.ops import ingest as ops
from curate.transforms.base import Rebatch, StageOutput, explode, non_empty, rows_to_table


class CheckRowsFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, config: IngestConfig):
        self.config = config

    def process(self, raw):
        kept, removed = ops.ingest_batch(raw, self.config)
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(self.REMOVED, removed)


def _resolve_duplicates(item):
    uid, rows = item
    kept, dups = ops.pick_exact_duplicate(list(rows))
    yield kept
    for d in dups:
        detail = f"same url and text as {kept['source']}:{kept['source_row']}"
        yield beam.pvalue.TaggedOutput("removed", {**d, "_detail": detail})


def _duplicates_to_removed(rows):
    details = [r["_detail"] for r in rows]
    rows = [{k: v for k, v in r.items() if k != "_detail"} for r in rows]
    return schema.removed(rows_to_table(rows), ops.STAGE, "duplicate_pair", details)


class IngestPool(beam.PTransform):
    """In: RAW_SCHEMA batches (``curate.io.pool.ReadPool``). Out: StageOutput.

    Kept: one pair record per distinct (normalised URL, text), with ``uid``, ``url``,
    ``text``, ``source``, ``source_row`` and ``source_uid``. Of exact duplicates the first
    in (source, source_row) order is kept, on any runner. Removed: every other row, with
    the reasons listed in ``curate.ops.ingest``.
    """

    def __init__(self, config: IngestConfig = IngestConfig()):
        super().__init__()
        self.config = config

    def expand(self, raw):
        checked = raw | "CheckRows" >> beam.ParDo(CheckRowsFn(self.config)).with_outputs(
            CheckRowsFn.REMOVED, main="kept"
        )
        deduped = (
            checked.kept
            | "KeyByUid" >> beam.FlatMap(explode, "uid")
            | "GroupByUid" >> beam.GroupByKey()
            | "PickOne" >> beam.FlatMap(_resolve_duplicates).with_outputs("removed", main="kept")
        )
        kept = deduped.kept | "RebatchKept" >> Rebatch()
        dup_removed = (
            deduped.removed
            | "BatchDuplicates" >> beam.BatchElements(min_batch_size=256, max_batch_size=4096)
            | "DuplicatesToRemoved" >> beam.Map(_duplicates_to_removed)
        )
        removed = (checked.removed, dup_removed) | "AllRemoved" >> beam.Flatten()
        return StageOutput(kept | "NonEmpty" >> beam.Filter(non_empty), removed)
