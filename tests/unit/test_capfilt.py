"""CapFilt's pure parts: seeds, caption cleaning, the keep/remove rule, the percentile
threshold, and nucleus sampling against a slow per-row reference."""

import math

import numpy as np
import pyarrow as pa
import pytest

from curate import config as cfg
from curate.ops import capfilt as ops

NAN = None  # a missing score


def _table(rows):
    """rows: (uid, clip_score, synthetic_score or None) → a scored batch."""
    return pa.table(
        {
            "uid": [r[0] for r in rows],
            "url": [f"http://127.0.0.1/{r[0]}" for r in rows],
            "text": [f"web {r[0]}" for r in rows],
            "source": ["pool"] * len(rows),
            "clip_score": pa.array([r[1] for r in rows], pa.float32()),
            "synthetic_caption": [None if r[2] is None else f"syn {r[0]}" for r in rows],
            "synthetic_score": pa.array([r[2] for r in rows], pa.float32()),
        }
    )


# (clip_score, synthetic_score, threshold) -> kept?
RULE = [
    (0.30, 0.10, 0.28, True),  # web passes
    (0.28, None, 0.28, True),  # at the threshold passes
    (0.20, 0.30, 0.28, True),  # web fails, synthetic passes: kept with its synthetic caption
    (0.20, 0.25, 0.28, False),  # both fail
    (0.20, None, 0.28, False),  # web fails, no synthetic caption
    (None, 0.30, 0.28, True),  # no web score (empty text), synthetic passes
    (None, None, 0.28, False),
    (-0.5, -0.6, -math.inf, True),  # empty pool threshold keeps everything
]


@pytest.mark.parametrize("clip,syn,threshold,kept", RULE)
def test_rule(clip, syn, threshold, kept):
    k, r = ops.decide(_table([("a", clip, syn)]), threshold)
    assert (k.num_rows, r.num_rows) == ((1, 0) if kept else (0, 1))
    if not kept:
        assert r["reason"].to_pylist() == ["low_clip_score"] and r["stage"].to_pylist() == ["capfilt"]


def test_decide_table_and_details():
    rows = [("a", 0.5, 0.1), ("b", 0.1, 0.4), ("c", 0.1, 0.2), ("d", 0.25, None), ("e", 0.3, 0.3)]
    kept, removed = ops.decide(_table(rows), 0.3)
    assert kept["uid"].to_pylist() == ["a", "b", "e"]
    assert kept["synthetic_caption"].to_pylist() == ["syn a", "syn b", "syn e"]
    assert removed["uid"].to_pylist() == ["c", "d"]
    assert removed["detail"].to_pylist() == [
        "clip_score=0.1000 synthetic_score=0.2000 threshold=0.3000",
        "clip_score=0.2500 synthetic_score=none threshold=0.3000",
    ]


def test_decide_without_synthetic_column():
    t = _table([("a", 0.5, None), ("b", 0.1, None)]).drop_columns(["synthetic_caption", "synthetic_score"])
    kept, removed = ops.decide(t, 0.3)
    assert kept["uid"].to_pylist() == ["a"] and removed["uid"].to_pylist() == ["b"]


def test_decide_needs_scores():
    with pytest.raises(ValueError, match="clip_score"):
        ops.decide(pa.table({"uid": ["a"]}), 0.3)


def _percentile(parts, keep):
    """The two passes over batches `parts` (lists of float32 scores), summed as the combiners do."""
    keys = [ops.score_keys(pa.table({"clip_score": pa.array(p, pa.float32())})) for p in parts]
    plan = ops.percentile_plan(sum(ops.high_counts(k) for k in keys), keep)
    return ops.threshold_from_counts(plan, sum(ops.low_counts(k, plan) for k in keys))


@pytest.mark.parametrize("n", [1, 2, 7, 100, 20_000])
@pytest.mark.parametrize("keep", [30.0, 50.0, 99.9, 100.0, 0.1, 0.0])
def test_percentile_is_numpys_exactly_for_any_batching(n, keep):
    rng = np.random.default_rng(n)
    scores = rng.normal(0.1, 0.3, n).astype(np.float32)
    scores[: n // 10] = scores[-1]  # ties
    scores[n // 3] = -0.0
    want = np.percentile(scores.astype(np.float64), 100 - keep)
    got = _percentile([scores], keep)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)  # numpy places the rank in other float steps
    perm = rng.permutation(n)
    for size in (1, 3, 7, 64):  # the combiners' sums do not care how values are grouped
        if n <= 2000 or size == 64:
            assert _percentile([scores[perm[a : a + size]] for a in range(0, n, size)], keep) == got


def test_threshold_of_empty_pool():
    assert ops.threshold_from_counts(ops.percentile_plan(None, 30.0), None) == -math.inf
    assert _percentile([[]], 30.0) == -math.inf


def test_caption_seeds():
    a = ops.caption_seeds(["u1", "u2"], 0)
    assert a == ops.caption_seeds(["u1", "u2"], 0)
    assert a[0] != a[1] and ops.caption_seeds(["u1"], 1)[0] != a[0]
    assert all(0 <= s < 2**63 for s in a)
    assert ops.caption_seeds(["u2"], 0) == [a[1]]  # independent of the batch


@pytest.mark.parametrize(
    "decoded,text",
    [
        ("<start_of_text>a red  apple <end_of_text>!!!!", "a red apple"),
        ("<start_of_text>a dog", "a dog"),
        ("<start_of_text><end_of_text>", ""),
    ],
)
def test_clean_caption(decoded, text):
    assert ops.clean_caption(decoded) == text


def _reference_nucleus(p_row, u, top_p):
    """Obvious version: most probable tokens until their mass reaches top_p, walk the
    renormalised CDF until it passes u."""
    order = sorted(range(len(p_row)), key=lambda i: (-p_row[i], i))
    chosen, mass = [], 0.0
    for i in order:
        if mass >= top_p:
            break
        chosen.append(i)
        mass += p_row[i]
    total = sum(p_row[i] for i in chosen)
    acc = 0.0
    for i in chosen:
        acc += p_row[i] / total
        if u < acc:
            return i
    return chosen[-1]


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 1.0])
def test_nucleus_sample_matches_reference(top_p):
    torch = pytest.importorskip("torch")
    from curate.models.capfilt import nucleus_sample

    rng = np.random.default_rng(int(top_p * 10))
    logits = torch.tensor(rng.normal(0, 2, (200, 40)), dtype=torch.float64)
    u = torch.tensor(rng.random(200), dtype=torch.float64)
    got = nucleus_sample(logits, u, top_p).tolist()
    probs = torch.softmax(logits, -1).tolist()
    want = [_reference_nucleus(p, float(x), top_p) for p, x in zip(probs, u.tolist(), strict=True)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)  # numpy places the rank in other float steps


def test_nucleus_small_p_is_greedy():
    torch = pytest.importorskip("torch")
    from curate.models.capfilt import nucleus_sample

    logits = torch.randn(50, 1000, generator=torch.Generator().manual_seed(0))
    u = torch.rand(50, generator=torch.Generator().manual_seed(1))
    assert nucleus_sample(logits, u, 1e-6).tolist() == logits.argmax(-1).tolist()


@pytest.mark.parametrize(
    "values,match",
    [
        ({"top_p": 0.0}, "capfilt.top_p"),
        ({"keep_top_percent": 120.0}, "capfilt.keep_top_percent"),
        ({"threshold": 2.0}, "capfilt.threshold"),
        ({"max_caption_tokens": 5, "min_caption_tokens": 5}, "capfilt.max_caption_tokens"),
        ({"device": "tpu"}, "capfilt.device"),
        ({"batch_size": 0}, "capfilt.batch_size"),
    ],
)
def test_config_validation(values, match):
    with pytest.raises(ValueError, match=match):
        cfg.stage_config("capfilt", values)


def test_config_none_captioner():
    c = cfg.stage_config("capfilt", {"captioner_model": "none"})
    assert c.captioner_model == "" and c.captioner_pretrained == ""


class _FlatDecoder:
    """A stand-in CoCa whose next-token distribution is the same for every prefix: with it,
    the sampled tokens depend only on each pair's seed."""

    def __init__(self, vocab=49408):  # CLIP BPE size: the end token is 49407
        import torch

        self.logits = torch.linspace(0.0, 1.0, vocab)

    def _encode_image(self, images):
        return None, None

    def __call__(self, images, text, **kw):

        n, t = text.shape
        return {"logits": self.logits.expand(n, t, -1).clone()}


def test_generate_tokens_depends_on_the_seed_only():
    torch = pytest.importorskip("torch")
    from curate.models.capfilt import generate_tokens

    images = torch.zeros(6, 3, 4, 4)
    seeds = list(range(6))
    a = generate_tokens(_FlatDecoder(), images, seeds, top_p=0.9, max_tokens=8, min_tokens=3)
    b = generate_tokens(_FlatDecoder(), images[:3], seeds[:3], top_p=0.9, max_tokens=8, min_tokens=3)
    assert torch.equal(a[:3], b)  # a pair's tokens do not depend on its batch
    c = generate_tokens(_FlatDecoder(), images, [s + 100 for s in seeds], 0.9, 8, 3)
    assert sum(not torch.equal(x, y) for x, y in zip(a, c, strict=True)) >= 5
    assert len({tuple(x.tolist()) for x in a}) == 6  # different pairs, different captions


def test_coca_built_without_weights_has_an_initialised_decoder_projection(tmp_path):
    """open_clip leaves CoCa's text_decoder.text_projection as torch.empty (open_clip #554):
    zeros or leftover memory (1e18 logits, empty captions in a long test run). load_open_clip
    initialises it like CLIP's text projection."""
    import json

    import torch

    from curate.models.clip import load_open_clip
    from tests.capfilt_models import TINY_COCA

    cfg_path = tmp_path / "test-coca-init.json"
    cfg_path.write_text(json.dumps(TINY_COCA))
    torch.manual_seed(0)
    proj = load_open_clip(str(cfg_path), "", "cpu").model.text_decoder.text_projection
    width = TINY_COCA["multimodal_cfg"]["width"]
    assert torch.isfinite(proj).all()
    assert abs(proj.std().item() - width**-0.5) < 0.2 * width**-0.5
