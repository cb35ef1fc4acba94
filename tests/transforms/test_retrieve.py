import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import config as cfg
from curate import pipeline
from curate.io.pool import PoolFormatError
from curate.io.shards import read_table
from curate.ops import retrieve as ops
from curate.ops.embed import cosines, embeddings_of
from curate.runner import in_process_args
from curate.transforms.retrieve import load_seeds
from tests.imagepool import emoji_images, to_jpeg, write_pool
from tests.tinyclip import make_checkpoint


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """40 emoji (Google renders) embedded by a tiny CLIP, in 4 shards; 6 Twitter renders of
    other emoji as the seed folder."""
    root = tmp_path_factory.mktemp("retrieve")
    cfg_path, ckpt = make_checkpoint(root / "model")
    items = [(f.name, to_jpeg(Image.open(f))) for f in emoji_images("google", 40)]
    table = write_pool(root / "tars", items, per_tar=10)
    for i, part in enumerate(table.to_batches(max_chunksize=10)):
        pq.write_table(pa.Table.from_batches([part]), root / f"in-{i}.parquet")
    seeds = root / "seeds"
    seeds.mkdir()
    for f in emoji_images("twitter", 200)[-6:]:
        Image.open(f).save(seeds / f.name)
    embed = cfg.EmbedConfig(model=cfg_path, pretrained=ckpt, device="cpu")
    pipeline.run(cfg.PipelineConfig(input=str(root / "in-*.parquet"), output=str(root / "emb"), stages={"embed": embed}), in_process_args())
    return root, embed, str(seeds)


def test_retrieve_stage_equals_brute_force_reference(embedded, beam_args):
    root, embed, seed_dir = embedded
    conf = cfg.RetrieveConfig(seed_images=seed_dir, neighbours=3, model=embed.model, pretrained=embed.pretrained, device="cpu")
    stats = pipeline.run(
        cfg.PipelineConfig(input=str(root / "emb" / "kept"), output=str(root / "out"), stages={"retrieve": conf}),
        beam_args,
    )
    pool = read_table(str(root / "emb" / "kept" / "*.parquet"))
    kept = read_table(str(root / "out" / "kept" / "*.parquet"))
    removed = read_table(str(root / "out" / "removed" / "*.parquet"))

    seeds = load_seeds(conf, None)
    assert len(seeds.names) == 6
    expected = ops.retrieve_reference(seeds.embeddings, embeddings_of(pool), pool["uid"].to_pylist(), 3)
    assert set(kept["uid"].to_pylist()) == expected
    assert 3 <= len(expected) <= 18
    assert set(removed["uid"].to_pylist()) == set(pool["uid"].to_pylist()) - expected
    assert set(removed["reason"].to_pylist()) == {"not_retrieved"}
    s = stats["stages"][0]
    assert (s["in"], s["kept"], s["removed_by_reason"]) == (40, len(expected), {"not_retrieved": 40 - len(expected)})
    assert set(kept["seed_rank"].to_pylist()) <= {1, 2, 3} and 1 in kept["seed_rank"].to_pylist()
    # every kept pair's stored cosine is its cosine to the nearest seed
    sims = cosines(embeddings_of(kept), seeds.embeddings)
    assert kept["seed_cosine"].to_numpy().tobytes() == sims.max(axis=1).tobytes()


def test_seeds_are_embedded_with_the_runs_embed_model(embedded, beam_args):
    root, embed, seed_dir = embedded
    conf = cfg.RetrieveConfig(seed_images=seed_dir, neighbours=2)
    a = load_seeds(conf, embed)
    b = load_seeds(cfg.RetrieveConfig(seed_images=seed_dir, model=embed.model, pretrained=embed.pretrained), None)
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)
    with pytest.raises(ValueError, match="no model to embed the seeds"):
        load_seeds(conf, None)
    with pytest.raises(PoolFormatError, match="no files match"):
        load_seeds(cfg.RetrieveConfig(seed_images=str(root / "nothing-here"), model=embed.model, pretrained=embed.pretrained), None)
