"""Stage `balance_clusters`: balancing by hierarchical k-means (``curate.ops.balance_clusters``)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from curate import schema
from curate.config import BalanceClustersConfig
from curate.ops import balance_clusters as ops
from curate.ops.embed import embeddings_of
from curate.ops.semdedup import bottom_k, sample_keys
from curate.transforms.base import CountRows, StageOutput, non_empty
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


def _leaf_rows(item):
    leaf, table = item
    return leaf, table.num_rows


def _plan(leaf_rows: dict, tree, pool_size: int, config: BalanceClustersConfig, seed: int):
    if tree is None:
        return None
    counts = np.zeros(len(tree.centroids[0]), np.int64)
    for leaf, n in leaf_rows.items():
        counts[leaf] = n
    target = ops.target_for(pool_size, config.target_size, config.target_share)
    per_level = ops.quotas(tree, counts, target, seed)
    sizes = tree.sizes(counts)
    return {"target": target, "pool": int(pool_size), "quotas": per_level, "sizes": sizes}


class AssignFn(beam.DoFn):
    """Batch → (leaf, rows of that leaf with ``cluster_path``) per leaf present. Exact
    distances: a row's leaf does not depend on its batch."""

    def process(self, table, tree):
        if not table.num_rows:
            return
        leaf, _ = ops.nearest(embeddings_of(table), tree.centroids[0])
        table = ops.with_paths(table, tree.paths(leaf))
        for c in np.unique(leaf):
            yield int(c), table.filter(pa.array(leaf == c))


class DecideLeafFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, seed: int):
        self.seed = seed

    def process(self, item, plan):
        leaf, tables = item
        table = schema.concat(tables)
        quota = int(plan["quotas"][0][leaf])
        Metrics.distribution(ops.STAGE, "leaf_size").update(table.num_rows)
        kept, removed = ops.decide_leaf(table, quota, self.seed)
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
    the members per leaf from a combiner, the quotas top-down from those; all are side
    inputs. Assignment is exact and the pairs a leaf keeps are the smallest hash(uid, stage,
    seed), so the output is the same on any runner, worker count and batching."""

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
        leaves = pairs | "Assign" >> beam.ParDo(AssignFn(), tree_side)
        plan = (
            leaves
            | "LeafRows" >> beam.Map(_leaf_rows)
            | "LeafSizes" >> beam.CombinePerKey(sum)
            | "AsDict" >> beam.combiners.ToDict()
            | "Quotas" >> beam.Map(_plan, tree_side, beam.pvalue.AsSingleton(pool_size), c, self.seed)
        )
        out = (
            leaves
            | "GroupByLeaf" >> beam.GroupByKey()
            | "DecideLeaves"
            >> beam.ParDo(DecideLeafFn(self.seed), beam.pvalue.AsSingleton(plan)).with_outputs(DecideLeafFn.REMOVED, main="kept")
        )
        if self.summary_path:
            plan | "WriteSummary" >> beam.Map(_write_summary, tree_side, self.summary_path)
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
