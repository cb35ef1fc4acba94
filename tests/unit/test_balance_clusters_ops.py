"""Hierarchical k-means balancing (Vo et al. 2024) against slow references, on synthetic
mixtures whose cluster sizes are known."""

import numpy as np
import pytest

from curate import config as cfg
from curate.ops import balance_clusters as ops

SEED = 7


def mixture(sizes, d=16, noise=0.08, seed=0):
    """Unit vectors around len(sizes) orthogonal directions, `sizes[i]` around the i-th;
    float16 like stored embeddings. Returns (embeddings, true mode per row)."""
    rng = np.random.default_rng(seed)
    dirs = np.linalg.qr(rng.normal(size=(d, d)))[0][: len(sizes)]
    xs, labels = [], []
    for i, n in enumerate(sizes):
        x = dirs[i] + noise * rng.normal(size=(n, d))
        xs.append(x / np.linalg.norm(x, axis=1, keepdims=True))
        labels += [i] * n
    return np.concatenate(xs).astype(np.float16).astype(np.float32), np.array(labels)


def uids_for(n):
    return [f"{i:06d}" for i in range(n)]


@pytest.mark.parametrize("case", range(60))
def test_split_equals_water_filling_one_unit_at_a_time(case):
    rng = np.random.default_rng(case)
    sizes = rng.integers(0, rng.choice([3, 40, 500]), size=rng.integers(1, 12))
    target = int(rng.integers(0, sizes.sum() + 3))
    keys = ops.node_keys(1, np.arange(len(sizes)), case)
    q = ops.split(sizes, target, keys)
    assert q.tolist() == ops.split_reference(sizes.tolist(), target, keys)
    assert q.sum() == min(target, sizes.sum()) and (q <= sizes).all()


def test_split_is_the_papers_cut_rule():
    # x = 28 is the largest cut with sum(min(x, s)) <= 100: 5 + 10 + 3 x 28 = 99 (x = 29: 102)
    q = ops.split(np.array([5, 10, 300, 40, 29]), 100, np.array([0, 1, 4, 2, 3], np.uint64))
    # 5 and 10 whole, the others 28; the one unit left goes to the cluster larger than 28
    # with the smallest key (the 40, key 2)
    assert q.tolist() == [5, 10, 28, 29, 28]
    assert ops.split(np.array([3, 4]), 10, np.zeros(2, np.uint64)).tolist() == [3, 4]


def test_known_mixture_quotas_heavy_thinned_rare_whole():
    """Five modes of 1200 / 400 / 120 / 40 / 12 pairs, the tree given (one top cluster per
    mode, leaves = the modes split in two): a target of 400 keeps 12 + 40 and 116 of each of
    the three heavy modes (12 + 40 + 3 x 116 = 400), as the paper's rule says."""
    sizes = [1200, 400, 120, 40, 12]
    emb, mode = mixture(sizes)
    dirs = np.stack([emb[mode == i].mean(axis=0) for i in range(5)])
    jitter = np.zeros_like(dirs)
    jitter[:, 0] = 0.01
    leaves = np.concatenate([dirs + jitter, dirs - jitter])  # leaf i and i + 5 under top i
    h = ops.Hierarchy([leaves, dirs], [np.array(list(range(5)) * 2)])
    leaf, _ = ops.nearest(emb, h.centroids[0])
    assert (leaf % 5 == mode).all()
    q = ops.quotas(h, np.bincount(leaf, minlength=10), 400, SEED)
    assert q[1].tolist() == [116, 116, 116, 40, 12]
    assert (q[0][:5] + q[0][5:]).tolist() == [116, 116, 116, 40, 12]

    uids = uids_for(len(emb))
    kept = set()
    for j in range(10):
        members = np.nonzero(leaf == j)[0]
        keep = ops.keep_in_leaf([uids[i] for i in members], int(q[0][j]), SEED)
        kept.update(uids[i] for i in members[keep])
    kept_mode = np.bincount([mode[int(u)] for u in kept], minlength=5)
    assert kept_mode.tolist() == [116, 116, 116, 40, 12]  # heavy thinned, rare kept whole
    assert kept == ops.balance_reference(emb, uids, h, 400, SEED)


def test_fitted_hierarchy_and_quotas_equal_the_slow_reference():
    emb, _ = mixture([500, 150, 40, 9], seed=3)
    uids = uids_for(len(emb))
    h = ops.fit(emb, [12, 4], 10, 20, SEED)
    assert [len(c) for c in h.centroids] == [12, 4] and len(h.parents) == 1
    leaf, _ = ops.nearest(emb, h.centroids[0])
    q = ops.quotas(h, np.bincount(leaf, minlength=12), 200, SEED)
    kept = set()
    for j in range(12):
        members = np.nonzero(leaf == j)[0]
        keep = ops.keep_in_leaf([uids[i] for i in members], int(q[0][j]), SEED)
        kept.update(uids[i] for i in members[keep])
    assert len(kept) == 200
    assert kept == ops.balance_reference(emb, uids, h, 200, SEED)


def test_resampling_spreads_the_top_clusters_over_the_modes():
    """The paper's reason for resampling: plain k-means gives the dense modes most
    centroids, and the next level then splits a dense mode and merges rare ones. On six
    mixtures (1200 / 400 / 120 / 40 / 12), the top level of a 40 / 5 hierarchy is one
    cluster per mode in more of them with 10 resampling steps than without."""

    def one_per_mode(emb, mode, steps, seed):
        h = ops.fit(emb, [40, 5], steps, 20, seed)
        top = h.paths(ops.nearest(emb, h.centroids[0])[0])[:, 0]
        return all(len(set(top[mode == i])) == 1 for i in range(5)) and len(set(top)) == 5

    with_resampling = without = 0
    for seed in range(6):
        emb, mode = mixture([1200, 400, 120, 40, 12], seed=seed)
        with_resampling += one_per_mode(emb, mode, 10, seed)
        without += one_per_mode(emb, mode, 0, seed)
    assert with_resampling >= 5 and with_resampling > without


def test_closest_per_cluster_takes_the_m_nearest_of_each():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [0.3, 0.0], [2.0, 0.0], [2.05, 0.0], [1.0, 0.0]], np.float32)
    c = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)
    assert ops.closest_per_cluster(x, c, 2).tolist() == [0, 1, 3, 4]


def test_nearest_is_brute_force_and_independent_of_the_batch():
    emb, _ = mixture([200, 100], seed=5)
    cents = ops._f16(np.random.default_rng(1).normal(size=(9, 16)) / 4)
    ids, _ = ops.nearest(emb, cents)
    brute = [int(np.argmin([((np.float64(np.float16(e)) - np.float64(np.float16(c))) ** 2).sum() for c in cents])) for e in emb]
    assert ids.tolist() == brute
    for a in range(0, 300, 37):
        assert ops.nearest(emb[a : a + 37], cents)[0].tolist() == ids[a : a + 37].tolist()
        assert ops.nearest(emb[a : a + 1], cents)[0].tolist() == ids[a : a + 1].tolist()


def test_paths_and_sizes_walk_the_tree():
    h = ops.Hierarchy([np.zeros((4, 2)), np.zeros((2, 2)), np.zeros((1, 2))], [np.array([1, 0, 1, 0]), np.array([0, 0])])
    assert h.paths(np.array([0, 3, 2])).tolist() == [[0, 1, 0], [0, 0, 3], [0, 1, 2]]
    assert [s.tolist() for s in h.sizes(np.array([5, 1, 2, 0]))] == [[5, 1, 2, 0], [1, 7], [8]]


def test_auto_clusters_follow_leaf_size_and_branching():
    assert ops.auto_clusters(1700, 2, 74, 5) == [23, 5]
    assert ops.auto_clusters(100_000, 3, 74, 5) == [1352, 271, 55]
    assert ops.auto_clusters(50, 2, 74, 5) == [1, 1]
    assert ops.target_for(1001, 0, 0.5) == 500 and ops.target_for(1001, 30, 0.5) == 30


@pytest.mark.parametrize(
    "values, field",
    [
        ({"target_share": 0.0}, "balance_clusters.target_share"),
        ({"target_size": -1}, "balance_clusters.target_size"),
        ({"clusters": (5, 10)}, "balance_clusters.clusters"),
        ({"clusters": (0,)}, "balance_clusters.clusters"),
        ({"levels": 0}, "balance_clusters.levels"),
        ({"branching": 1}, "balance_clusters.branching"),
        ({"resample_steps": -1}, "balance_clusters.resample_steps"),
    ],
)
def test_config_names_the_bad_field(values, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        cfg.stage_config("balance_clusters", values)
