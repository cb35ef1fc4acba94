"""Stage `semdedup`: SemDeDup on the `embedding` column (k-means in FAISS, rule in Beam)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from curate import schema
from curate.config import SemDedupConfig
from curate.ops import semdedup as ops
from curate.ops.embed import embeddings_of
from curate.transforms.base import CountRows, MergePartialsFn, StageOutput, non_empty


class BottomKFn(MergePartialsFn):
    """Deterministic sample: the k embeddings with the smallest hash(uid, stage, seed)."""

    def __init__(self, k: int):
        self.k = k

    def merge(self, partials):
        partials = [a for a in partials if len(a[0])]
        if not partials:
            return None
        keys = np.concatenate([a[0] for a in partials])
        emb = np.concatenate([a[1] for a in partials])
        return ops.bottom_k(keys, emb, self.k)


def _local_sample(table, k, seed):
    keys = ops.sample_keys(table["uid"].to_pylist(), seed)
    yield ops.bottom_k(keys, embeddings_of(table).astype(np.float16), k)


def _train(sample, pool_size, config: SemDedupConfig, seed: int):
    if sample is None:
        return None
    k = ops.num_clusters(pool_size, len(sample[0]), config.num_clusters, config.cluster_size)
    return ops.train_kmeans(sample[1].astype(np.float32), k, config.kmeans_iters, seed)


class AssignFn(beam.DoFn):
    """Batch → (cluster, sub-batch) per cluster present, with ``semantic_cluster`` (exact
    cosines: a row's cluster does not depend on its batch)."""

    def process(self, table, centroids):
        ids, _ = ops.assign(embeddings_of(table), centroids)
        table = schema.with_column(table, "semantic_cluster", pa.array(ids, pa.int32()))
        yield from schema.split_by_key(table, ids)


class DedupClusterFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, eps: float):
        self.eps = eps

    def process(self, item, centroids):
        cluster, tables = item
        table = schema.concat(tables)
        cos, removed, partner = ops.dedup_cluster(
            table["uid"].to_pylist(), embeddings_of(table), centroids[cluster], self.eps
        )
        table = schema.with_column(
            table, "semantic_cosine", pa.array(cos, pa.float32(), mask=np.isnan(cos))
        )
        Metrics.distribution(ops.STAGE, "cluster_size").update(table.num_rows)
        kept = table.filter(pa.array(~removed))
        if kept.num_rows:
            yield kept
        if removed.any():
            idx = np.nonzero(removed)[0]
            details = [f"cosine {cos[i]:.4f} to {partner[i]}" for i in idx]
            yield beam.pvalue.TaggedOutput(
                self.REMOVED,
                schema.removed(table.take(pa.array(idx)), ops.STAGE, "semantic_duplicate", details),
            )


class DedupByEmbedding(beam.PTransform):
    """In: pair batches with ``embedding`` (stage ``embed``). Out: StageOutput.

    Kept: pairs not removed, with ``semantic_cluster`` (k-means cluster) and
    ``semantic_cosine`` (max cosine to a member of its cluster farther from the centroid;
    null for the farthest). Removed: ``semantic_duplicate`` when that cosine > 1 - eps; of
    near-duplicates the one farthest from the centroid is kept (SemDeDup). Centroids come
    from k-means on a hash-ordered sample (a combiner), and every cosine that decides
    (assignment, order in the cluster, the eps rule) is exact (``embed.cosines``), so the
    result is the same on any runner, worker count and batching."""

    def __init__(self, config: SemDedupConfig = SemDedupConfig(), seed: int = 0):
        super().__init__()
        self.config = config
        self.seed = seed

    def expand(self, pairs):
        c = self.config
        pool_size = pairs | "PoolSize" >> CountRows()
        centroids = (
            pairs
            | "LocalSample" >> beam.FlatMap(_local_sample, c.sample_size, self.seed)
            | "Sample" >> beam.CombineGlobally(BottomKFn(c.sample_size))
            | "KMeans" >> beam.Map(_train, beam.pvalue.AsSingleton(pool_size), c, self.seed)
        )
        cents = beam.pvalue.AsSingleton(centroids)
        out = (
            pairs
            | "Assign" >> beam.ParDo(AssignFn(), cents)
            | "GroupByCluster" >> beam.GroupByKey()
            | "DedupClusters"
            >> beam.ParDo(DedupClusterFn(c.eps), cents).with_outputs(DedupClusterFn.REMOVED, main="kept")
        )
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
