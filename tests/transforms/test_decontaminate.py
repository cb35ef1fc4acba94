import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curate import config as cfg
from curate import pipeline, schema
from curate.io.evalset import load_eval_images
from curate.io.shards import read_table
from curate.ops import decontaminate as ops
from curate.ops import embed as embed_ops
from tests.imagepool import emoji_images, to_jpeg, write_pool


def test_planted_eval_copies_are_removed(tmp_path, beam_args):
    evals = load_eval_images("fashion-mnist-test")
    assert len(evals) == 10_000
    items = [(f.name, to_jpeg(Image.open(f))) for f in emoji_images("google", 30)]
    planted = {}
    for idx in (3, 500, 9999):  # exact copies, same size
        items.append((f"exact-{idx}", evals[idx][1]))
        planted[f"exact-{idx}"] = f"exact copy of fashion-mnist-test/{idx:05d}"
    for idx in (7, 4242, 8000):  # upscaled, re-encoded: perceptual
        img = Image.open(io.BytesIO(evals[idx][1])).resize((64, 64), Image.Resampling.BICUBIC)
        items.append((f"resized-{idx}", to_jpeg(img, 90)))
        planted[f"resized-{idx}"] = f"fashion-mnist-test/{idx:05d}"
    table = write_pool(tmp_path / "tars", items, per_tar=20)
    pq.write_table(table, tmp_path / "in.parquet")
    stats = pipeline.run(
        cfg.PipelineConfig(
            input=str(tmp_path / "in.parquet"),
            output=str(tmp_path / "out"),
            stages={
                "dedup_images": cfg.DedupImagesConfig(),
                "decontaminate": cfg.DecontaminateConfig(eval_images="fashion-mnist-test", min_cosine=2.0),
            },
        ),
        beam_args,
    )
    removed = read_table(str(tmp_path / "out" / "removed" / "*.parquet"))
    got = {t: d for t, d, s in zip(removed["text"].to_pylist(), removed["detail"].to_pylist(), removed["stage"].to_pylist(), strict=True) if s == "decontaminate"}
    assert set(got) == set(planted)
    for name, detail in got.items():
        assert detail.endswith(planted[name])
        assert detail.startswith("exact copy" if name.startswith("exact") else "phash hamming")
    assert {s["stage"]: s["removed_by_reason"] for s in stats["stages"]}["decontaminate"] == {"eval_overlap": 6}


def test_embedding_check_uses_cosine_threshold():
    rng = np.random.default_rng(0)
    evals = rng.normal(size=(20, 16))
    evals /= np.linalg.norm(evals, axis=1, keepdims=True)
    feats = ops.EvalFeatures([f"e{i}" for i in range(20)], {}, np.zeros(20, np.uint64), evals.astype(np.float32))
    pool = rng.normal(size=(10, 16))
    pool[2] = evals[5] + 0.05 * rng.normal(size=16)  # a near-copy
    pool[7] = evals[11]
    table = pa.table({"uid": [f"u{i}" for i in range(10)]}).append_column(
        schema.PAIR_COLUMNS["embedding"], embed_ops.embedding_array(pool.astype(np.float16))
    )
    kept, removed = ops.decontaminate_batch(table, feats, max_distance=-1, min_cosine=0.95)
    assert removed["uid"].to_pylist() == ["u2", "u7"]
    assert removed["detail"].to_pylist()[1].endswith("to e11")
    assert kept.num_rows == 8
