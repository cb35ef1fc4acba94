"""DedupByMinHash in a pipeline: clusters, kept rule, removed records, the sample's
injected near-duplicate texts."""

import pytest

from curate.config import DedupTextConfig
from curate.ops import minhash as ops
from curate.ops.components import union_find
from tests.transforms.text_stage_helpers import pairs, run_stages


def test_dedup_small_table(tmp_path, beam_args):
    texts = [
        "red sports car for sale",
        "Red sports car for sale!",  # same shingles
        "red sports car for sael",  # typo
        "a bowl of ramen noodles",
        "blue bicycle leaning on a wall",
        "?!",  # no words: never a candidate
        "?!",
    ]
    table = pairs(texts)
    uids = table["uid"].to_pylist()
    kept, removed, stats = run_stages(tmp_path, table, {"dedup_text": DedupTextConfig(rows_per_partition=2)}, beam_args)
    (s,) = stats["stages"]
    assert (s["in"], s["kept"], s["removed"]) == (7, 5, 2)
    keep = min(uids[:3])
    assert sorted(removed["uid"].to_pylist()) == sorted(set(uids[:3]) - {keep})
    assert set(removed["reason"].to_pylist()) == {"near_duplicate_text"}
    assert set(removed["detail"].to_pylist()) == {keep}
    cluster = dict(zip(kept["uid"].to_pylist(), kept["text_cluster"].to_pylist(), strict=True))
    assert cluster[keep] == keep
    assert all(cluster[u] == u for u in uids[3:])


@pytest.mark.slow
def test_dedup_sample_pool(tmp_path, beam_args):
    try:
        from curate.sample import build

        rows = build._assemble(2000, 0)
    except (FileNotFoundError, OSError):
        pytest.skip("sample sources not installed (scripts/setup.sh)")
    rows = [r for r in rows if r.text]
    table = pairs([r.text for r in rows])
    uids = table["uid"].to_pylist()
    c = DedupTextConfig()
    kept, removed, _ = run_stages(tmp_path, table, {"dedup_text": c}, beam_args)
    assert kept.num_rows + removed.num_rows == len(rows)
    cluster = dict(zip(kept["uid"].to_pylist(), kept["text_cluster"].to_pylist(), strict=True))
    cluster.update(zip(removed["uid"].to_pylist(), removed["detail"].to_pylist(), strict=True))
    # Same clusters as the pure functions give (verified LSH edges + union-find).
    from tests.unit.test_minhash import _lsh_edges

    edges, _ = _lsh_edges([r.text for r in rows], c)
    label = union_find((uids[i], uids[j]) for i, j in edges)
    assert all(cluster[u] == label.get(u, u) for u in uids)
    # The sample's injected near-duplicates land in their source's cluster.
    source = {}
    for i, r in enumerate(rows):
        if r.pair is not None and r.defect != "near_duplicate_text":
            source.setdefault(r.pair, i)
    near = [(i, source[r.pair]) for i, r in enumerate(rows) if r.defect == "near_duplicate_text" and r.pair in source]
    found = sum(cluster[uids[i]] == cluster[uids[j]] for i, j in near)
    sets = [frozenset(ops.shingles(r.text, c.ngram, c.unit)) for r in rows]
    above = sum(ops.jaccard(sets[i], sets[j]) >= c.threshold for i, j in near)
    print(f"injected near-duplicates: {len(near)}, found {found}, with J >= {c.threshold}: {above}")
    assert found >= above and found >= 0.85 * len(near)
