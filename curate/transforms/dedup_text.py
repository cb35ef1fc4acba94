"""Stage `dedup_text`: clusters of near-duplicate alt-texts by MinHash LSH, spam clusters
capped. A near-duplicate caption is not a duplicate pair (that needs the image too: stage
`dedup_images`), so only what exceeds ``max_cluster_size`` per cluster is removed.

Steps (all inside the pipeline, nothing global on one worker but counts):
  1. ``SignBatchFn``: MinHash signatures of each pair's LSH keys (``curate.ops.textdup``)
     in numpy, `bands` keys per LSH key; rows go to hash partitions of their band keys
     (partition count from the global row count), through files in the run's exchange
     folder where one is given.
  2. ``GroupByKey`` on band-key partitions, then ``BucketEdgesFn``: pairs sharing a band key
     are candidates, verified by the content-word rule (``textdup.partition_edges``); each
     worker process keeps the rule's verdicts for the next partitions that meet the same
     pair (``curate.ops.rule_memo``).
  3. ``ConnectedComponents`` (large-star / small-star rounds): every node → the smallest uid
     of its component.
  4. ``CapClusterFn`` per component: its size, and which members exceed the cap (a uniform
     number from hash(uid, stage, seed) ranks them).
  5. Labels and pairs meet in uid-hash partitions (``CoGroupByKey``); each pair gets
     ``text_cluster`` and ``text_cluster_size``; capped members are removed.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from curate import schema
from curate.config import DedupTextConfig
from curate.io import shards
from curate.ops import minhash as ops
from curate.ops import textdup
from curate.transforms.base import (
    CountRows,
    FunnelError,
    PartitionedTablesFn,
    StageOutput,
    read_pieces,
)

STAGE = "dedup_text"
REASON = "text_cluster_cap"


class SignBatchFn(PartitionedTablesFn):
    """Pair batch → (partition, table of band_key, uid, form) for each partition it touches
    (gathered per bundle; with `exchange`, written there and emitted as ``Segment``s). A pair
    with two LSH keys (a segmented caption: whole and first segment) has 2 x bands. `form` is
    the text's ``textdup.tokenized`` form: verification needs only its segments. `uid` is
    packed to 16 bytes where the batch's uids are all ``make_uid``'s 32 hex digits
    (``schema.pack_uids``; 36 bytes a row as a string): the band rows are most of what the
    stage writes to its exchange, ~45 a pair."""

    ROWS = "rows"

    def __init__(self, config: DedupTextConfig, exchange: str | None = None):
        self.config = config
        self.exchange = exchange

    def setup(self):
        self.signed = Metrics.counter(STAGE, "signatures")
        self.no_words = Metrics.counter(STAGE, "texts_without_words")

    def process(self, table: pa.Table, num_partitions: int):
        """Also emits (tag ``rows``) how many pairs this batch had, for ``check_signed``."""
        yield from super().process(table, num_partitions)
        yield beam.pvalue.TaggedOutput(self.ROWS, table.num_rows)

    def pieces(self, table: pa.Table, num_partitions: int):
        c = self.config
        texts = table["text"].to_pylist()
        owner, keys, forms = [], [], []
        for i, t in enumerate(texts):
            segs = textdup.segments(t)
            forms.append(textdup.tokenized_segments(segs))
            for key in textdup.keys_of_form_and_segments(forms[-1], segs):
                owner.append(i)
                keys.append(key)
        self.no_words.inc(len(texts) - len(set(owner)))
        if not owner:
            return
        sig = textdup.key_signatures(keys, c.ngram, c.unit, c.num_perm, c.minhash_seed)
        self.signed.inc(len(owner))
        keys = ops.band_keys(sig, c.bands, c.rows)  # (n keys, bands)
        flat_keys = keys.reshape(-1)
        text_of = np.repeat(np.asarray(owner, dtype=np.int64), c.bands)  # band row -> text row
        # `bands` band rows per pair: bands x the pair partitions keeps each about
        # rows_per_partition rows. Each partition's piece is taken from the batch's own columns
        # (a text's uid and form copied once per band row it has there).
        parts = flat_keys % np.uint64(num_partitions * c.bands)
        uid = schema.pack_uids(table["uid"])  # 16 bytes a row where uids are make_uid's
        form = pa.array(forms, pa.string())
        for part, rows in schema.key_groups(parts):
            texts_here = pa.array(text_of[rows])
            yield part, pa.table(
                {"band_key": pa.array(flat_keys[rows], pa.uint64()), "uid": uid.take(texts_here), "form": form.take(texts_here)}
            )


def check_signed(total: int, signed: int) -> None:
    """Every pair of the stage's input reached the signing step. Signing is not one-to-one
    with the funnel (a pair it never saw is kept, unclustered), so a lost input there would
    only show as duplicates not found; the local runner once lost 1-4% of a 3M-pair input
    this way (``curate.runner.no_timed_flushes_on_local_data_plane``)."""
    if signed != total:
        raise FunnelError(f"stage {STAGE!r}: in={total} but {signed} pairs were signed")


class BucketEdgesFn(beam.DoFn):
    """(partition, band tables) → verified duplicate edges (smaller uid, larger uid)."""

    def __init__(self, config: DedupTextConfig):
        self.config = config

    def setup(self):
        from curate.ops import rule_memo

        self.buckets = Metrics.counter(STAGE, "candidate_buckets")
        self.edges = Metrics.counter(STAGE, "edges")
        # the rule's verdicts this process has found, for the next partitions that meet the pairs
        self.memo = rule_memo.process_memo()

    def process(self, item):
        _, pieces = item
        tables = read_pieces(pieces)
        if len({t.schema.field("uid").type for t in tables}) > 1:  # packed uids meet others
            tables = [t.set_column(t.schema.get_field_index("uid"), "uid", schema.unpack_uids(t["uid"])) for t in tables]
        table = pa.concat_tables(tables)
        if table.num_rows < 2:
            return
        # Texts numbered in uid order: the distinct uids (dictionary-encoded), sorted; rows
        # then sorted by (band key, text number) as two integer arrays, the strings never
        # sorted row by row.
        encoded = pc.dictionary_encode(table["uid"].combine_chunks())
        uids = encoded.dictionary
        by_uid = pc.array_sort_indices(uids).to_numpy()  # Arrow's sort: UTF-8 byte order, Python's str order
        rank = np.empty(len(uids), np.int64)
        rank[by_uid] = np.arange(len(uids))
        number = rank[encoded.indices.to_numpy()]
        keys = table["band_key"].to_numpy()
        order = np.lexsort((number, keys))
        keys, number = keys[order], number[order]
        boundaries = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [keys.size]))
        multi = (ends - starts) > 1
        if not multi.any():
            return
        # Only the texts of buckets with several members are verified, numbered afresh in
        # uid order; a text's form is taken from one of its rows.
        starts, ends = starts[multi], ends[multi]
        lengths = ends - starts
        rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        member_of = number[rows]
        present = np.zeros(len(uids), np.bool_)
        present[member_of] = True
        used = np.flatnonzero(present)
        members = (np.cumsum(present) - 1)[member_of]
        row_of = np.empty(len(uids), np.int64)
        row_of[member_of] = rows
        forms = table["form"].take(pa.array(order[row_of[used]])).combine_chunks()
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self.buckets.inc(len(lengths))
        c = self.config
        edges = textdup.partition_edges(
            (members.astype(np.int64), offsets), forms, c.threshold, c.ngram, c.unit, c.max_compare, memo=self.memo
        )
        self.edges.inc(len(edges))
        if not edges:
            return
        ends_of = pa.array(by_uid[used[np.asarray(edges, np.int64).reshape(-1)]])
        names = schema.unpack_uids(uids.take(ends_of)).to_pylist()
        yield from zip(names[0::2], names[1::2], strict=True)


def _by_root(label):
    node, root = label
    return root, node


class CapClusterFn(beam.DoFn):
    """(root, members) → (uid, (root, cluster size, removed?)) for every member."""

    def __init__(self, cap: int, seed: int):
        self.cap, self.seed = cap, seed

    def setup(self):
        self.clusters = Metrics.counter(STAGE, "clusters")
        self.capped_clusters = Metrics.counter(STAGE, "capped_clusters")
        self.sizes = Metrics.distribution(STAGE, "cluster_size")

    def process(self, item):
        root, members = item
        members = sorted(set(members))
        over = set(textdup.capped(members, self.cap, STAGE, self.seed))
        self.clusters.inc()
        self.sizes.update(len(members))
        if over:
            self.capped_clusters.inc()
        for u in members:
            yield u, (root, len(members), u in over)


def _key_labels(label, num_partitions: int):
    node, info = label  # the partition shards.shard_ids gives the pair with uid `node`
    yield int(node[:15], 16) % num_partitions, (node, info)


class ApplyLabelsFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, cap: int = 0):
        self.cap = cap

    def process(self, item):
        _, grouped = item
        tables = list(grouped["pairs"])
        if not tables:
            return
        labels = dict(grouped["labels"])
        table = schema.concat(tables)
        uids = table["uid"].to_pylist()
        info = [labels.get(u, (u, 1, False)) for u in uids]
        table = schema.with_column(table, "text_cluster", pa.array([x[0] for x in info], pa.string()))
        table = schema.with_column(table, "text_cluster_size", pa.array([x[1] for x in info], pa.int32()))
        keep = pa.array([not x[2] for x in info], pa.bool_())
        kept, dropped = schema.split_by_mask(table, keep)
        if kept.num_rows:
            yield kept
        if dropped.num_rows:
            details = [
                f"cluster {r} of {n} near-duplicate captions, {self.cap} kept"
                for r, n in zip(dropped["text_cluster"].to_pylist(), dropped["text_cluster_size"].to_pylist(), strict=True)
            ]
            yield beam.pvalue.TaggedOutput(self.REMOVED, schema.removed(dropped, STAGE, REASON, details))


class DedupByMinHash(beam.PTransform):
    """In: pair batches. Out: StageOutput(kept, removed).

    Two captions are near-duplicates when MinHash LSH made them candidates (a shared band
    of one of their LSH keys), the Jaccard similarity of their shingle sets is at least
    ``threshold`` and the content-word rule (``curate.ops.textdup.near_duplicate``) holds;
    clusters are the connected components of that relation. Every output pair carries
    ``text_cluster`` (the smallest uid of its cluster; its own uid when unique) and
    ``text_cluster_size``. A cluster larger than ``max_cluster_size`` keeps that many
    members, ranked by a uniform number from hash(uid, stage, seed) (deterministic on any
    runner); the rest are removed with reason ``text_cluster_cap``. Nothing else is removed:
    a near-duplicate caption on a different image is a different pair.

    `exchange`: a folder every worker can read and write (``curate run`` gives
    ``<output>/.exchange``, removed when the run ends). The band rows (~42 per pair, each
    with its text's tokenized form) are written there and only their locations go through the runner: the
    driver of the local runner does not hold them, and a Flink bundle's output stays far
    below what its runner can hold (see ``PartitionedTablesFn``). None: through the runner.
    """

    def __init__(self, config: DedupTextConfig = DedupTextConfig(), seed: int = 0, exchange: str | None = None):
        super().__init__()
        self.config = config
        self.seed = seed
        self.exchange = exchange

    def expand(self, batches):
        from curate.transforms.components import ConnectedComponents

        c = self.config
        total = batches | "CountRows" >> CountRows()
        parts = beam.pvalue.AsSingleton(
            total | "Partitions" >> beam.Map(shards.num_shards, c.rows_per_partition)
        )
        signed = batches | "Sign" >> beam.ParDo(SignBatchFn(c, self.exchange), parts).with_outputs(
            SignBatchFn.ROWS, main="bands"
        )
        _ = total | "CheckSigned" >> beam.Map(
            check_signed, beam.pvalue.AsSingleton(signed.rows | "SignedRows" >> beam.CombineGlobally(sum))
        )
        edges = (
            signed.bands
            | "GroupBands" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(BucketEdgesFn(c))
        )
        labels = (
            edges
            | "Components" >> ConnectedComponents(c.rounds, namespace=STAGE)
            | "ByRoot" >> beam.Map(_by_root)
            | "GroupClusters" >> beam.GroupByKey()
            | "CapClusters" >> beam.ParDo(CapClusterFn(c.max_cluster_size, self.seed))
        )
        joined = (
            {
                "pairs": batches | "KeyPairs" >> beam.ParDo(shards.KeyByShardFn(), parts),
                "labels": labels | "KeyLabels" >> beam.FlatMap(_key_labels, parts),
            }
            | "Join" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(ApplyLabelsFn(c.max_cluster_size)).with_outputs(ApplyLabelsFn.REMOVED, main="kept")
        )
        return StageOutput(joined.kept, joined.removed)
