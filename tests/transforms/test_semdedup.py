import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate import config as cfg
from curate import pipeline, schema
from curate.io.shards import read_table
from curate.ops import embed as embed_ops
from curate.ops import semdedup as ops


def _pool(n=400, d=32, dups=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    src = rng.choice(n, dups, replace=False)
    x = np.concatenate([x, x[src] + rng.normal(size=(dups, d)) * rng.uniform(0.02, 0.3, (dups, 1))])
    x = ops.normalise(x).astype(np.float16)
    uids = [schema.make_uid(f"http://127.0.0.1/{i}", str(i)) for i in range(len(x))]
    table = pa.table(
        {
            "uid": uids,
            "url": [f"http://127.0.0.1/{i}" for i in range(len(x))],
            "text": [str(i) for i in range(len(x))],
            "source": ["pool"] * len(x),
            "source_row": list(range(len(x))),
        }
    ).append_column(schema.PAIR_COLUMNS["embedding"], embed_ops.embedding_array(x))
    return table, uids, x.astype(np.float32)


def test_semdedup_stage_equals_reference(tmp_path, beam_args):
    table, uids, x = _pool()
    for i, part in enumerate(table.to_batches(max_chunksize=150)):
        pq.write_table(pa.Table.from_batches([part]), tmp_path / f"in-{i}.parquet")
    conf = cfg.SemDedupConfig(eps=0.05, num_clusters=3, sample_size=300, kmeans_iters=10)
    stats = pipeline.run(
        cfg.PipelineConfig(
            input=str(tmp_path / "in-*.parquet"), output=str(tmp_path / "out"), seed=7,
            stages={"semdedup": conf},
        ),
        beam_args,
    )
    kept = read_table(str(tmp_path / "out" / "kept" / "*.parquet"))
    removed = read_table(str(tmp_path / "out" / "removed" / "*.parquet"))

    # reference: the same sample and k-means, then the brute-force rule
    keys, sample = ops.bottom_k(ops.sample_keys(uids, 7), x.astype(np.float16), 300)
    centroids = ops.train_kmeans(sample.astype(np.float32), 3, 10, seed=7)
    labels, _ = ops.assign(x, centroids)
    expected = ops.dedup_reference(uids, x, labels, centroids, 0.05)

    assert set(removed["uid"].to_pylist()) == expected and len(expected) > 20
    assert set(removed["reason"].to_pylist()) == {"semantic_duplicate"}
    assert stats["stages"][0]["in"] == len(uids) == kept.num_rows + removed.num_rows
    got_labels = dict(zip(kept["uid"].to_pylist(), kept["semantic_cluster"].to_pylist(), strict=True))
    assert got_labels == {u: int(label) for u, label in zip(uids, labels, strict=True) if u not in expected}
    # score, then decide: every kept pair's stored cosine is at or below 1 - eps
    cos = np.array([c if c is not None else -1 for c in kept["semantic_cosine"].to_pylist()])
    assert (cos <= 0.95).all() and np.isnan(kept["semantic_cosine"].to_numpy(zero_copy_only=False)).sum() <= 3
