"""Retrieval from a curated seed set (stage ``retrieve``), as DINOv2 built LVD-142M.

DINOv2's "sample-based" retrieval: for every image of a curated seed set (for a task, its
training images), the ``k`` nearest pool images by cosine of their embeddings are kept
(k = 4 for their largest seed sets); a pool image nobody retrieves is removed. DataComp's
"image-based filtering" baseline does the same with ImageNet's training set as seeds
(nearest k-means cluster instead of nearest neighbours). Both target the data a model will
be evaluated on: a seed set is a choice of tasks, and what it leaves out is lost.

Score, then decide: each pool pair gets ``seed_cosine`` (cosine to its nearest seed) and
``seed_rank`` (the best rank it has in any seed's neighbour list, 1 = some seed's nearest
pool image; null when no seed ranks it within ``k``). Kept iff seed_rank <= k (and
seed_cosine >= min_cosine when one is set). A smaller k can be applied to stored ranks
without recomputing. Reason ``not_retrieved``, the detail names the nearest seed.

The neighbour lists are a global fact: each batch yields every seed's best ``k`` among its
rows (from the same seed x row cosines that give each row its nearest seed), and those merge
(a combiner) into the pool-wide best ``k``. Cosines are exact float32 values
(``curate.ops.embed.cosines``) and ties are broken by uid, so the lists, ranks and the
min_cosine check do not depend on how rows fall into batches or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate import schema
from curate.ops.embed import cosine_reference, cosines
from curate.ops.semdedup import normalise  # noqa: F401  (re-exported for callers)

STAGE = "retrieve"
SEED_CHUNK = 1024  # seeds per matrix product: bounds memory to chunk x batch floats


@dataclass
class Seeds:
    names: list[str]
    embeddings: np.ndarray  # (n, d) unit, float16 like the pool's embeddings


@dataclass
class NeighbourLists:
    """Per seed, its best k pool rows so far: scores (S, k) descending (-inf pads) and the
    uids ('' pads), ties in uid order."""

    scores: np.ndarray
    uids: np.ndarray  # object array of str

    @classmethod
    def empty(cls, num_seeds: int, k: int) -> NeighbourLists:
        return cls(np.full((num_seeds, k), -np.inf, np.float32), np.full((num_seeds, k), "", object))


def _best_k(scores: np.ndarray, uids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise: the k best of (scores, uids) columns, by score descending then uid; `uids`
    has the shape of `scores`. Vectorised; rows where the k-th score is tied with a column
    outside the top k take a per-row path, so the uid decides there too."""
    s, n = scores.shape
    out_s = np.full((s, k), -np.inf, np.float32)
    out_u = np.full((s, k), "", object)
    if n == 0 or s == 0:
        return out_s, out_u
    m = min(k, n)
    if n > m:
        part = np.argpartition(-scores, m - 1, axis=1)[:, :m]
        kth = np.take_along_axis(scores, part, 1).min(axis=1)
        tied = (scores >= kth[:, None]).sum(axis=1) > m
    else:
        part = np.broadcast_to(np.arange(n), (s, n))
        tied = np.zeros(s, bool)
    cand_s = np.take_along_axis(scores, part, 1)
    cand_u = np.take_along_axis(uids, part, 1)
    _, rank = np.unique(cand_u, return_inverse=True)
    order = np.lexsort((rank.reshape(cand_u.shape), -cand_s), axis=1)
    out_s[:, :m] = np.take_along_axis(cand_s, order, 1)
    out_u[:, :m] = np.take_along_axis(cand_u, order, 1)
    for i in np.nonzero(tied)[0]:
        cand = np.nonzero(scores[i] >= kth[i])[0]
        best = sorted(cand, key=lambda j: (-scores[i, j], uids[i, j]))[:m]
        out_s[i, :m], out_u[i, :m] = scores[i, best], uids[i, best]
    out_u[~np.isfinite(out_s)] = ""  # pads stay pads
    return out_s, out_u


def score_batch(seeds: Seeds, emb: np.ndarray, uids: list[str], k: int):
    """One pass over seed x row cosines for a batch: every seed's best k among its rows
    (NeighbourLists), and per row its nearest seed and that cosine. The cosines are exact
    (``embed.cosines``): a row's scores do not depend on the batch it came in."""
    n = len(uids)
    uid_arr = np.array(uids, dtype=object)
    lists = NeighbourLists.empty(len(seeds.names), k)
    nearest = np.zeros(n, np.int64)
    cos = np.full(n, -np.inf, np.float32)
    for a in range(0, len(seeds.names), SEED_CHUNK):
        sims = cosines(seeds.embeddings[a : a + SEED_CHUNK], emb)
        best = _best_k(sims, np.broadcast_to(uid_arr, sims.shape), k)
        lists.scores[a : a + SEED_CHUNK], lists.uids[a : a + SEED_CHUNK] = best
        j = sims.argmax(axis=0)
        c = sims[j, np.arange(n)]
        closer = c > cos  # strict: on a tie the earlier seed stays, as argmax over all would
        nearest[closer], cos[closer] = a + j[closer], c[closer]
    return lists, nearest, cos


def merge(parts: list[NeighbourLists], k: int) -> NeighbourLists:
    """Merge per-batch lists into the lists over all their rows (order-free)."""
    scores = np.concatenate([p.scores for p in parts], axis=1)
    uids = np.concatenate([p.uids for p in parts], axis=1)
    # pads are -inf, never chosen over a real row; _best_k drops them
    return NeighbourLists(*_best_k(scores, uids, k))


def best_ranks(lists: NeighbourLists) -> dict[str, int]:
    """uid → its best (smallest, 1-based) rank in any seed's list."""
    ranks: dict[str, int] = {}
    for col in range(lists.uids.shape[1]):
        for uid in lists.uids[:, col]:
            if uid and uid not in ranks:
                ranks[uid] = col + 1
    return ranks


def retrieve_batch(
    table: pa.Table, nearest: np.ndarray, cos: np.ndarray, seed_names: list[str], ranks: dict[str, int],
    k: int, min_cosine: float,
):
    """(kept rows with seed_cosine and seed_rank, removed records with reason not_retrieved);
    `nearest` and `cos` are score_batch's for this table."""
    rank = np.array([ranks.get(u, 0) for u in table["uid"].to_pylist()], dtype=np.int64)
    keep = (rank >= 1) & (rank <= k) & (np.asarray(cos, np.float32).astype(np.float64) >= min_cosine)
    table = schema.with_column(table, "seed_cosine", pa.array(cos, pa.float32()))
    table = schema.with_column(table, "seed_rank", pa.array(rank, pa.int32(), mask=rank == 0))
    idx = np.nonzero(~keep)[0]
    details = []
    for i in idx:
        why = f"rank {rank[i]}" if rank[i] else f"not among any seed's {k} nearest"
        details.append(f"{why}; nearest seed {seed_names[nearest[i]]} at cosine {cos[i]:.4f}")
    removed = schema.removed(table.take(pa.array(idx, pa.int64())), STAGE, "not_retrieved", details)
    return table.filter(pa.array(keep)), removed


def retrieve_reference(seed_emb: np.ndarray, emb: np.ndarray, uids: list[str], k: int) -> set[str]:
    """Slow, obvious rule for tests: for each seed sort the whole pool by (-cosine, uid) and
    take the first k; the union is kept. Cosines one at a time (``embed.cosine_reference``)."""
    kept = set()
    for s in seed_emb:
        sims = [cosine_reference(s, e) for e in emb]
        order = sorted(range(len(uids)), key=lambda j: (-sims[j], uids[j]))
        kept.update(uids[j] for j in order[:k])
    return kept
