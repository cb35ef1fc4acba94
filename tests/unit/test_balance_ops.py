"""Balancing ops: probabilities, the choice of t, the hash draw."""

import numpy as np
import pyarrow as pa
import pytest

from curate.ops import balance as ops


def test_pair_probabilities_match_the_formula():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 500, size=50)
    t = 100
    ids, p = ops.head_probabilities(counts, t)
    assert (counts[ids] > t).all() and len(ids) == (counts > t).sum()
    lists = [sorted(set(rng.integers(0, 50, size=rng.integers(0, 5)).tolist())) for _ in range(200)]
    got = ops.pair_probabilities(pa.array(lists, pa.list_(pa.int32())), ids, p)
    for lst, g in zip(lists, got, strict=True):
        pe = [min(1.0, t / counts[e]) for e in lst]
        assert g == pytest.approx(1 - np.prod([1 - x for x in pe]) if lst else 0.0)


@pytest.mark.parametrize(
    "counts, share, t",
    [
        ([1, 1, 1, 1, 96], 0.04, 1),  # cumulative shares .01 .02 .03 .04 1.0
        ([10, 20, 30, 40], 0.3, 20),  # .1 .3 .6 1.0
        ([5, 5, 90], 0.06, 5),
    ],
)
def test_p_to_t_is_metaclips_rule(counts, share, t):
    assert ops.p_to_t(np.array(counts), share) == t


def test_tail_share():
    assert ops.tail_share(np.array([10, 20, 30, 40]), 30) == pytest.approx(0.3)


def test_uniform_is_stable_and_uniform():
    uids = [f"{i:032x}" for i in range(20000)]
    u = ops.uniform(uids, "balance", 0)
    assert np.array_equal(u, ops.uniform(uids, "balance", 0))
    assert not np.array_equal(u, ops.uniform(uids, "balance", 1))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_t_for_target_reaches_the_size():
    rng = np.random.default_rng(1)
    lists = [[int(x)] for x in rng.zipf(1.5, size=5000) % 300]
    counts = ops.count_entries(pa.array(lists, pa.list_(pa.int32())))
    t = ops.t_for_target(lists, counts, len(lists), 1000)
    frac = ops.expected_kept_fraction(lists, counts, t)
    assert frac * len(lists) >= 1000 > ops.expected_kept_fraction(lists, counts, t - 1) * len(lists)
