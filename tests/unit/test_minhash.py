"""MinHash: identical to datasketch; LSH + verification against the rule over all pairs."""

import itertools
import random

import numpy as np
import pytest
from datasketch import MinHash

from curate.config import DedupTextConfig
from curate.ops import minhash as ops
from curate.ops import textdup
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


def test_signatures_identical_to_datasketch_on_real_captions(monkeypatch):
    """The stage's own input (the LSH keys of ~3,000 real captions of the sample pool, default
    shingles and parameters) against datasketch's MinHash.bulk, in chunks of 7 texts so that
    chunk boundaries, empty shingle lists and shingles seen in earlier chunks all occur."""
    c = DedupTextConfig()
    texts = _sample_texts() + ["", "?!", None, "東京 über Sale!"]
    shingle_lists = [ops.shingles(k, c.ngram, c.unit) for t in texts for k in textdup.lsh_keys(t)]
    shingle_lists += [[], [], ["x"]]
    assert len(shingle_lists) > 2000 and [] in shingle_lists
    want = np.stack(
        [m.hashvalues for m in MinHash.bulk(
            [[s.encode("utf-8") for s in sh] for sh in shingle_lists],
            num_perm=c.num_perm, seed=c.minhash_seed,
        )]
    )
    np.testing.assert_array_equal(ops.signatures(shingle_lists, c.num_perm, c.minhash_seed), want)
    monkeypatch.setattr(ops, "CHUNK", 7)
    np.testing.assert_array_equal(ops.signatures(shingle_lists, c.num_perm, c.minhash_seed), want)
    assert ops.signatures([[], []], c.num_perm, c.minhash_seed).tolist() == [[ops.EMPTY] * c.num_perm] * 2
    assert ops.signatures([], c.num_perm, c.minhash_seed).shape == (0, c.num_perm)


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
    """Verified edges (i, j) between text indices, as the stage finds them."""
    return textdup.lsh_edges(texts, c)


def _sample_texts():
    try:
        from curate.sample import build

        return [r.text for r in build._assemble(2000, 0) if r.text]
    except (FileNotFoundError, OSError):
        pytest.skip("sample sources not installed (scripts/setup.sh)")


def test_lsh_clusters_against_the_rule_over_all_pairs():
    """The stage's LSH candidates + verification find the clusters that the same rule,
    applied to every pair of texts (the slow reference), gives."""
    c = DedupTextConfig()
    texts = _sample_texts()
    found = _lsh_edges(texts, c)
    keys = [textdup.key_shingles(t, c.ngram, c.unit) for t in texts]
    truth = {
        (i, j)
        for i, j in itertools.combinations(range(len(texts)), 2)
        if keys[i] and keys[j]
        and textdup.key_jaccard(keys[i], keys[j]) >= c.threshold
        and textdup.near_duplicate(texts[i], texts[j])
    }
    assert found <= truth  # every edge is verified by the rule itself
    found_label = union_find(found)

    def same(label, i, j):
        return label.get(i, i) == label.get(j, j)

    recall = sum(same(found_label, i, j) for i, j in truth) / len(truth)
    print(f"texts {len(texts)}, rule pairs {len(truth)}, edges {len(found)}, recall {recall:.4f}")
    assert len(truth) > 50 and recall >= 0.97


@pytest.mark.parametrize("j, bands, rows, low, high", [(0.7, 25, 5, 0.98, 1.0), (0.2, 25, 5, 0.0, 0.01), (0.4, 42, 3, 0.93, 0.95), (0.1, 42, 3, 0.0, 0.05)])
def test_collision_probability_of_defaults(j, bands, rows, low, high):
    assert low <= ops.collision_probability(j, bands, rows) <= high
