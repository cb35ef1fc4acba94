"""Global steps are parallelism-safe: four local worker processes give the byte-identical
output and the same funnel counts as one in-process worker (counts, shard counts and any
global fact come from combiners and side inputs, never from one worker's view).

The same check on Flink with parallelism 4 is tests/integration/test_flink.py."""

from __future__ import annotations

import json

import pytest

from curate import pipeline
from curate.runner import LOCAL_RUNNER
from tests.integration.conftest import assert_same_output, whole_pipeline_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_four_worker_processes_equal_one_worker(tmp_path, local_pool, beam_args):
    four = [
        f"--runner={LOCAL_RUNNER}",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=4",
    ]
    # 20 rows a shard and 64-row read batches: many bundles, every worker gets some.
    small = {"ingest": {"batch_rows": 64}, "filter": {"batch_rows": 64}}
    many = whole_pipeline_config(local_pool, str(tmp_path / "four"), rows_per_shard=20, **small)
    one = whole_pipeline_config(local_pool, str(tmp_path / "one"), rows_per_shard=20, **small)
    stats = pipeline.run(many, four)
    assert stats == pipeline.run(one, beam_args)
    assert (stats["input"], stats["kept"]) == (634, 233)
    assert_same_output(tmp_path / "four", tmp_path / "one")  # incl. balance's chosen t
    assert len(list((tmp_path / "four" / "kept").iterdir())) == 12  # ceil(233 / 20)
    balance = json.loads((tmp_path / "four" / "balance.json").read_text())
    assert balance["t"] >= 1
