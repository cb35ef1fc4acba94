"""SemDeDup (Abbas et al., 2023) as pure functions: sampling, k-means, assignment, and the
within-cluster rule.

The rule (the paper's ``semdedup`` with ``which_to_keep="hard"``, also NeMo Curator's):
order a cluster's members by decreasing distance to the centroid (increasing cosine to it;
ties by uid); for member j let ``M_j = max_{i before j} cos(e_i, e_j)``; remove j when
``M_j > 1 - eps``. Of a group of near-duplicates the one farthest from the centroid comes
first and is kept. ``M_j`` does not depend on eps, so it is stored (``semantic_cosine``) and
eps can be re-tuned without recomputing: removed iff semantic_cosine > 1 - eps.
Every cosine here is exact (``curate.ops.embed.cosines``: float16 rows, float64 sums that
cannot round, one rounding to float32), so assignment, order and the rule depend on the rows
alone, never on which rows were multiplied together in a batch; centroids are rounded to
float16 like the embeddings.
Reason: ``semantic_duplicate``, detail: the cosine and the uid of the pair it duplicates.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from curate.ops.embed import cosine_reference, cosines

STAGE = "semdedup"
FAISS_MIN_POINTS_PER_CENTROID = 39  # FAISS warns below this many training points per centroid


def normalise(emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def sample_keys(uids: list[str], seed: int, stage: str = STAGE) -> np.ndarray:
    """uint64 per uid from a hash of (uid, stage, seed): the sample is the smallest keys."""
    out = np.empty(len(uids), dtype=np.uint64)
    for i, uid in enumerate(uids):
        d = hashlib.blake2b(f"{uid}\x00{stage}\x00{seed}".encode(), digest_size=8).digest()
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


def assign(emb: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid, cosine to it) per embedding: exact cosines (``embed.cosines``), so a
    row's cluster does not depend on the batch it came in; ties go to the lower centroid."""
    cos = cosines(emb, centroids)
    ids = cos.argmax(axis=1) if cos.shape[1] else np.zeros(len(cos), np.int64)
    return ids.astype(np.int32), cos[np.arange(len(cos)), ids] if cos.shape[1] else np.zeros(0, np.float32)


def cluster_order(uids: list[str], centroid_cos: np.ndarray) -> np.ndarray:
    """Farthest from the centroid first; ties by uid (deterministic)."""
    return np.lexsort((np.array(uids, dtype=object).astype(str), centroid_cos))


def max_previous_cosine(emb: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For rows in order: (max cosine to any earlier row, index of that row); -inf / -1 for
    the first. Exact cosines (``embed.cosines``: the same bits for any block); ties go to the
    earliest row. Blocked so memory is len(emb) x block."""
    n = len(emb)
    best = np.full(n, -np.inf, dtype=np.float32)
    arg = np.full(n, -1, dtype=np.int64)
    for a in range(0, n, block):
        b = min(n, a + block)
        if b == 1:
            continue
        sims = cosines(emb[:b], emb[a:b])  # (b, b - a): rows i, columns j in [a, b)
        i = np.arange(b)[:, None]
        j = np.arange(a, b)[None, :]
        sims[i >= j] = -np.inf
        arg[a:b] = np.argmax(sims, axis=0)
        best[a:b] = sims[arg[a:b], np.arange(b - a)]
    arg[best == -np.inf] = -1
    return best, arg


def is_duplicate(cos: np.ndarray, eps: float) -> np.ndarray:
    """The rule on stored ``semantic_cosine`` values (float32; nan: nobody before): removed
    iff cosine > 1 - eps, compared in float64, so re-tuning on the stored column decides as
    the stage did."""
    return np.nan_to_num(np.asarray(cos, np.float32).astype(np.float64), nan=-np.inf) > 1.0 - eps


def dedup_cluster(uids: list[str], emb: np.ndarray, centroid: np.ndarray, eps: float):
    """One cluster → (semantic_cosine per row (nan for the first), removed mask, the uid each
    removed row duplicates), all in the input row order. Every cosine is exact
    (``embed.cosines``), so the result depends on the cluster's rows, not their batches."""
    order = cluster_order(uids, cosines(emb, np.asarray(centroid)[None, :])[:, 0])
    best, arg = max_previous_cosine(np.asarray(emb)[order])
    n = len(uids)
    cos = np.full(n, np.nan, dtype=np.float32)
    partner = [None] * n
    cos[order] = np.where(best == -np.inf, np.nan, best)
    for pos, row in enumerate(order):
        if arg[pos] >= 0:
            partner[row] = uids[order[arg[pos]]]
    return cos, is_duplicate(cos, eps), partner


def dedup_reference(uids, emb, labels, centroids, eps) -> set[str]:
    """Brute force, loops, one cosine at a time (``embed.cosine_reference``): the removed
    uids (for tests)."""
    removed = set()
    for c in set(labels.tolist()):
        members = [i for i in range(len(uids)) if labels[i] == c]
        members.sort(key=lambda i: (cosine_reference(emb[i], centroids[c]), uids[i]))
        for pos, j in enumerate(members):
            if any(float(cosine_reference(emb[i], emb[j])) > 1.0 - eps for i in members[:pos]):
                removed.add(uids[j])
    return removed
