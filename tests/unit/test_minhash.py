"""MinHash: identical to datasketch; LSH + exact verification against exact Jaccard."""

import itertools
import random

import numpy as np
import pytest
from datasketch import MinHash

from curate.config import DedupTextConfig
from curate.ops import minhash as ops
from curate.ops.components import union_find


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (64, 7), (16, 0)])
@pytest.mark.parametrize("unit, ngram", [("char", 3), ("word", 1), ("word", 2)])
def test_signatures_identical_to_datasketch_affine32(num_perm, seed, unit, ngram):
    rng = random.Random(seed)
    words = ["red", "car", "Sale!", "über", "東京", "x", "photo", "of", "the", "a"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    shingle_lists = [ops.shingles(t, ngram, unit) for t in texts]
    sig = ops.signatures(shingle_lists, num_perm, seed)
    for sh, row in zip(shingle_lists, sig, strict=True):
        m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        for s in sh:
            m.update(s.encode("utf-8"))
        np.testing.assert_array_equal(m.hashvalues, row)


@pytest.mark.parametrize(
    "text, unit, ngram, expected",
    [
        ("Red car, RED car!", "word", 1, ["red", "car"]),
        ("a b c", "word", 2, ["a b", "b c"]),
        ("ab", "word", 3, ["ab"]),
        ("Hi  there", "char", 3, ["hi ", "i t", " th", "the", "her", "ere"]),
        ("ok", "char", 3, ["ok"]),
        ("?!", "char", 3, []),
        (None, "word", 1, []),
    ],
)
def test_shingles(text, unit, ngram, expected):
    assert ops.shingles(text, ngram, unit) == expected


def _lsh_edges(texts, c: DedupTextConfig):
    uids = [f"{i:06d}" for i in range(len(texts))]
    sh = [ops.shingles(t, c.ngram, c.unit) for t in texts]
    has = [i for i, s in enumerate(sh) if s]
    keys = ops.band_keys(ops.signatures([sh[i] for i in has], c.num_perm, c.minhash_seed), c.bands, c.rows)
    buckets = {}
    for row, i in enumerate(has):
        for k in keys[row]:
            buckets.setdefault(int(k), []).append(i)
    edges = set()
    for members in buckets.values():
        members = sorted(set(members))
        if len(members) > 1:
            edges.update(
                ops.bucket_edges([uids[i] for i in members], [frozenset(sh[i]) for i in members], c.threshold, c.max_compare)
            )
    return {(int(a), int(b)) for a, b in edges}, sh


def _sample_texts():
    try:
        from curate.sample import build

        return [r.text for r in build._assemble(2000, 0) if r.text]
    except (FileNotFoundError, OSError):
        pytest.skip("sample sources not installed (scripts/setup.sh)")


def test_lsh_pairs_against_exact_jaccard_over_all_pairs():
    c = DedupTextConfig()
    texts = _sample_texts()
    found, sh = _lsh_edges(texts, c)
    sets = [frozenset(s) for s in sh]
    truth = {
        (i, j)
        for i, j in itertools.combinations(range(len(texts)), 2)
        if sets[i] and sets[j] and ops.jaccard(sets[i], sets[j]) >= c.threshold
    }
    # Edges inside a bucket are stars (identical texts link to one representative), so a
    # true pair counts as found when the found edges put both texts in one component.
    found_label = union_find(found)
    true_label = union_find(truth)

    def same(label, i, j):
        return label.get(i, i) == label.get(j, j)

    recall = sum(same(found_label, i, j) for i, j in truth) / len(truth)
    edge_precision = len(found & truth) / len(found)
    members = {}
    for node, root in found_label.items():
        members.setdefault(root, []).append(node)
    clustered = [p for m in members.values() for p in itertools.combinations(sorted(m), 2)]
    cluster_precision = sum(same(true_label, i, j) for i, j in clustered) / len(clustered)
    print(
        f"texts {len(texts)}, pairs with J >= {c.threshold}: {len(truth)}, edges {len(found)}; "
        f"recall {recall:.4f}, edge precision {edge_precision:.4f}, "
        f"co-clustered pair precision (vs components of exact pairs) {cluster_precision:.4f}"
    )
    assert len(truth) > 50
    assert recall >= 0.95 and edge_precision >= 0.9 and cluster_precision >= 0.9


@pytest.mark.parametrize("j, bands, rows, low, high", [(0.7, 25, 5, 0.98, 1.0), (0.2, 25, 5, 0.0, 0.01)])
def test_collision_probability_of_defaults(j, bands, rows, low, high):
    assert low <= ops.collision_probability(j, bands, rows) <= high
