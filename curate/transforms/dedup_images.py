"""Stage `dedup_images`: exact (decoded-pixel sha256) and perceptual (pHash) image dedup."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from curate import schema
from curate.config import DedupImagesConfig
from curate.ops import dedup_images as ops
from curate.ops import image_hash
from curate.transforms.base import Rebatch, StageOutput, explode, non_empty, rows_to_table
from curate.transforms.components import ConnectedComponents


class HashImagesFn(beam.DoFn):
    """Pair batch → batch with pixel_sha256 + phash (main), decode errors (removed), one
    (pixel_sha256, node id) per image (nodes) and one (uid, caption) per image (texts)."""

    REMOVED, NODES, TEXTS = "removed", "nodes", "texts"

    def __init__(self, config: DedupImagesConfig):
        self.config = config

    def process(self, table):
        kept, removed, nodes = ops.hash_batch(table, self.config.max_pixels)
        Metrics.counter(ops.STAGE, "images_hashed").inc(kept.num_rows)
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(self.REMOVED, removed)
        for sha, node in zip(kept["pixel_sha256"].to_pylist(), nodes, strict=True):
            yield beam.pvalue.TaggedOutput(self.NODES, (sha, node))
        for uid, text in zip(kept["uid"].to_pylist(), kept["text"].to_pylist(), strict=True):
            yield beam.pvalue.TaggedOutput(self.TEXTS, (uid, text))


def _exact(item):
    _, nodes = item
    edges, rep = ops.exact_groups(list(nodes))
    yield from (beam.pvalue.TaggedOutput("edges", e) for e in edges)
    yield f"{ops.parse_node(rep)[2]:016x}", rep


def _same_phash(item):
    _, nodes = item
    edges, rep = ops.exact_groups(list(nodes))
    yield from (beam.pvalue.TaggedOutput("edges", e) for e in edges)
    yield rep


def _band_keys(node, max_distance):
    ph = ops.parse_node(node)[2]
    vals = image_hash.band_values([ph], max_distance)[0]
    for band, value in enumerate(vals.tolist()):
        yield (band, value), node


def _bucket_pairs(item, max_distance):
    (band, _), nodes = item
    nodes = sorted(nodes)
    hashes = [ops.parse_node(n)[2] for n in nodes]
    for a, b, _ in image_hash.near_pairs(nodes, hashes, max_distance, band=band):
        yield a, b


def _label_by_uid(item):
    node, root = item
    return ops.parse_node(node)[0], (node, root)


def _to_cluster(item):
    """(uid, {labels, texts}) → (root, (node, caption)) for uids in a duplicate cluster."""
    _, grouped = item
    texts = list(grouped["texts"])
    for node, root in grouped["labels"]:
        yield root, (node, texts[0] if texts else None)


def _decide_cluster(item, other_captions, max_distance):
    _, members = item
    for uid, kept_uid, reason, detail in ops.decide_cluster(list(members), other_captions, max_distance):
        yield uid, (kept_uid, reason, detail)


def _join(item):
    uid, grouped = item
    rows, decisions = grouped["rows"], grouped["decisions"]
    kept_uid, reason, detail = decisions[0] if decisions else (uid, None, None)
    for row in rows:
        row["image_cluster"] = kept_uid
        if reason is None:
            yield row
        else:
            yield beam.pvalue.TaggedOutput("removed", (row, reason, detail))


def _to_removed(items):
    rows = [r for r, _, _ in items]
    return schema.removed(
        rows_to_table(rows), ops.STAGE, [x for _, x, _ in items], [d for _, _, d in items]
    )


class DedupImages(beam.PTransform):
    """In: pair batches with ``shard`` and ``key`` (the download stage's kept output).
    Out: StageOutput.

    Kept: the first pair (largest image, ties by smallest uid) of each duplicate image
    cluster, and the members that duplicate no kept pair (``curate.ops.dedup_images.
    decide_cluster``), with ``pixel_sha256``, ``phash`` and ``image_cluster`` (the uid of the
    cluster's first member; its own uid when it has no duplicate). A cluster is a connected
    component of "same pixels" and "pHash Hamming distance <= max_distance" edges, on any
    runner. A member whose image duplicates a kept pair's (same pixels or pHash within
    max_distance of it directly) with a near-duplicate caption is the same pair again and
    always removed; under another caption it follows ``other_captions``.
    Removed: ``decode_error``, ``duplicate_image_exact``, ``duplicate_image_perceptual``
    (the detail names the kept uid and says "same caption" or "other caption").

    Scaling: exact duplicates collapse first (group by pixel hash), then equal pHashes, and
    only distinct pHashes are banded (k+1 bands, pigeonhole) and compared pairwise per bucket.
    """

    def __init__(self, config: DedupImagesConfig = DedupImagesConfig()):
        super().__init__()
        self.config = config

    def expand(self, pairs):
        c = self.config
        hashed = pairs | "HashImages" >> beam.ParDo(HashImagesFn(c)).with_outputs(
            HashImagesFn.REMOVED, HashImagesFn.NODES, HashImagesFn.TEXTS, main="kept"
        )
        exact = (
            hashed.nodes
            | "GroupByPixels" >> beam.GroupByKey()
            | "ExactGroups" >> beam.FlatMap(_exact).with_outputs("edges", main="reps")
        )
        same = (
            exact.reps
            | "GroupByPhash" >> beam.GroupByKey()
            | "SamePhash" >> beam.FlatMap(_same_phash).with_outputs("edges", main="reps")
        )
        edge_sets = [exact.edges, same.edges]
        if c.max_distance > 0:
            edge_sets.append(
                same.reps
                | "BandKeys" >> beam.FlatMap(_band_keys, c.max_distance)
                | "GroupByBand" >> beam.GroupByKey()
                | "VerifyPairs" >> beam.FlatMap(_bucket_pairs, c.max_distance)
            )
        labels = (
            tuple(edge_sets)
            | "AllEdges" >> beam.Flatten()
            | "Clusters" >> ConnectedComponents(c.cc_rounds, ops.STAGE)
            | "LabelByUid" >> beam.Map(_label_by_uid)
        )
        decisions = (
            {"labels": labels, "texts": hashed.texts}
            | "JoinCaptions" >> beam.CoGroupByKey()
            | "ToCluster" >> beam.FlatMap(_to_cluster)
            | "GroupCluster" >> beam.GroupByKey()
            | "DecideCluster" >> beam.FlatMap(_decide_cluster, c.other_captions, c.max_distance)
        )
        joined = (
            {"rows": hashed.kept | "KeyByUid" >> beam.FlatMap(explode, "uid"), "decisions": decisions}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.FlatMap(_join).with_outputs("removed", main="kept")
        )
        dup_removed = (
            joined.removed
            | "BatchRemoved" >> beam.BatchElements(min_batch_size=256, max_batch_size=4096)
            | "ToRemoved" >> beam.Map(_to_removed)
        )
        kept = joined.kept | "Rebatch" >> Rebatch()
        removed = (hashed.removed, dup_removed) | "AllRemoved" >> beam.Flatten()
        return StageOutput(kept | "NonEmpty" >> beam.Filter(non_empty), removed)
