"""BalanceByEntry in a pipeline: kept size ~ sum of p, tail entries keep every pair, the
same output on rerun and on single- vs multi-process runners."""

import json

import numpy as np
import pytest

from curate.config import BalanceConfig
from curate.ops import balance as ops
from curate.runner import LOCAL_RUNNER
from tests.transforms.text_stage_helpers import pairs, run_stages

N, ENTRIES, T = 4000, 300, 40


def _pool():
    rng = np.random.default_rng(7)
    lists = []
    for _ in range(N):
        k = int(rng.integers(0, 4))
        lists.append(sorted({int(x) % ENTRIES for x in rng.zipf(1.3, size=k)}))
    return pairs([f"text {i}" for i in range(N)], lists), lists


def _counts(lists):
    c = np.zeros(ENTRIES, dtype=np.int64)
    for lst in lists:
        c[lst] += 1
    return c


@pytest.mark.long
def test_balance_given_t(tmp_path, beam_args):
    table, lists = _pool()
    kept, removed, stats = run_stages(tmp_path, table, {"balance": BalanceConfig(t=T)}, beam_args, seed=3)
    (s,) = stats["stages"]
    assert s["in"] == N == kept.num_rows + removed.num_rows
    counts = _counts(lists)
    ids, p_head = ops.head_probabilities(counts, T)
    p = ops.pair_probabilities(table["matched_entries"], ids, p_head)
    # Kept count within 4 standard deviations of the sum of p (independent draws).
    mean, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert abs(kept.num_rows - mean) <= 4 * sd, (kept.num_rows, mean, sd)
    # Every pair whose entries all have count <= t is kept; pairs without entries are not.
    kept_uids = set(kept["uid"].to_pylist())
    uids = table["uid"].to_pylist()
    for uid, lst in zip(uids, lists, strict=True):
        if lst and all(counts[e] <= T for e in lst):
            assert uid in kept_uids
        if not lst:
            assert uid not in kept_uids
    # Every entry with count <= t keeps all its pairs; heads are capped near t.
    after = _counts([lst for uid, lst in zip(uids, lists, strict=True) if uid in kept_uids])
    assert (after[counts <= T] == counts[counts <= T]).all()
    reasons = set(removed["reason"].to_pylist())
    assert reasons == {"balanced_out", "no_match"}
    assert kept["balance_p"].to_numpy().min() > 0
    summary = json.loads((tmp_path / "out" / "balance.json").read_text())
    assert summary["t"] == T and summary["matches_before"] == counts.sum()
    assert summary["matches_after"] == after.sum()
    assert summary["tail_share_before"] == pytest.approx(ops.tail_share(counts, T))


def test_balance_chooses_t_by_tail_share(tmp_path, beam_args):
    table, lists = _pool()
    run_stages(tmp_path, table, {"balance": BalanceConfig(tail_share=0.06)}, beam_args)
    summary = json.loads((tmp_path / "out" / "balance.json").read_text())
    assert summary["t"] == ops.p_to_t(_counts(lists), 0.06) and summary["t_rule"] == "tail_share"


@pytest.mark.long
def test_balance_target_size(tmp_path, beam_args):
    table, _ = _pool()
    kept, _, _ = run_stages(tmp_path, table, {"balance": BalanceConfig(target_size=1500)}, beam_args)
    assert abs(kept.num_rows - 1500) < 150


@pytest.mark.slow
@pytest.mark.long
def test_balance_identical_across_runs_and_runners(tmp_path, beam_args):
    table, _ = _pool()
    stages = {"balance": BalanceConfig(tail_share=0.06)}
    multi = [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    outs = [
        run_stages(tmp_path, table, stages, args, seed=5, name=name)
        for name, args in (("a", beam_args), ("b", beam_args), ("c", multi))
    ]
    files = [sorted((tmp_path / n / "kept").glob("*.parquet")) for n in "abc"]
    blobs = [[f.read_bytes() for f in fs] for fs in files]
    assert blobs[0] == blobs[1] == blobs[2]
    assert outs[0][0].equals(outs[2][0]) and outs[0][1].equals(outs[2][1])
