"""Stage balance_clusters through Beam: the paper's quotas on a mixture of known cluster
sizes, the slow reference, the removed records and their reason, and the same bytes however
the pool is cut into batches."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import config as cfg
from curate import pipeline, schema
from curate.io.shards import read_table
from curate.ops import balance_clusters as ops
from curate.ops import embed as embed_ops
from curate.ops.semdedup import sample_keys
from curate.transforms.balance_clusters import _fit
from tests.integration.conftest import assert_same_output
from tests.unit.test_balance_clusters_ops import mixture

SEED = 5
SIZES = [1200, 400, 120, 40, 12]  # five modes: 1772 pairs


def pool_table(emb):
    n = len(emb)
    urls = [f"http://127.0.0.1/{i}.jpg" for i in range(n)]
    table = pa.table({
        "uid": [schema.make_uid(u, str(i)) for i, u in enumerate(urls)], "url": urls,
        "text": [str(i) for i in range(n)], "source": ["pool"] * n, "source_row": list(range(n)),
    })
    return table.append_column(schema.PAIR_COLUMNS["embedding"], embed_ops.embedding_array(emb))


def write_files(table, folder, rows_per_file):
    folder.mkdir(parents=True)
    for i, a in enumerate(range(0, table.num_rows, rows_per_file)):
        pq.write_table(table.slice(a, rows_per_file), folder / f"{i:04d}.parquet")
    return str(folder)


def run(inp, out, conf, beam_args, rows_per_shard=100_000):
    return pipeline.run(cfg.PipelineConfig(input=inp, output=str(out), seed=SEED, rows_per_shard=rows_per_shard,
                                           stages={"balance_clusters": conf}), beam_args)


def reference_tree(table, conf):
    """The hierarchy the stage learns: k-means on the bottom-k hash sample, in key order."""
    keys = sample_keys(table["uid"].to_pylist(), SEED, ops.STAGE)
    order = np.argsort(keys, kind="stable")[: conf.sample_size]
    emb = embed_ops.embeddings_of(table)
    return _fit((keys[order], emb[order].astype(np.float16)), conf, SEED)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("balance_clusters")
    emb, mode = mixture(SIZES, seed=0)
    table = pool_table(emb)
    return root, table, mode, write_files(table, root / "in", 300)


def test_known_mixture_heavy_modes_thinned_rare_kept_whole(mixed, beam_args):
    root, table, mode, inp = mixed
    conf = cfg.BalanceClustersConfig(target_size=400, clusters=(40, 5), kmeans_iters=20)
    stats = run(inp, root / "out", conf, beam_args)["stages"][0]
    kept = read_table(str(root / "out" / "kept" / "*.parquet"))
    removed = read_table(str(root / "out" / "removed" / "*.parquet"))
    assert (stats["in"], stats["kept"], stats["removed"]) == (1772, 400, 1372)
    assert stats["removed_by_reason"] == {"cluster_balanced_out": 1372}

    row = {u: i for i, u in enumerate(table["uid"].to_pylist())}
    # the paper's rule on the true sizes: 12 + 40 + 3 x 116 = 400 (the top level found the modes)
    assert np.bincount([mode[row[u]] for u in kept["uid"].to_pylist()], minlength=5).tolist() == [116, 116, 116, 40, 12]

    tree = reference_tree(table, conf)
    emb = embed_ops.embeddings_of(table)
    assert set(kept["uid"].to_pylist()) == ops.balance_reference(emb, table["uid"].to_pylist(), tree, 400, SEED)

    # every kept pair carries its path (top, leaf), the one the tree gives its embedding
    leaf = ops.nearest(embed_ops.embeddings_of(kept), tree.centroids[0])[0]
    assert kept["cluster_path"].to_pylist() == tree.paths(leaf).tolist()
    # a removed pair's detail names its path and its leaf's quota
    r = removed.to_pylist()[0]
    path = tree.paths(ops.nearest(emb[[row[r["uid"]]]], tree.centroids[0])[0])[0]
    assert r["stage"] == "balance_clusters" and r["detail"].startswith(f"cluster {path[0]}/{path[1]}: ")
    summary = json.loads((root / "out" / "balance_clusters.json").read_text())
    assert summary["kept"] == 400 and summary["clusters_per_level"] == [40, 5]
    assert sorted(t["kept"] for t in summary["top_clusters"]) == [12, 40, 116, 116, 116]


def test_target_share_of_a_small_pool(mixed, beam_args):
    root, table, _, _ = mixed
    small = write_files(table.slice(0, 90), root / "small", 30)
    conf = cfg.BalanceClustersConfig(kmeans_iters=10)  # default share 0.5; auto levels [2, 1] at 90 pairs
    stats = run(small, root / "half", conf, beam_args)["stages"][0]
    assert (stats["in"], stats["kept"], stats["removed"]) == (90, 45, 45)


@pytest.mark.long
def test_same_bytes_for_any_input_batching(tmp_path, beam_args):
    emb, _ = mixture([150, 60, 20, 6], seed=4)
    table = pool_table(emb)
    conf = cfg.BalanceClustersConfig(target_size=80, clusters=(8, 3), kmeans_iters=10)
    for rows in (236, 7):
        run(write_files(table, tmp_path / f"in-{rows}", rows), tmp_path / f"out-{rows}", conf, beam_args, rows_per_shard=50)
    assert_same_output(tmp_path / "out-7", tmp_path / "out-236")
    assert len(read_table(str(tmp_path / "out-7" / "kept" / "*.parquet"))) == 80
