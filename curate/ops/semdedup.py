"""SemDeDup (Abbas et al., 2023) as pure functions: sampling, k-means, assignment, and the
within-cluster rule.

The rule (the paper's ``semdedup`` with ``which_to_keep="hard"``, also NeMo Curator's):
order a cluster's members by decreasing distance to the centroid (increasing cosine to it;
ties by uid); for member j let ``M_j = max_{i before j} cos(e_i, e_j)``; remove j when
``M_j > 1 - eps``. Of a group of near-duplicates the one farthest from the centroid comes
first and is kept. ``M_j`` does not depend on eps, so it is stored (``semantic_cosine``) and
eps can be re-tuned without recomputing: removed iff semantic_cosine > 1 - eps.
Reason: ``semantic_duplicate``, detail: the cosine and the uid of the pair it duplicates.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

STAGE = "semdedup"
FAISS_MIN_POINTS_PER_CENTROID = 39  # FAISS warns below this many training points per centroid


def normalise(emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def sample_keys(uids: list[str], seed: int) -> np.ndarray:
    """uint64 per uid from a hash of (uid, stage, seed): the sample is the smallest keys."""
    out = np.empty(len(uids), dtype=np.uint64)
    for i, uid in enumerate(uids):
        d = hashlib.blake2b(f"{uid}\x00{STAGE}\x00{seed}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(d, "big")
    return out


def bottom_k(keys: np.ndarray, emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows with the smallest keys, in key order (a mergeable, order-free sample)."""
    if len(keys) > k:
        idx = np.argpartition(keys, k - 1)[:k]
        keys, emb = keys[idx], emb[idx]
    order = np.argsort(keys, kind="stable")
    return keys[order], emb[order]


def num_clusters(pool_size: int, sample_size: int, requested: int, cluster_size: int) -> int:
    """Clusters to train: `requested`, else ceil(pool / cluster_size); never more than the
    sample supports (39 points per centroid) nor more than the sample itself."""
    k = requested or math.ceil(max(pool_size, 1) / cluster_size)
    k = min(k, max(1, sample_size // FAISS_MIN_POINTS_PER_CENTROID)) if not requested else k
    return max(1, min(k, sample_size))


def train_kmeans(sample: np.ndarray, k: int, iters: int, seed: int) -> np.ndarray:
    """Spherical k-means (FAISS; on the GPU when FAISS sees one) → (k, d) unit centroids."""
    import faiss

    x = np.ascontiguousarray(normalise(sample))
    k = max(1, min(k, len(x)))
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=iters,
        seed=seed,
        spherical=True,
        gpu=faiss.get_num_gpus() > 0,
        max_points_per_centroid=max(256, math.ceil(len(x) / k)),
        verbose=False,
    )
    km.train(x)
    return normalise(km.centroids)


def flat_index(centroids: np.ndarray):
    """Exact inner-product index over the centroids (GPU when FAISS sees one)."""
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1])
    if faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index


def assign(emb: np.ndarray, index) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid, cosine to it) per embedding."""
    sims, ids = index.search(np.ascontiguousarray(normalise(emb)), 1)
    return ids[:, 0].astype(np.int32), sims[:, 0]


def cluster_order(uids: list[str], centroid_cos: np.ndarray) -> np.ndarray:
    """Farthest from the centroid first; ties by uid (deterministic)."""
    return np.lexsort((np.array(uids, dtype=object).astype(str), centroid_cos))


def max_previous_cosine(emb: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For rows in order: (max cosine to any earlier row, index of that row); -inf / -1 for
    the first. Blocked so memory is len(emb) x block."""
    x = normalise(emb)
    n = len(x)
    best = np.full(n, -np.inf, dtype=np.float32)
    arg = np.full(n, -1, dtype=np.int64)
    for a in range(0, n, block):
        b = min(n, a + block)
        if b == 1:
            continue
        sims = x[:b] @ x[a:b].T  # (b, b - a): rows i, columns j in [a, b)
        i = np.arange(b)[:, None]
        j = np.arange(a, b)[None, :]
        sims[i >= j] = -np.inf
        arg[a:b] = np.argmax(sims, axis=0)
        best[a:b] = sims[arg[a:b], np.arange(b - a)]
    arg[best == -np.inf] = -1
    return best, arg


def dedup_cluster(uids: list[str], emb: np.ndarray, centroid: np.ndarray, eps: float):
    """One cluster → (semantic_cosine per row (nan for the first), removed mask, the uid each
    removed row duplicates), all in the input row order."""
    x = normalise(emb)
    order = cluster_order(uids, x @ centroid)
    best, arg = max_previous_cosine(x[order])
    n = len(uids)
    cos = np.full(n, np.nan, dtype=np.float32)
    partner = [None] * n
    cos[order] = np.where(best == -np.inf, np.nan, best)
    for pos, row in enumerate(order):
        if arg[pos] >= 0:
            partner[row] = uids[order[arg[pos]]]
    removed = np.nan_to_num(cos, nan=-np.inf) > 1.0 - eps
    return cos, removed, partner


def dedup_reference(uids, emb, labels, centroids, eps) -> set[str]:
    """Brute force, loops: the removed uids (for tests)."""
    x = normalise(emb)
    removed = set()
    for c in set(labels.tolist()):
        members = [i for i in range(len(uids)) if labels[i] == c]
        members.sort(key=lambda i: (float(x[i] @ centroids[c]), uids[i]))
        for pos, j in enumerate(members):
            if any(float(x[i] @ x[j]) > 1.0 - eps for i in members[:pos]):
                removed.add(uids[j])
    return removed
