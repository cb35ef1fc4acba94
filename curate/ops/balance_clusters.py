"""Balancing by hierarchical k-means (stage ``balance_clusters``), after Vo et al. 2024,
"Automatic Data Curation for Self-Supervised Learning: A Clustering-Based Approach"
(facebookresearch/ssl-data-curation).

What the paper does, and what is done here:

1. **Hierarchical k-means.** Level 1 clusters the embeddings; level t > 1 clusters the
   centroids of level t - 1 (k-means with L2 distance, as the paper's code). A data point
   belongs to its nearest level-1 centroid; a level-t cluster to the level-(t+1) cluster its
   centroid is assigned to. So every pair has a *cluster path* (top level first, leaf last).
2. **Resampling between levels.** Plain k-means puts its centroids where the data are dense:
   a concept with 10x the images gets ~10x the centroids, and the next level inherits that.
   After each level's k-means the paper takes, from every cluster, the ``m`` points closest
   to its centroid (m ~ half the average cluster size), runs k-means again on the union of
   those (every cluster weighs the same there, however dense), reassigns all points, and
   repeats (10 steps). The centroids spread over the concepts instead of piling on the modes.
3. **Balanced top-down sampling.** A target size N is split over the top clusters: the
   largest x with sum_i min(x, size_i) <= N, every cluster gets min(x, size_i), and the
   remaining N - sum units go, one each, to clusters larger than x (the paper: at random;
   here: the smallest hash(level, cluster, stage, seed)). Each cluster's quota is split over
   its children by the same rule, down to the leaves; a leaf keeps `quota` of its members
   (the paper's default "random": here the smallest hash(uid, stage, seed)). Small clusters
   are kept whole, large ones are cut to an equal share.

Differences, and why: centroids are learned on a hash-chosen sample of the pool (the paper
clusters every image; a sample of 100K is plenty for the leaf counts of a pool this size, and
all pairs are still assigned); FAISS k-means (random initial points, not k-means++); the
paper's ``multiplier`` (an image sampled more than once) is not offered, a curated pair is
kept or removed. Every distance that decides (assignment, the points closest to a centroid)
is exact: rows rounded to float16 as the ``embedding`` column stores them, products summed in
float64 that cannot round (see ``curate.ops.embed.cosines``), so a row's cluster is a
function of the row and the centroids alone, never of its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate import schema
from curate.ops.embed import MAX_EXACT_NORM
from curate.ops.semdedup import FAISS_MIN_POINTS_PER_CENTROID, sample_keys

STAGE = "balance_clusters"
SMALL_KMEANS = 10_000_000  # points x clusters below which FAISS runs on one thread
CHUNK = 4096  # rows per distance block: bounds memory to CHUNK x clusters floats


@dataclass
class Hierarchy:
    """Centroids per level (bottom first; float16 values held as float32) and the tree:
    ``parents[l][i]`` is the level-(l+2) cluster of level-(l+1) cluster i."""

    centroids: list[np.ndarray]
    parents: list[np.ndarray]

    @property
    def levels(self) -> int:
        return len(self.centroids)

    def paths(self, leaf: np.ndarray) -> np.ndarray:
        """(n, levels) int32 cluster paths, top level first, the leaf last."""
        cols = [np.asarray(leaf, np.int64)]
        for parent in self.parents:
            cols.append(parent[cols[-1]])
        return np.stack(cols[::-1], axis=1).astype(np.int32) if len(cols[0]) else np.zeros((0, self.levels), np.int32)

    def sizes(self, leaf_counts: np.ndarray) -> list[np.ndarray]:
        """Members per cluster at every level (bottom first), from the leaves' counts."""
        out = [np.asarray(leaf_counts, np.int64)]
        for level, parent in enumerate(self.parents):
            out.append(np.bincount(parent, weights=out[-1], minlength=len(self.centroids[level + 1])).astype(np.int64))
        return out


def _f16(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def nearest(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid by L2, squared distance to it) per row, exact: both sides rounded to
    float16, the dot products and squared norms summed in float64 where they cannot round
    (every product a multiple of 2**-48, every sum below 16 for rows of norm < 4), so the
    result is the same bits whatever rows share the call. Ties go to the lower centroid."""
    x = np.asarray(x, np.float32).astype(np.float16).astype(np.float64)
    c = np.asarray(centroids, np.float32).astype(np.float16).astype(np.float64)
    n = len(x)
    if n == 0 or len(c) == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.float64)
    xx = (x * x).sum(axis=1)
    cc = (c * c).sum(axis=1)
    if xx.max() >= MAX_EXACT_NORM**2 or cc.max() >= MAX_EXACT_NORM**2:
        raise ValueError(f"{STAGE}: embeddings must have norm < {MAX_EXACT_NORM} (the embed stage's are unit vectors)")
    ids = np.empty(n, np.int64)
    dist = np.empty(n, np.float64)
    for a in range(0, n, CHUNK):
        # argmin |x - c|^2 = argmin (|c|^2 / 2 - x.c): each term exact, their difference too
        score = cc[None, :] / 2 - x[a : a + CHUNK] @ c.T
        j = score.argmin(axis=1)
        ids[a : a + CHUNK] = j
        dist[a : a + CHUNK] = xx[a : a + CHUNK] + 2 * score[np.arange(len(j)), j]
    return ids, dist


def kmeans_pp(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007; the paper's init): each next centre
    drawn with probability proportional to the squared distance to the nearest centre so
    far. Far-apart small modes get a centre; FAISS's default (k random points) puts nearly
    all of them in the dense modes, and the next level's k-means then merges the rare
    concepts. Draws from a generator seeded by `seed`: the same input gives the same centres."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float64)
    centres = [int(rng.integers(len(x)))]
    d2 = ((x - x[centres[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than k: repeat one, k-means keeps it empty
            centres.append(centres[-1])
            continue
        i = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
        i = min(i, len(x) - 1)
        centres.append(i)
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(axis=1))
    return np.ascontiguousarray(x[centres], np.float32)


def kmeans(x: np.ndarray, k: int, iters: int, seed: int) -> np.ndarray:
    """L2 k-means (FAISS; on the GPU when FAISS sees one, else the CPU) from k-means++
    seeds → (k', d) centroids rounded to float16, k' = min(k, len(x))."""
    import faiss

    x = np.ascontiguousarray(x, np.float32)
    k = max(1, min(k, len(x)))
    km = faiss.Kmeans(
        x.shape[1], k, niter=iters, seed=seed, gpu=faiss.get_num_gpus() > 0, verbose=False,
        max_points_per_centroid=max(256, math.ceil(len(x) / k)),  # no FAISS subsampling
        min_points_per_centroid=1,  # small levels are expected here: no warning per level
    )
    threads = faiss.omp_get_max_threads()
    if len(x) * k < SMALL_KMEANS:  # OpenMP threads cost more than they save here (a busy
        faiss.omp_set_num_threads(1)  # 2-core machine: 0.9 s with 2 threads, 0.02 s with 1)
    try:
        km.train(x, init_centroids=kmeans_pp(x, k, seed))
    finally:
        faiss.omp_set_num_threads(threads)
    return _f16(km.centroids)


def closest_per_cluster(x: np.ndarray, centroids: np.ndarray, m: int) -> np.ndarray:
    """Row indices of the ``m`` points of each cluster closest to its centroid (fewer where
    the cluster is smaller; ties by index): the paper's "closest" resampling."""
    ids, dist = nearest(x, centroids)
    order = np.lexsort((np.arange(len(x)), dist, ids))  # by cluster, then distance, then index
    ranked = ids[order]
    start = np.searchsorted(ranked, ranked, side="left")
    return np.sort(order[np.arange(len(order)) - start < m])


def resample_size(n_points: int, k: int) -> int:
    """The paper's choice: about half the average cluster size (its configs: 10 of 20,
    3 of 5)."""
    return math.ceil(n_points / max(k, 1) / 2)


def fit(sample: np.ndarray, clusters: list[int], resample_steps: int, iters: int, seed: int) -> Hierarchy:
    """Hierarchical k-means with resampling on `sample` (rows in a fixed order: the result
    depends on it). ``clusters``: per level, bottom first; a level never has more clusters
    than points."""
    centroids: list[np.ndarray] = []
    parents: list[np.ndarray] = []
    points = _f16(sample)
    for level, k in enumerate(clusters):
        k = max(1, min(k, len(points)))
        c = kmeans(points, k, iters, seed + level)
        m = resample_size(len(points), k)
        if m > 1:  # m = 1: the paper's "no resampling"
            for step in range(resample_steps):
                chosen = closest_per_cluster(points, c, m)
                c = kmeans(points[chosen], k, iters, seed + 1000 * (level + 1) + step)
        if level:
            parents.append(nearest(points, c)[0])
        centroids.append(c)
        points = c
    return Hierarchy(centroids, parents)


def auto_clusters(sample_size: int, levels: int, leaf_size: int, branching: int) -> list[int]:
    """Clusters per level (bottom first) when none are given: sample / leaf_size leaves (at
    most sample / 39, FAISS's minimum training points per centroid), each level above
    ``branching`` times fewer, never below 1."""
    k = max(1, math.ceil(sample_size / leaf_size))
    k = min(k, max(1, sample_size // FAISS_MIN_POINTS_PER_CENTROID))
    out = [k]
    for _ in range(levels - 1):
        out.append(max(1, math.ceil(out[-1] / branching)))
    return out


def node_keys(level: int, ids: np.ndarray, seed: int) -> np.ndarray:
    """uint64 per cluster of a level: which clusters get the units left after the cut."""
    return sample_keys([f"level{level}/{i}" for i in ids], seed, STAGE)


def split(sizes: np.ndarray, target: int, keys: np.ndarray) -> np.ndarray:
    """The paper's rule: quota_i = min(x, size_i) for the largest x with sum <= target, and
    the rest of `target`, one unit each, to the clusters larger than x with the smallest
    keys (ties: lower index). All of it when the sizes sum to at most `target`."""
    sizes = np.asarray(sizes, np.int64)
    if sizes.sum() <= target:
        return sizes.copy()
    lo, hi = 0, int(sizes.max())  # sum(min(lo, s)) <= target < sum(min(hi, s))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if np.minimum(sizes, mid).sum() <= target:
            lo = mid
        else:
            hi = mid
    quota = np.minimum(sizes, lo)
    cand = np.nonzero(sizes > lo)[0]
    extra = cand[np.lexsort((cand, keys[cand]))][: target - int(quota.sum())]
    quota[extra] += 1
    return quota


def quotas(h: Hierarchy, leaf_counts: np.ndarray, target: int, seed: int) -> list[np.ndarray]:
    """Pairs kept per cluster at every level (bottom first; [0]: per leaf), top-down: the
    target split over the top clusters, each cluster's quota over its children."""
    sizes = h.sizes(leaf_counts)
    top = len(sizes) - 1
    out = [None] * len(sizes)
    out[top] = split(sizes[top], target, node_keys(top + 1, np.arange(len(sizes[top])), seed))
    for level in range(top - 1, -1, -1):
        parent = h.parents[level]
        q = np.zeros(len(sizes[level]), np.int64)
        order = np.argsort(parent, kind="stable")
        bounds = np.searchsorted(parent[order], np.arange(len(sizes[level + 1]) + 1))
        for p in np.nonzero(out[level + 1])[0]:
            children = order[bounds[p] : bounds[p + 1]]
            q[children] = split(sizes[level][children], int(out[level + 1][p]), node_keys(level + 1, children, seed))
        out[level] = q
    return out


def target_for(pool_size: int, target_size: int, target_share: float) -> int:
    return target_size if target_size > 0 else int(round(pool_size * target_share))


def path_text(path) -> str:
    return "/".join(str(int(p)) for p in path)


def leaf_order(uids: list[str], seed: int) -> list[tuple[int, str]]:
    """Per row its rank key within a leaf: (hash(uid, stage, seed), uid); a leaf keeps the
    `quota` smallest."""
    return list(zip(sample_keys(uids, seed, STAGE).tolist(), uids, strict=True))


def smallest(items: list[tuple[int, str]], q: int) -> list[tuple[int, str]]:
    """The q smallest rank keys, sorted: a mergeable, order-free summary of a leaf."""
    return sorted(items)[:q]


def keep_in_leaf(uids: list[str], quota: int, seed: int) -> np.ndarray:
    """Mask of the `quota` members with the smallest (hash(uid, stage, seed), uid)."""
    order = leaf_order(uids, seed)
    kept = set(smallest(order, quota))
    return np.array([o in kept for o in order], bool)


def decide_batch(table: pa.Table, leaf: np.ndarray, seed: int, last_kept: dict, leaf_quota, leaf_size):
    """(kept, removed ``cluster_balanced_out``) of a batch with ``cluster_path``: a row is
    kept iff its rank key is at most its leaf's last kept key (``last_kept[leaf]``, the
    quota-th smallest of the leaf over the whole pool). The detail names the cluster path
    and the leaf's quota and size."""
    order = leaf_order(table["uid"].to_pylist(), seed)
    keep = np.array([int(c) in last_kept and o <= last_kept[int(c)] for o, c in zip(order, leaf, strict=True)], bool)
    idx = np.nonzero(~keep)[0]
    removed = table.take(pa.array(idx, pa.int64()))
    details = [
        f"cluster {path_text(p)}: {int(leaf_quota[leaf[i]])} of {int(leaf_size[leaf[i]])} kept"
        for p, i in zip(removed["cluster_path"].to_pylist(), idx, strict=True)
    ]
    return table.filter(pa.array(keep)), schema.removed(removed, STAGE, "cluster_balanced_out", details)


def with_paths(table: pa.Table, paths: np.ndarray) -> pa.Table:
    """`table` with the ``cluster_path`` column (list<int32>, top level first)."""
    levels = paths.shape[1] if paths.ndim == 2 else 0
    offsets = pa.array(np.arange(len(paths) + 1, dtype=np.int32) * levels, pa.int32())
    return schema.with_column(table, "cluster_path", pa.ListArray.from_arrays(offsets, pa.array(paths.reshape(-1), pa.int32())))


# --- slow, obvious references (tests) --------------------------------------------------


def split_reference(sizes, target: int, keys) -> list[int]:
    """One unit at a time to the open cluster with the smallest quota so far (ties: smallest
    key, then index): water-filling, the paper's rule by its definition."""
    q = [0] * len(sizes)
    for _ in range(min(int(target), int(sum(sizes)))):
        open_ = [i for i in range(len(sizes)) if q[i] < sizes[i]]
        i = min(open_, key=lambda i: (q[i], int(keys[i]), i))
        q[i] += 1
    return q


def balance_reference(emb: np.ndarray, uids: list[str], h: Hierarchy, target: int, seed: int) -> set[str]:
    """The kept uids, from first principles: each point's nearest leaf by a Python loop of
    squared distances (float16 rows in float64), the tree walked as explicit member lists,
    quotas by water-filling, the smallest hashes kept per leaf."""

    def dist(a, b):
        a = [float(v) for v in np.float16(a)]
        b = [float(v) for v in np.float16(b)]
        return sum((p - q) ** 2 for p, q in zip(a, b, strict=True))

    leaf_of = []
    for e in emb:
        d = [dist(e, c) for c in h.centroids[0]]
        leaf_of.append(min(range(len(d)), key=lambda j: (d[j], j)))
    members = {(1, j): [i for i in range(len(uids)) if leaf_of[i] == j] for j in range(len(h.centroids[0]))}
    children: dict = {}
    for level in range(2, h.levels + 1):
        for j in range(len(h.centroids[level - 1])):
            kids = [c for c in range(len(h.centroids[level - 2])) if h.parents[level - 2][c] == j]
            children[(level, j)] = kids
            members[(level, j)] = [i for c in kids for i in members[(level - 1, c)]]
    kept: set[str] = set()

    def walk(level, ids, quota_total):
        sizes = [len(members[(level, j)]) for j in ids]
        keys = node_keys(level, np.array(ids, np.int64), seed)
        for j, q in zip(ids, split_reference(sizes, quota_total, keys), strict=True):
            if level == 1:
                ranked = sorted(members[(1, j)], key=lambda i: (int(sample_keys([uids[i]], seed, STAGE)[0]), uids[i]))
                kept.update(uids[i] for i in ranked[:q])
            else:
                walk(level - 1, children[(level, j)], q)

    walk(h.levels, list(range(len(h.centroids[-1]))), target)
    return kept
