import numpy as np
import pytest

from curate.ops import semdedup as ops
from curate.ops.embed import cosine_reference


def _planted(n=300, d=24, dups=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    src = rng.choice(n, dups, replace=False)
    noise = rng.normal(size=(dups, d)).astype(np.float32) * rng.uniform(0.01, 0.4, (dups, 1)).astype(np.float32)
    x = np.concatenate([x, x[src] + noise])
    uids = [f"{i:032x}" for i in rng.permutation(len(x))]
    return uids, ops.normalise(x)


@pytest.mark.parametrize("seed", [0, 1])
def test_assign_is_the_nearest_centroid_whatever_the_batch(seed):
    rng = np.random.default_rng(seed)
    base = ops.normalise(rng.normal(size=(20, 64)))
    queries = ops.normalise(rng.normal(size=(300, 64))).astype(np.float16)
    labels, cos = ops.assign(queries, base)
    np.testing.assert_array_equal(labels, (queries.astype(np.float32) @ base.T).argmax(1))
    for size in (1, 3, 7, 64):  # the same bits in any batch
        parts = [ops.assign(queries[a : a + size], base) for a in range(0, 300, size)]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), labels)
        assert np.concatenate([p[1] for p in parts]).tobytes() == cos.tobytes()


@pytest.mark.parametrize("block", [1, 3, 64, 4096])
def test_max_previous_cosine_equals_loops(block):
    _, x = _planted(40, 8, 10)
    best, arg = ops.max_previous_cosine(x, block=block)
    assert arg[0] == -1 and best[0] == -np.inf
    for j in range(1, len(x)):
        sims = [cosine_reference(x[i], x[j]) for i in range(j)]
        assert best[j] == max(sims) and arg[j] == sims.index(max(sims))  # exact, first of ties


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
@pytest.mark.parametrize("k", [1, 4])
def test_semdedup_equals_brute_force_reference(eps, k):
    uids, x = _planted()
    centroids = ops.train_kmeans(x, k, 10, seed=0)
    labels, _ = ops.assign(x, centroids)
    removed = set()
    for c in range(len(centroids)):
        idx = np.nonzero(labels == c)[0]
        if len(idx) == 0:
            continue
        _, mask, partner = ops.dedup_cluster([uids[i] for i in idx], x[idx], centroids[c], eps)
        removed |= {uids[i] for i, m in zip(idx, mask, strict=True) if m}
        assert all(p is not None for p, m in zip(partner, mask, strict=True) if m)
    expected = ops.dedup_reference(uids, x, labels, centroids, eps)
    assert removed == expected
    assert 0 < len(expected) < 40 + 1


def test_farthest_from_centroid_is_kept():
    centroid = np.array([1.0, 0.0, 0.0], np.float32)
    x = ops.normalise(np.array([[1, 0.30, 0], [1, 0.31, 0], [1, 0.0, 0.01]], np.float32))
    cos, removed, partner = ops.dedup_cluster(["a", "b", "c"], x, centroid, eps=0.01)
    assert removed.tolist() == [True, False, False]  # b is farther from the centroid than a
    assert partner[0] == "b" and np.isnan(cos[1])


def test_bottom_k_is_order_free():
    rng = np.random.default_rng(0)
    keys = ops.sample_keys([f"u{i}" for i in range(1000)], seed=3)
    emb = rng.normal(size=(1000, 4))
    whole = ops.bottom_k(keys, emb, 50)
    parts = [ops.bottom_k(keys[i::7], emb[i::7], 50) for i in range(7)]
    merged = ops.bottom_k(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), 50)
    np.testing.assert_array_equal(whole[0], merged[0])
    np.testing.assert_array_equal(whole[1], merged[1])
    assert not np.array_equal(keys[:5], ops.sample_keys([f"u{i}" for i in range(5)], seed=4))


@pytest.mark.parametrize(
    "pool, sample, requested, size, expected",
    [(500, 500, 0, 1000, 1), (2_000, 2_000, 0, 1000, 2), (1_000_000, 100_000, 0, 1000, 1000),
     (1_000_000, 10_000, 0, 1000, 256), (100, 100, 10, 1000, 10), (5, 5, 10, 1000, 5)],
)
def test_num_clusters(pool, sample, requested, size, expected):
    assert ops.num_clusters(pool, sample, requested, size) == expected
