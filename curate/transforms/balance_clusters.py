"""Stage `balance_clusters`: balancing by hierarchical k-means (``curate.ops.balance_clusters``)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa

from curate.config import BalanceClustersConfig
from curate.ops import balance_clusters as ops
from curate.ops.embed import embeddings_of
from curate.ops.semdedup import bottom_k, sample_keys
from curate.transforms.base import CountRows, MergePartialsFn, StageOutput, non_empty
from curate.transforms.semdedup import BottomKFn


def _local_sample(table: pa.Table, k: int, seed: int):
    if table.num_rows:
        keys = sample_keys(table["uid"].to_pylist(), seed, ops.STAGE)
        yield bottom_k(keys, embeddings_of(table).astype(np.float16), k)


def _fit(sample, config: BalanceClustersConfig, seed: int) -> ops.Hierarchy | None:
    if sample is None:
        return None
    emb = sample[1].astype(np.float32)
    clusters = list(config.clusters) or ops.auto_clusters(len(emb), config.levels, config.leaf_size, config.branching)
    return ops.fit(emb, clusters, config.resample_steps, config.kmeans_iters, seed)


def _leaf_counts(table: pa.Table, tree) -> np.ndarray:
    return np.bincount(_leaves(table), minlength=len(tree.centroids[0]))


def _leaves(table: pa.Table) -> np.ndarray:
    """The leaf of each row: the last element of its ``cluster_path``."""
    paths = table["cluster_path"].combine_chunks()
    return np.asarray(paths.flatten().to_numpy(zero_copy_only=False)).reshape(len(paths), -1)[:, -1].astype(np.int64)


class SumCountsFn(MergePartialsFn):
    """Members per leaf over the whole pool (inputs: per-batch counts of equal length)."""

    def merge(self, partials):
        return np.sum(partials, axis=0)


def _plan(counts, tree, pool_size: int, config: BalanceClustersConfig, seed: int):
    if tree is None:
        return None
    if counts is None:
        counts = np.zeros(len(tree.centroids[0]), np.int64)
    target = ops.target_for(pool_size, config.target_size, config.target_share)
    per_level = ops.quotas(tree, counts, target, seed)
    sizes = tree.sizes(counts)
    return {"target": target, "pool": int(pool_size), "quotas": per_level, "sizes": sizes}


class AssignFn(beam.DoFn):
    """Batch → the batch with ``cluster_path`` (exact distances: a row's leaf does not
    depend on its batch)."""

    def process(self, table, tree):
        if table.num_rows:
            leaf, _ = ops.nearest(embeddings_of(table), tree.centroids[0])
            yield ops.with_paths(table, tree.paths(leaf))


def _local_smallest(table: pa.Table, plan, seed: int):
    """Per leaf of the batch with a quota q > 0: (leaf, (q, its q smallest rank keys here))."""
    leaf = _leaves(table)
    order = ops.leaf_order(table["uid"].to_pylist(), seed)
    quota = plan["quotas"][0]
    for c in np.unique(leaf):
        q = int(quota[c])
        if q:
            yield int(c), (q, ops.smallest([order[i] for i in np.nonzero(leaf == c)[0]], q))


class SmallestKeysFn(MergePartialsFn):
    """Per leaf, the pool-wide q smallest rank keys (inputs: (q, sorted keys) per batch)."""

    def merge(self, partials):
        q = partials[0][0]
        return q, ops.smallest([k for _, keys in partials for k in keys], q)


def _last_kept(item):
    leaf, (_, keys) = item
    return leaf, keys[-1]


class DecideFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, seed: int):
        self.seed = seed

    def process(self, table, plan, last_kept):
        leaf = _leaves(table)
        kept, removed = ops.decide_batch(table, leaf, self.seed, last_kept, plan["quotas"][0], plan["sizes"][0])
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(self.REMOVED, removed)


def summarise(plan, tree) -> dict:
    """What the stage decided, for ``balance_clusters.json``: clusters per level, the
    target, and per top cluster its size and quota."""
    if plan is None:
        return {"pool": 0, "target": 0, "levels": []}
    top_sizes, top_quotas = plan["sizes"][-1], plan["quotas"][-1]
    leaves, leaf_quotas = plan["sizes"][0], plan["quotas"][0]
    return {
        "pool": plan["pool"],
        "target": plan["target"],
        "kept": int(leaf_quotas.sum()),
        "clusters_per_level": [len(c) for c in tree.centroids],  # finest first
        "leaves_non_empty": int((leaves > 0).sum()),
        "leaves_whole": int(((leaves > 0) & (leaf_quotas == leaves)).sum()),
        "top_clusters": [
            {"cluster": int(i), "size": int(top_sizes[i]), "kept": int(top_quotas[i])}
            for i in np.argsort(-top_sizes, kind="stable")
        ],
    }


def _write_summary(plan, tree, path: str):
    from curate.io import shards

    shards.write_json(path, summarise(plan, tree))
    return path


class BalanceByClusters(beam.PTransform):
    """In: pair batches with ``embedding`` (stage ``embed``). Out: StageOutput.

    Kept: about ``target_size`` pairs (or ``target_share`` of the pool), with
    ``cluster_path``, spread over the hierarchical k-means clusters as evenly as their sizes
    allow (small clusters whole, large ones cut to an equal share). Removed:
    ``cluster_balanced_out`` with the path and the leaf's quota in the detail. Global facts
    are computed once: the centroids from k-means on a hash-ordered sample (a combiner),
    the members per leaf from a combiner, the quotas top-down from those, and per leaf the
    quota-th smallest (hash(uid, stage, seed), uid) from a per-leaf combiner that holds at
    most the quota's keys (no rows are shuffled); all are side inputs. Assignment is exact,
    so the output is the same on any runner, worker count and batching."""

    def __init__(self, config: BalanceClustersConfig = BalanceClustersConfig(), seed: int = 0, summary_path: str | None = None):
        super().__init__()
        self.config = config
        self.seed = seed
        self.summary_path = summary_path

    def expand(self, pairs):
        c = self.config
        pool_size = pairs | "PoolSize" >> CountRows()
        tree = (
            pairs
            | "LocalSample" >> beam.FlatMap(_local_sample, c.sample_size, self.seed)
            | "Sample" >> beam.CombineGlobally(BottomKFn(c.sample_size))
            | "HierarchicalKMeans" >> beam.Map(_fit, c, self.seed)
        )
        tree_side = beam.pvalue.AsSingleton(tree)
        assigned = pairs | "Assign" >> beam.ParDo(AssignFn(), tree_side)
        plan = (
            assigned
            | "LeafCounts" >> beam.Map(_leaf_counts, tree_side)
            | "LeafSizes" >> beam.CombineGlobally(SumCountsFn())
            | "Quotas" >> beam.Map(_plan, tree_side, beam.pvalue.AsSingleton(pool_size), c, self.seed)
        )
        plan_side = beam.pvalue.AsSingleton(plan)
        last_kept = (
            assigned
            | "LocalSmallest" >> beam.FlatMap(_local_smallest, plan_side, self.seed)
            | "SmallestPerLeaf" >> beam.CombinePerKey(SmallestKeysFn())
            | "LastKept" >> beam.Map(_last_kept)
        )
        out = assigned | "Decide" >> beam.ParDo(DecideFn(self.seed), plan_side, beam.pvalue.AsDict(last_kept)).with_outputs(
            DecideFn.REMOVED, main="kept"
        )
        if self.summary_path:
            plan | "WriteSummary" >> beam.Map(_write_summary, tree_side, self.summary_path)
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
