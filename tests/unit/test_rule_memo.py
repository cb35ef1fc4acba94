"""dedup_text's per-process memo of the content-word rule's verdicts: texts are numbered by
their forms' bytes (equal numbers exactly for equal forms, whatever the hashes), a verdict is
given back only for the pair it was stored for, and verification with a memo (small enough
to be emptied, hashes cut to a few bits) finds the same edges as without, partition after
partition."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from curate.ops import rule_memo, textdup
from tests.unit.test_textdup import _sample_or_generated


def _ranges(forms: list[str]):
    return textdup.utf8_ranges(pa.array(forms, pa.string()))


@pytest.mark.parametrize("hash_bits", [64, 2, 0])
def test_numbers_are_equal_exactly_for_equal_forms(hash_bits):
    rng = random.Random(hash_bits)
    words = ["cat", "cats", "red", "a", "café", "", "mat", "ma", "t"]
    forms = [" ".join(rng.choices(words, k=rng.randint(0, 3))) for _ in range(3000)]
    memo = rule_memo.RuleMemo(hash_bits=hash_bits)
    ids = np.concatenate([memo.number(*_ranges(forms[k : k + 500])) for k in range(0, len(forms), 500)])
    first: dict[str, int] = {}
    for f, i in zip(forms, ids.tolist(), strict=True):
        assert first.setdefault(f, i) == i  # the same form, the same number
    assert len(set(first.values())) == len(first)  # different forms, different numbers
    assert memo.table.shape[0] >= 2 * len(first) and int(memo.used[0]) == len(first)


def test_the_tables_grow_and_keep_what_they_hold():
    memo = rule_memo.RuleMemo()
    forms = [f"form {k}" for k in range(5 * rule_memo.SMALLEST)]
    ids = memo.number(*_ranges(forms[:100]))
    memo.number(*_ranges(forms))  # grows the text table past its first size
    assert memo.table.shape[0] >= 10 * rule_memo.SMALLEST
    assert memo.number(*_ranges(forms[:100])).tolist() == ids.tolist()
    data, starts, ends = _ranges(forms)
    n = len(forms)
    i = np.arange(n - 1, dtype=np.int64)
    j = i + 1
    calls = []

    def rule(a, b):
        calls.append(a.size)
        return (a % 3 == 0).astype(np.int64)

    first = memo.verdicts(data, starts, ends, i, j, rule)
    assert memo.pair_keys.size >= 2 * (n - 1)  # grown past its first size
    assert memo.verdicts(data, starts, ends, i, j, rule).tolist() == first.tolist() == (i % 3 == 0).tolist()
    assert calls == [n - 1]  # the second call was answered from the memo


def test_a_verdict_is_given_back_for_its_own_ordered_pair_only():
    forms = ["red fox", "grey fox", "red fox", "fox"]
    data, starts, ends = _ranges(forms)
    memo = rule_memo.RuleMemo(hash_bits=1)

    def rule(a, b):  # not symmetric, and different for each pair of distinct forms
        return np.array([int(forms[x] < forms[y]) for x, y in zip(a.tolist(), b.tolist(), strict=True)], np.int64)

    i, j = np.array([0, 1, 0, 3]), np.array([1, 0, 3, 0])
    assert memo.verdicts(data, starts, ends, i, j, rule).tolist() == [0, 1, 0, 1]
    # text 2 has text 0's form: its pairs are answered from the memo, with the right order
    assert memo.verdicts(data, starts, ends, np.array([2, 1, 3]), np.array([1, 2, 2]), lambda a, b: 1 / 0).tolist() == [0, 1, 1]


def test_a_full_memo_is_emptied_and_one_too_small_is_bypassed():
    forms = [f"caption number {k}" for k in range(40)]
    data, starts, ends = _ranges(forms)
    memo = rule_memo.RuleMemo(texts=16, form_bytes=10_000)
    assert memo.number(data, starts[:10], ends[:10]) is not None and memo.emptied == 0
    ids = memo.number(data, starts[10:20], ends[10:20])  # does not fit beside the first ten
    assert memo.emptied == 1 and ids.tolist() == list(range(10))
    assert memo.number(data, starts, ends) is None and int(memo.used[0]) == 0  # 40 never fit
    i, j = np.arange(0, 40, 2), np.arange(1, 40, 2)
    got = memo.verdicts(data, starts, ends, i, j, lambda a, b: (a + b) % 2)
    assert got.tolist() == [1] * 20  # the rule's answers, nothing stored
    memo = rule_memo.RuleMemo(verdicts=8)
    memo.verdicts(data, starts, ends, i[:6], j[:6], lambda a, b: np.ones(a.size, np.int64))
    memo.verdicts(data, starts, ends, i[6:12], j[6:12], lambda a, b: np.ones(a.size, np.int64))
    assert int(memo.pairs_used[0]) == 6  # the first six were forgotten to make room
    with pytest.raises(ValueError, match="2\\*\\*32"):
        rule_memo.RuleMemo(texts=1 << 32)  # entry numbers would not fit a verdict's key


@pytest.mark.parametrize("memo_args", [{}, {"texts": 300, "form_bytes": 20_000, "verdicts": 200, "hash_bits": 3}])
def test_verification_with_a_memo_finds_the_same_edges(memo_args):
    """Partitions of texts sharing frequent trigrams (with twins that differ in case,
    punctuation, a typo, an added word or a suffix), verified one after another as a worker
    does: the same edges as without a memo, the rule asked far less often; with a small memo
    it is emptied again and again and still agrees."""
    rng = random.Random(7)
    base = _sample_or_generated(1500)
    variants = []
    for t in base[:400]:
        words = t.split()
        k = rng.randrange(len(words))
        variants += [t.upper(), t + "!", t + " | Shutterstock", " ".join(words[:k] + ["big"] + words[k:]),
                     " ".join(w[:-1] + w[-1] * 2 if n == k else w for n, w in enumerate(words))]
    texts = sorted(set(base + variants))
    forms = [textdup.tokenized(t) for t in texts]
    keys = [textdup.key_shingles(t, 3, "char") for t in texts]
    grams: dict = {}
    for i, k in enumerate(keys):
        for g in sorted(set().union(*k))[:6]:
            grams.setdefault(g, []).append(i)
    buckets = [b for b in grams.values() if len(b) > 1]
    memo = rule_memo.RuleMemo(**memo_args)
    asked = []
    verdicts = textdup.verdicts

    def counted(f, i, j):
        asked.append(i.size)
        return verdicts(f, i, j)

    edges_total = 0
    for part in range(12):  # each partition: a random half of the buckets, texts renumbered
        chosen = [b for b in buckets if rng.random() < 0.5]
        members = sorted({m for b in chosen for m in b})
        local = {m: n for n, m in enumerate(members)}
        part_buckets = [[local[m] for m in b] for b in chosen]
        part_forms = pa.array([forms[m] for m in members], pa.string())
        want = textdup.partition_edges(part_buckets, part_forms, 0.4, 3, "char", 64)
        textdup.verdicts = counted
        try:
            got = textdup.partition_edges(part_buckets, part_forms, 0.4, 3, "char", 64, memo=memo)
        finally:
            textdup.verdicts = verdicts
        assert got == want, part
        edges_total += len(want)
    counts: dict = {}
    textdup.partition_edges(buckets, pa.array(forms, pa.string()), 0.4, 3, "char", 64, counts)
    assert edges_total > 200 and counts["above_threshold"] > 1000
    if memo_args:
        assert memo.emptied > 3
    else:
        assert memo.emptied == 0 and sum(asked) < counts["above_threshold"] * 6 / 2  # far fewer than the 12 x ~half asked
