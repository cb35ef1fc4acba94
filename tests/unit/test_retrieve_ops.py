import numpy as np
import pyarrow as pa
import pytest

from curate import config as cfg
from curate import schema
from curate.ops import embed as embed_ops
from curate.ops import retrieve as ops


def _vectors(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return ops.normalise(rng.normal(size=(n, d)))


def _lists_over_batches(seeds, emb, uids, k, batch, order):
    parts = []
    for a in range(0, len(uids), batch):
        idx = order[a : a + batch]
        parts.append(ops.score_batch(seeds, emb[idx], [uids[i] for i in idx], k)[0])
    return ops.merge(parts, k)


def test_neighbour_lists_equal_brute_force_for_any_batching():
    emb, seed_emb = _vectors(300, seed=1), _vectors(12, seed=2)
    uids = [f"u{i:03d}" for i in range(300)]
    seeds = ops.Seeds([f"s{i}" for i in range(12)], seed_emb)
    expected = ops.retrieve_reference(seed_emb, emb, uids, 4)
    rng = np.random.default_rng(3)
    for batch in (300, 64, 7):
        lists = _lists_over_batches(seeds, emb, uids, 4, batch, rng.permutation(300))
        assert set(ops.best_ranks(lists)) == expected
        # each seed's list is its 4 nearest, best first
        for s in range(12):
            sims = emb @ seed_emb[s]
            assert list(lists.uids[s]) == [uids[j] for j in np.argsort(-sims)[:4]]
    assert 12 < len(expected) <= 48


def test_ties_are_broken_by_uid_not_batch_order():
    seed_emb = np.array([[1.0, 0.0]], np.float32)
    emb = np.array([[0.6, 0.8]] * 5 + [[0.0, 1.0]], np.float32)  # five equal cosines
    uids = ["e", "c", "a", "d", "b", "z"]
    seeds = ops.Seeds(["s"], seed_emb)
    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 5, 0, 4, 1, 3]):
        for batch in (1, 2, 6):
            lists = _lists_over_batches(seeds, emb, uids, 2, batch, order)
            assert list(lists.uids[0]) == ["a", "b"]
    assert ops.retrieve_reference(seed_emb, emb, uids, 2) == {"a", "b"}


def test_fewer_rows_than_k_pad_and_ranks_are_best_over_seeds():
    seeds = ops.Seeds(["s0", "s1"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    lists = ops.score_batch(seeds, np.array([[1.0, 0.1], [0.2, 1.0]]), ["x", "y"], 3)[0]
    assert list(lists.uids[0]) == ["x", "y", ""] and np.isneginf(lists.scores[0, 2])
    assert ops.best_ranks(lists) == {"x": 1, "y": 1}
    merged = ops.merge([lists, ops.NeighbourLists.empty(2, 3)], 3)
    assert list(merged.uids[1]) == ["y", "x", ""]


def _table(emb, uids):
    return pa.table({"uid": uids}).append_column(
        schema.PAIR_COLUMNS["embedding"], embed_ops.embedding_array(emb.astype(np.float16))
    )


def test_retrieve_batch_keeps_ranked_rows_and_says_why_others_go():
    emb, seed_emb = _vectors(50, seed=4), _vectors(3, seed=5)
    uids = [f"u{i:02d}" for i in range(50)]
    seeds = ops.Seeds(["cat.png", "dog.png", "owl.png"], seed_emb)
    lists, nearest, cos = ops.score_batch(seeds, emb, uids, 2)
    ranks = ops.best_ranks(lists)
    kept, removed = ops.retrieve_batch(_table(emb, uids), nearest, cos, seeds.names, ranks, 2, -1.0)
    assert set(kept["uid"].to_pylist()) == ops.retrieve_reference(seed_emb, emb, uids, 2)
    assert kept.num_rows + removed.num_rows == 50
    assert set(removed["reason"].to_pylist()) == {"not_retrieved"}
    assert all("nearest seed" in d and "not among any seed's 2 nearest" in d for d in removed["detail"].to_pylist())
    assert sorted(kept["seed_rank"].to_pylist()) == sorted(ranks[u] for u in kept["uid"].to_pylist())
    # score, then decide: k=1 on the stored ranks = a fresh run with k=1
    k1 = {u for u, r in zip(kept["uid"].to_pylist(), kept["seed_rank"].to_pylist(), strict=True) if r <= 1}
    assert k1 == ops.retrieve_reference(seed_emb, emb, uids, 1)
    # a cosine floor removes retrieved rows too, with their rank in the detail
    floor = float(np.sort(kept["seed_cosine"].to_numpy())[2])
    kept2, removed2 = ops.retrieve_batch(_table(emb, uids), nearest, cos, seeds.names, ranks, 2, floor)
    assert kept2.num_rows == kept.num_rows - 2
    assert sum(d.startswith("rank ") for d in removed2["detail"].to_pylist()) == 2


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="retrieve.seed_images"):
        cfg.RetrieveConfig()
    with pytest.raises(ValueError, match="retrieve.neighbours"):
        cfg.RetrieveConfig(seed_images="x", neighbours=0)
    with pytest.raises(ValueError, match="retrieve.min_cosine"):
        cfg.RetrieveConfig(seed_images="x", min_cosine=1.5)


def test_nearest_seed_across_seed_chunks_equals_one_product(monkeypatch):
    emb, seed_emb = _vectors(40, seed=6), _vectors(10, seed=7)
    seeds = ops.Seeds([f"s{i}" for i in range(10)], seed_emb)
    uids = [f"u{i}" for i in range(40)]
    whole = ops.score_batch(seeds, emb, uids, 3)
    monkeypatch.setattr(ops, "SEED_CHUNK", 3)  # four chunks: 3 + 3 + 3 + 1 seeds
    lists, nearest, cos = ops.score_batch(seeds, emb, uids, 3)
    sims = embed_ops.cosines(emb, seed_emb)
    assert list(nearest) == list(sims.argmax(axis=1)) == list(whole[1])
    assert cos.tobytes() == sims.max(axis=1).tobytes() == whole[2].tobytes()
    np.testing.assert_allclose(cos, (emb @ seed_emb.T).max(axis=1), atol=2e-3)  # float16 rows
    assert (lists.uids == whole[0].uids).all()
