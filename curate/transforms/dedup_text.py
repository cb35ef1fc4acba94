"""Stage `dedup_text`: near-duplicate alt-texts by MinHash LSH, one pair kept per cluster.

Steps (all inside the pipeline, nothing global on one worker but counts):
  1. ``SignBatchFn``: MinHash signatures of a batch in numpy, `bands` keys per pair; rows go
     to hash partitions of their band keys (partition count from the global row count).
  2. ``GroupByKey`` on band-key partitions, then ``BucketEdgesFn``: pairs sharing a band key
     are candidates, verified by exact Jaccard of their shingle sets (edges above threshold).
  3. ``ConnectedComponents`` (large-star / small-star rounds): every node → the smallest uid
     of its component.
  4. Labels and pairs meet in uid-hash partitions (``CoGroupByKey``); each pair gets
     ``text_cluster``, and every pair that is not its cluster's smallest uid is removed.
"""

from __future__ import annotations

import math

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from curate import schema
from curate.config import DedupTextConfig
from curate.ops import minhash as ops
from curate.transforms.base import CountRows, StageOutput

STAGE = "dedup_text"
REASON = "near_duplicate_text"


def _num_partitions(total: int, rows_per_partition: int) -> int:
    return max(1, math.ceil(total / rows_per_partition))


def uid_partitions(uids: list[str], num_partitions: int) -> np.ndarray:
    return np.fromiter((int(u[:15], 16) % num_partitions for u in uids), np.int64, len(uids))


def _split(table: pa.Table, parts: np.ndarray):
    for p in np.unique(parts):
        yield int(p), table.filter(pa.array(parts == p))


class SignBatchFn(beam.DoFn):
    """Pair batch → (partition, table of band_key, uid, text) for each partition it touches."""

    def __init__(self, config: DedupTextConfig):
        self.config = config

    def setup(self):
        self.signed = Metrics.counter(STAGE, "signatures")
        self.no_words = Metrics.counter(STAGE, "texts_without_words")

    def process(self, table: pa.Table, num_partitions: int):
        c = self.config
        texts = table["text"].to_pylist()
        shingle_lists = [ops.shingles(t, c.ngram, c.unit) for t in texts]
        has = np.array([bool(s) for s in shingle_lists], dtype=bool)
        self.no_words.inc(int((~has).sum()))
        if not has.any():
            return
        idx = np.flatnonzero(has)
        sig = ops.signatures([shingle_lists[i] for i in idx], c.num_perm, c.minhash_seed)
        self.signed.inc(len(idx))
        keys = ops.band_keys(sig, c.bands, c.rows)  # (n, bands)
        rows = np.repeat(idx, c.bands)
        flat_keys = keys.reshape(-1)
        band_table = pa.table(
            {
                "band_key": pa.array(flat_keys, pa.uint64()),
                "uid": table["uid"].take(pa.array(rows)),
                "text": table["text"].take(pa.array(rows)),
            }
        )
        # `bands` band rows per pair: bands x the pair partitions keeps each about
        # rows_per_partition rows.
        parts = (flat_keys % np.uint64(num_partitions * c.bands)).astype(np.int64)
        yield from _split(band_table, parts)


class BucketEdgesFn(beam.DoFn):
    """(partition, band tables) → verified duplicate edges (smaller uid, larger uid)."""

    def __init__(self, config: DedupTextConfig):
        self.config = config

    def setup(self):
        self.buckets = Metrics.counter(STAGE, "candidate_buckets")
        self.edges = Metrics.counter(STAGE, "edges")

    def process(self, item):
        _, tables = item
        table = pa.concat_tables(list(tables))
        table = table.sort_by([("band_key", "ascending"), ("uid", "ascending")])
        keys = table["band_key"].to_numpy()
        if keys.size < 2:
            return
        boundaries = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [keys.size]))
        multi = (ends - starts) > 1
        if not multi.any():
            return
        # Only rows of buckets with several members become Python objects.
        starts, ends = starts[multi], ends[multi]
        lengths = ends - starts
        rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        table = table.take(pa.array(rows))
        uids = table["uid"].to_pylist()
        texts = table["text"].to_pylist()
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        starts, ends = offsets[:-1], offsets[1:]
        sets: dict[str, frozenset] = {}
        found = set()
        for s, e in zip(starts, ends, strict=True):
            self.buckets.inc()
            members = sorted(set(uids[s:e]))
            if len(members) < 2:
                continue
            text_of = dict(zip(uids[s:e], texts[s:e], strict=True))
            token_sets = []
            for u in members:
                if u not in sets:
                    sets[u] = frozenset(ops.shingles(text_of[u], self.config.ngram, self.config.unit))
                token_sets.append(sets[u])
            found.update(
                ops.bucket_edges(members, token_sets, self.config.threshold, self.config.max_compare)
            )
        self.edges.inc(len(found))
        yield from sorted(found)


def _key_labels(label, num_partitions: int):
    node, root = label
    yield int(node[:15], 16) % num_partitions, (node, root)


def _key_pairs(table: pa.Table, num_partitions: int):
    if table.num_rows:
        yield from _split(table, uid_partitions(table["uid"].to_pylist(), num_partitions))


class ApplyLabelsFn(beam.DoFn):
    REMOVED = "removed"

    def process(self, item):
        _, grouped = item
        tables = list(grouped["pairs"])
        if not tables:
            return
        labels = dict(grouped["labels"])
        table = schema.concat(tables)
        uids = table["uid"].to_pylist()
        cluster = [labels.get(u, u) for u in uids]
        table = schema.with_column(table, "text_cluster", pa.array(cluster, pa.string()))
        keep = pc.equal(table["uid"], table["text_cluster"])
        kept, dropped = schema.split_by_mask(table, keep)
        if kept.num_rows:
            yield kept
        if dropped.num_rows:
            yield beam.pvalue.TaggedOutput(
                self.REMOVED,
                schema.removed(dropped, STAGE, REASON, dropped["text_cluster"].to_pylist()),
            )


class DedupByMinHash(beam.PTransform):
    """In: pair batches. Out: StageOutput(kept, removed).

    Two pairs are near-duplicates when the exact Jaccard similarity of their word-shingle
    sets (see ``curate.ops.minhash``) is at least ``threshold`` and MinHash LSH made them
    candidates (a shared band); clusters are the connected components of that relation.
    Of each cluster the pair with the smallest uid is kept (uids are hashes, so this is a
    deterministic, content-independent choice on any runner); the others are removed with
    reason ``near_duplicate_text`` and the kept uid as detail. Every output pair carries
    ``text_cluster`` = the uid of its cluster's kept pair (its own uid when unique).
    """

    def __init__(self, config: DedupTextConfig = DedupTextConfig()):
        super().__init__()
        self.config = config

    def expand(self, batches):
        from curate.transforms.components import ConnectedComponents

        c = self.config
        total = batches | "CountRows" >> CountRows()
        parts = beam.pvalue.AsSingleton(
            total | "Partitions" >> beam.Map(_num_partitions, c.rows_per_partition)
        )
        edges = (
            batches
            | "Sign" >> beam.ParDo(SignBatchFn(c), parts)
            | "GroupBands" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(BucketEdgesFn(c))
        )
        labels = edges | "Components" >> ConnectedComponents(c.rounds, namespace=STAGE)
        joined = (
            {
                "pairs": batches | "KeyPairs" >> beam.FlatMap(_key_pairs, parts),
                "labels": labels | "KeyLabels" >> beam.FlatMap(_key_labels, parts),
            }
            | "Join" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(ApplyLabelsFn()).with_outputs(ApplyLabelsFn.REMOVED, main="kept")
        )
        return StageOutput(joined.kept, joined.removed)
