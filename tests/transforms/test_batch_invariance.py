"""Model stages give byte-identical output however the runner batches them.

The five model stages run chained (embed → decontaminate → semdedup → capfilt → retrieve,
tiny from-scratch CLIP and CoCa) on one small image pool whose rows reach the first stage in
tables of 1, 3, 7 and 64 rows, and once on four worker processes: every output file is the
same. Every stage removes something (so its decision is in the files), and the thresholds sit
exactly on a score the stage computes (a cosine to an eval image, a CLIP score, a cosine to a
seed): a row on the boundary is decided the same way in every run.

Before the fix (model batches = whatever tables arrived, float32 matmuls per batch) the
captions, embeddings and cosines of these runs differed in the last bits and a token or a
decision flipped; ``test_model_batches_are_fixed_by_the_data`` shows the stage would otherwise
see the input's batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import config as cfg
from curate import pipeline
from curate.io.shards import read_table
from curate.ops import embed as embed_ops
from curate.ops import model_batches as mb
from curate.runner import LOCAL_RUNNER
from tests.capfilt_models import make_clip_checkpoint, make_coca_checkpoint
from tests.imagepool import emoji_images, to_jpeg, write_pool
from tests.integration.conftest import assert_same_output

pytestmark = [pytest.mark.slow, pytest.mark.long]

TOKENS = 8
SEED = 3
ORDER = ["embed", "decontaminate", "semdedup", "capfilt", "retrieve"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("invariance")
    clip = make_clip_checkpoint(root / "clip")
    coca = make_coca_checkpoint(root / "coca")
    files = emoji_images("google", 2000)[::125]  # 16 unlike emoji (a random model finds most alike)
    items = [(f.name, to_jpeg(Image.open(f))) for f in files]
    items += [("again-" + items[3][0], items[3][1]), ("again-" + items[11][0], items[11][1])]  # semdedup
    items += [("missing.png", None), ("corrupt.png", b"GIF89a broken")]
    table = write_pool(root / "tars", items, per_tar=7)
    evals = root / "evals"  # two pool images (their PNG originals): decontaminate's near-copies
    evals.mkdir()
    for f in (files[5], files[14]):
        Image.open(f).save(evals / f.name)
    seeds = root / "seeds"
    seeds.mkdir()
    for f in emoji_images("twitter", 200)[-4:]:
        Image.open(f).save(seeds / f.name)
    return root, table, clip, coca, str(evals), str(seeds)


def _stages(setup, decontaminate_cos=1.5, capfilt_threshold=-1.0, retrieve_cos=-1.0):
    _, _, (clip_cfg, clip_ckpt), (coca_cfg, coca_ckpt), evals, seeds = setup
    return {
        "embed": cfg.EmbedConfig(model=clip_cfg, pretrained=clip_ckpt, device="cpu", batch_size=4),
        "decontaminate": cfg.DecontaminateConfig(eval_images=evals, max_distance=-1, min_cosine=decontaminate_cos, device="cpu"),
        "semdedup": cfg.SemDedupConfig(eps=1e-4, num_clusters=2, sample_size=100, kmeans_iters=5),
        "capfilt": cfg.CapFiltConfig(
            filter_model=clip_cfg, filter_pretrained=clip_ckpt, captioner_model=coca_cfg, captioner_pretrained=coca_ckpt,
            device="cpu", batch_size=4, max_caption_tokens=TOKENS, threshold=capfilt_threshold,
        ),
        # every pair is among some seed's 100 nearest: min_cosine decides (ranks: test_retrieve*)
        "retrieve": cfg.RetrieveConfig(seed_images=seeds, neighbours=100, min_cosine=retrieve_cos, device="cpu"),
    }


def _run(setup, name: str, rows_per_file: int, stages: dict, args: list[str]):
    root, table = setup[0], setup[1]
    folder = root / f"in-{name}"
    folder.mkdir()
    for i, start in enumerate(range(0, table.num_rows, rows_per_file)):
        pq.write_table(table.slice(start, rows_per_file), folder / f"{i:03d}.parquet")
    out = root / f"out-{name}"
    stats = pipeline.run(cfg.PipelineConfig(input=str(folder), output=str(out), rows_per_shard=10, seed=SEED, stages=stages), args)
    return out, {s["stage"]: s["removed_by_reason"] for s in stats["stages"]}


def _direct(setup, stages):
    """uid → (embedding, clip_score, synthetic_score) from the handlers called outside Beam
    on the data's model batches (rows of one tar, uid order, batch_size rows)."""
    from curate.models.capfilt import CapFiltScorer
    from curate.models.clip import OpenClipImageEmbedder

    table, e, c = setup[1], stages["embed"], stages["capfilt"]
    batches = [chunk for _, rows in mb.by_shard(table)[1] for chunk in mb.chunks(mb.sort_by_uid(rows), e.batch_size)]
    embedder = OpenClipImageEmbedder(e.model, e.pretrained, e.device, e.batch_size)
    scorer = CapFiltScorer(c.filter_model, c.filter_pretrained, c.captioner_model, c.captioner_pretrained, c.device,
                           c.batch_size, c.top_p, c.max_caption_tokens, c.min_caption_tokens, SEED)
    emb_model, score_models = embedder.load_model(), scorer.load_model()
    out = {}
    for batch in batches:
        (result,) = embedder.run_inference([batch], emb_model)
        scored = scorer.score(batch, score_models)
        uids = batch["uid"].take(result.inference.ok).to_pylist()
        for i, uid in enumerate(uids):
            out[uid] = (result.inference.embeddings[i], scored.clip_score[i], scored.synthetic_score[i])
    return out


def _boundaries(setup, stages):
    """Thresholds exactly on scores the stages compute (from the handlers on the data's model
    batches, ``_direct``): decontaminate at the second-highest cosine to an eval image
    (strict >: that pair stays, the highest goes), capfilt at a pair's better caption score
    (>=: it stays), retrieve at a cosine to the nearest seed (>=: it stays)."""
    from curate.transforms.decontaminate import _features  # the stage's own eval embeddings
    from curate.transforms.retrieve import load_seeds

    direct = _direct(setup, stages)
    uids = sorted(direct)
    texts = dict(zip(setup[1]["uid"].to_pylist(), setup[1]["text"].to_pylist(), strict=True))
    copied = {t.removeprefix("again-") for t in texts.values() if t.startswith("again-")}
    dup = {i for i, u in enumerate(uids) if texts[u].removeprefix("again-") in copied}  # semdedup's
    emb = np.stack([direct[u][0] for u in uids])
    feats = _features(None, _stages(setup, decontaminate_cos=0.9)["decontaminate"], stages["embed"])
    best = embed_ops.cosines(emb, feats.embeddings).max(axis=1)
    top2 = [i for i in np.argsort(-best, kind="stable") if i not in dup][:2]
    assert best[top2[0]] > best[top2[1]]
    score = np.array([max(direct[u][1], direct[u][2]) for u in uids])
    candidates = [i for i in np.argsort(score, kind="stable") if i not in top2 and i not in dup]
    on_capfilt = candidates[len(candidates) // 2]
    passes = score >= score[on_capfilt]
    seed_cos = embed_ops.cosines(emb, load_seeds(stages["retrieve"], stages["embed"]).embeddings).max(axis=1)
    candidates = [i for i in np.argsort(seed_cos, kind="stable") if passes[i] and i not in top2 and i not in dup]
    on_retrieve = candidates[len(candidates) // 3]
    values = dict(decontaminate_cos=float(best[top2[1]]), capfilt_threshold=float(score[on_capfilt]),
                  retrieve_cos=float(seed_cos[on_retrieve]))
    # (uid, stage, removed there?): the rows on a boundary reach their stage and stay
    fates = [(uids[top2[1]], "decontaminate", False), (uids[top2[0]], "decontaminate", True),
             (uids[on_capfilt], "capfilt", False), (uids[on_retrieve], "retrieve", False)]
    return values, fates, direct


@pytest.fixture(scope="module")
def boundary_runs(setup, tmp_path_factory):
    from curate.runner import in_process_args

    values, fates, direct = _boundaries(setup, _stages(setup))
    stages = _stages(setup, **values)
    runs = {size: _run(setup, f"rows{size}", size, stages, in_process_args()) for size in (1, 3, 7, 64)}
    four = [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing", "--direct_num_workers=4"]
    runs["four"] = _run(setup, "four", 7, stages, four)
    return runs, fates, direct


def test_input_batching_and_workers_give_identical_files(boundary_runs):
    runs, _, direct = boundary_runs
    (want, removed) = runs[64]
    # every stage decided something, so its decisions are in the files
    assert removed["embed"] == {"decode_error": 2}
    assert removed["decontaminate"] == {"eval_overlap": 1}
    assert removed["semdedup"] == {"semantic_duplicate": 2}
    assert removed["capfilt"].get("low_clip_score", 0) >= 3
    assert removed["retrieve"].get("not_retrieved", 0) >= 2
    for key, (got, got_removed) in runs.items():
        assert got_removed == removed, key
        assert_same_output(got, want)
    # and the stage's floats are the handlers' on the data's model batches, bit for bit
    kept = read_table(str(want / "kept" / "*.parquet"))
    emb = embed_ops.embeddings_of(kept).astype(np.float16)
    for i, uid in enumerate(kept["uid"].to_pylist()):
        assert emb[i].tobytes() == direct[uid][0].tobytes()
        assert np.float32(kept["clip_score"][i].as_py()) == direct[uid][1]


def test_rows_on_a_threshold_are_decided_the_same_way_every_run(boundary_runs):
    runs, fates, _ = boundary_runs
    for got, _ in runs.values():
        kept = set(read_table(str(got / "kept" / "*.parquet"))["uid"].to_pylist())
        removed = read_table(str(got / "removed" / "*.parquet"))
        stage_of = dict(zip(removed["uid"].to_pylist(), removed["stage"].to_pylist(), strict=True))
        for uid, stage, removed_there in fates:
            got = stage_of.get(uid)
            if removed_there:
                assert got == stage, (uid, stage, got)
            else:  # kept, or removed by a later stage (then it passed this one)
                assert (got is None and uid in kept) or ORDER.index(got) > ORDER.index(stage), (uid, stage, got)


def test_model_batches_are_fixed_by_the_data(setup):
    """The regrouping alone: however a pool is cut into tables, the model sees the same
    chunks (rows of one tar, uid order, batch_size rows); rows without a tar are apart."""
    table = setup[1]

    def model_batches(size, batch_size):
        groups, elsewhere = {}, []
        for start in range(0, table.num_rows, size):
            rest, parts = mb.by_shard(table.slice(start, size))
            elsewhere += rest["uid"].to_pylist()
            for shard, part in parts:
                groups.setdefault(shard, []).append(part)
        out = []
        for shard in sorted(groups):
            rows = mb.sort_by_uid(pa.concat_tables(groups[shard]))
            out += [tuple(c["uid"].to_pylist()) for c in mb.chunks(rows, batch_size)]
        return sorted(out), sorted(elsewhere)

    want = model_batches(64, 4)
    assert sorted(len(c) for c in want[0]) == [2, 3, 3, 4, 4, 4]  # tars of 7, 7 and 6 rows
    for size in (1, 3, 7):
        assert model_batches(size, 4) == want
    assert model_batches(64, 3) != want  # batch_size is part of the result's definition
