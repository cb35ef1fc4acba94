import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import config as cfg
from curate import pipeline
from curate.io.shards import read_table
from curate.models.clip import OpenClipImageEmbedder, load_open_clip
from curate.ops import embed as ops
from curate.ops import image_hash
from tests.imagepool import emoji_images, to_jpeg, write_pool
from tests.tinyclip import make_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    items = [(f.name, to_jpeg(Image.open(f))) for f in emoji_images("twitter", 20)]
    items += [("missing.png", None), ("corrupt.png", b"GIF89a broken")]
    return write_pool(folder, items, per_tar=8), items


def _reference(tiny, items):
    """The model called directly, outside the handler: what a checkpoint's weights give."""
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(
        "test-tiny-clip", pretrained=tiny[1]
    )
    model.eval()
    imgs = [image_hash.decode_rgb(d) for _, d in items if d and not d.startswith(b"GIF89a b")]
    with torch.no_grad():
        f = model.encode_image(torch.stack([preprocess(i) for i in imgs]))
    return torch.nn.functional.normalize(f, dim=-1).numpy()


def test_checkpoint_loads_its_weights(tiny, pool):
    cfg_path, ckpt = tiny
    a = load_open_clip(cfg_path, ckpt, "cpu")
    b = load_open_clip(cfg_path, "", "cpu")  # random init: different
    x = a.preprocess(Image.new("RGB", (40, 40), (10, 200, 30)))[None]
    assert not np.allclose(a.model.encode_image(x).detach(), b.model.encode_image(x).detach())
    a2 = load_open_clip("", ckpt, "cpu")  # name read from the checkpoint (curate train's)
    assert np.allclose(a.model.encode_image(x).detach(), a2.model.encode_image(x).detach())


def test_handler_batches_and_decode_errors(tiny, pool):
    table, items = pool
    handler = OpenClipImageEmbedder(tiny[0], tiny[1], device="cpu", batch_size=7)
    model = handler.load_model()
    (result,) = list(handler.run_inference([table], model))
    out = result.inference
    assert out.ok == list(range(20)) and [i for i, _ in out.errors] == [20, 21]
    assert out.embeddings.dtype == np.float16 and out.embeddings.shape == (20, 32)
    np.testing.assert_allclose(out.embeddings, _reference(tiny, items), atol=2e-3)
    assert handler.batch_elements_kwargs()["max_batch_size"] == 1


def test_embed_stage(tmp_path, beam_args, tiny, pool):
    table, items = pool
    pq.write_table(table, tmp_path / "in.parquet")
    stats = pipeline.run(
        cfg.PipelineConfig(
            input=str(tmp_path / "in.parquet"),
            output=str(tmp_path / "out"),
            stages={"embed": cfg.EmbedConfig(model=tiny[0], pretrained=tiny[1], device="cpu", batch_size=8)},
        ),
        beam_args,
    )
    kept = read_table(str(tmp_path / "out" / "kept" / "*.parquet"))
    removed = read_table(str(tmp_path / "out" / "removed" / "*.parquet"))
    assert stats["stages"][0]["removed_by_reason"] == {"decode_error": 2}
    assert sorted(removed["text"].to_pylist()) == ["corrupt.png", "missing.png"]
    assert kept.num_rows == 20 and kept.schema.field("embedding").type.value_type.bit_width == 16
    emb = ops.embeddings_of(kept.sort_by("source_row"))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(emb, _reference(tiny, items), atol=2e-3)


def test_progress_line_counts_the_stage_and_changes_no_output(tmp_path, beam_args, tiny, pool, monkeypatch):
    """Under a ProgressLine the embed stage reports every input row (embedded or not) and
    writes the same bytes as without one."""
    import io

    from curate import progress

    table, _ = pool
    pq.write_table(table, tmp_path / "in.parquet")
    embed = cfg.EmbedConfig(model=tiny[0], pretrained=tiny[1], device="cpu", batch_size=8)
    seen = []
    real = progress.read_totals
    monkeypatch.setattr(progress, "read_totals", lambda folder: seen.append(real(folder)) or seen[-1])
    stream = io.StringIO()
    for name in ("plain", "progress"):
        run = cfg.PipelineConfig(input=str(tmp_path / "in.parquet"), output=str(tmp_path / name), stages={"embed": embed})
        if name == "progress":
            with progress.ProgressLine(stream, interval=0.0, tick=0.01):
                pipeline.run(run, beam_args)
                seen.append(real(progress.os.environ[progress.ENV]))
        else:
            pipeline.run(run, beam_args)
    assert seen[-1]["embed"][:2] == ("pairs", 22)
    assert "embed: " in stream.getvalue() and "pairs done" in stream.getvalue()
    for sub in ("kept", "removed"):
        a = sorted((tmp_path / "plain" / sub).iterdir())
        b = sorted((tmp_path / "progress" / sub).iterdir())
        assert [f.name for f in a] == [f.name for f in b]
        assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]
