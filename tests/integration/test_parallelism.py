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

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.long]


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
    assert (stats["input"], stats["kept"]) == (634, 589)  # lid176: 4 removed for language, 10 balanced out
    assert_same_output(tmp_path / "four", tmp_path / "one")  # incl. balance's chosen t
    assert len(list((tmp_path / "four" / "kept").iterdir())) == 30  # ceil(589 / 20)
    balance = json.loads((tmp_path / "four" / "balance.json").read_text())
    assert balance["t"] >= 1


def test_retrieve_four_workers_equal_one_worker_and_the_reference(tmp_path, beam_args):
    """Stage retrieve's neighbour lists are merged by a combiner: 40 input files read by four
    worker processes give the same kept set as one worker and the brute-force rule."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from curate import config as cfg
    from curate import schema
    from curate.io.shards import read_table
    from curate.ops import embed as embed_ops
    from curate.ops import retrieve as ops
    from curate.transforms.retrieve import load_seeds
    from tests.imagepool import emoji_images
    from tests.tinyclip import TINY_CONFIG, make_checkpoint

    cfg_path, ckpt = make_checkpoint(tmp_path / "model")
    seeds_dir = tmp_path / "seeds"
    seeds_dir.mkdir()
    for f in emoji_images("google", 8):
        Image.open(f).save(seeds_dir / f.name)
    rng = np.random.default_rng(0)
    emb = ops.normalise(rng.normal(size=(400, TINY_CONFIG["embed_dim"]))).astype(np.float16)
    uids = [schema.make_uid(f"http://127.0.0.1/{i}", str(i)) for i in range(400)]
    table = pa.table({"uid": uids, "url": [f"http://127.0.0.1/{i}" for i in range(400)],
                      "text": [str(i) for i in range(400)], "source": ["pool"] * 400, "source_row": list(range(400))})
    table = table.append_column(schema.PAIR_COLUMNS["embedding"], embed_ops.embedding_array(emb))
    (tmp_path / "in").mkdir()
    for i, part in enumerate(table.to_batches(max_chunksize=10)):
        pq.write_table(pa.Table.from_batches([part]), tmp_path / "in" / f"{i:03d}.parquet")
    conf = cfg.RetrieveConfig(seed_images=str(seeds_dir), neighbours=3, model=cfg_path, pretrained=ckpt, device="cpu")

    def run(name, args):
        pipeline.run(cfg.PipelineConfig(input=str(tmp_path / "in"), output=str(tmp_path / name),
                                        rows_per_shard=50, stages={"retrieve": conf}), args)
        return set(read_table(str(tmp_path / name / "kept" / "*.parquet"))["uid"].to_pylist())

    four = run("four", [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing", "--direct_num_workers=4"])
    seeds = load_seeds(conf, None)
    expected = ops.retrieve_reference(seeds.embeddings, emb.astype(np.float32), uids, 3)
    assert four == run("one", beam_args) == expected
    assert 3 <= len(expected) <= 24
    assert_same_output(tmp_path / "four", tmp_path / "one")


def test_balance_clusters_four_workers_equal_one_worker_and_the_reference(tmp_path, beam_args):
    """Stage balance_clusters' centroids, leaf sizes and quotas are global facts (combiners,
    side inputs): 40 input files read by four worker processes keep the same pairs, byte for
    byte, as one worker, and the pairs the slow reference keeps."""
    from curate import config as cfg
    from curate.io.shards import read_table
    from curate.ops import balance_clusters as ops
    from curate.ops import embed as embed_ops
    from tests.transforms.test_balance_clusters import (
        SEED,
        pool_table,
        reference_tree,
        run,
        write_files,
    )
    from tests.unit.test_balance_clusters_ops import mixture

    emb, _ = mixture([300, 100, 30, 8], seed=2)
    table = pool_table(emb)
    inp = write_files(table, tmp_path / "in", 11)  # 40 files
    conf = cfg.BalanceClustersConfig(target_size=120, clusters=(10, 4), kmeans_iters=20)
    four = [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing", "--direct_num_workers=4"]
    assert run(inp, tmp_path / "four", conf, four, rows_per_shard=50) == run(inp, tmp_path / "one", conf, beam_args, rows_per_shard=50)
    assert_same_output(tmp_path / "four", tmp_path / "one")
    kept = set(read_table(str(tmp_path / "four" / "kept" / "*.parquet"))["uid"].to_pylist())
    expected = ops.balance_reference(embed_ops.embeddings_of(table), table["uid"].to_pylist(), reference_tree(table, conf), 120, SEED)
    assert len(kept) == 120 and kept == expected
