"""curate.ops.fasttext_lid gives fastText's own prediction, bit for bit: the label and the
float32 probability equal ``fasttext-predict``'s (the reference, run text by text) on the
sample pool's captions, generated captions in several scripts with control bytes, edge cases
of fastText's line reading, and small random models written here that take the paths
lid.176.ftz does not (dense and quantized matrices, a quantized output, an unpruned
dictionary, a last sub-quantizer narrower than the others)."""

from __future__ import annotations

import random
import struct

import numpy as np
import pyarrow as pa
import pytest

from curate.ops import fasttext_lid
from curate.ops.text_filter import FastTextLanguageId, lid176_file

EDGE_CASES = [
    "a red car parked on the street at night",
    "__label__en hello world",  # a label in the text: not an input word
    "__label__xx unknown label prefix",  # an unknown one: no n-grams either
    "hello </s> bonjour tout le monde",  # "</s>" ends fastText's line
    "</s>",
    "x",
    "  \t\x00 tab\x0bvertical\x0cform ",
    "line one\nline two\r\nline three",  # newlines are spaces (fastText reads one line)
    "Привет мир как дела",
    "这是一个测试 的 句子",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "emoji 😀😃 and ZWJ 👩‍👩‍👧 sequences",
    "\u00a0non-breaking\u2028separators\u3000ideographic",
    "é" * 300,
    "ab",
]

SCRIPTS = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x400, 0x4FF), range(0x4E00, 0x4FFF),
           range(0x600, 0x6FF), range(0x900, 0x97F), [0, 9, 10, 11, 12, 13, 0x85, 0x2028, 0x3000],
           range(0x1F600, 0x1F64F)]  # fmt: skip


def _fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, 40)
        out.append("".join(chr(rng.choice(rng.choice(SCRIPTS))) for _ in range(k)))
    return out


def _reference(model, texts: list[str]) -> tuple[list[str | None], np.ndarray]:
    """fasttext-predict one text at a time (newlines as spaces, as the filter passes them)."""
    labels, probs = [], np.full(len(texts), np.nan, np.float32)
    for i, t in enumerate(texts):
        got = model.predict(t.replace("\n", " ").replace("\r", " "), k=1)
        if len(got[0]):
            labels.append(got[0][0].removeprefix("__label__"))
            probs[i] = min(float(got[1][0]), 1.0)
        else:
            labels.append(None)
    return labels, probs


def _assert_same(compiled: fasttext_lid.Model, reference, texts: list[str]) -> None:
    label, prob = fasttext_lid.predict(compiled, pa.array(texts, pa.string()))
    names = [compiled.labels[k] if k >= 0 else None for k in label]
    want_names, want_prob = _reference(reference, texts)
    bad = [(t, names[i], prob[i], want_names[i], want_prob[i]) for i, t in enumerate(texts)
           if names[i] != want_names[i] or not (prob[i] == want_prob[i] or (np.isnan(prob[i]) and np.isnan(want_prob[i])))]  # fmt: skip
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:3]}"


@pytest.fixture(scope="module")
def lid176():
    import fasttext

    return fasttext_lid.load(lid176_file()), fasttext.load_model(lid176_file())


def test_lid176_matches_fasttext_bit_for_bit(lid176):
    from tests.unit.test_match import _sample_texts

    compiled, reference = lid176
    assert len(compiled.labels) == 176 and compiled.input_rows.shape == (50000, 16)
    texts = EDGE_CASES + _sample_texts() + _fuzz(20000, seed=5)
    _assert_same(compiled, reference, texts)


def test_lid176_on_chunked_sliced_and_null_input(lid176):
    compiled, _ = lid176
    texts = EDGE_CASES * 3
    whole_label, whole_prob = fasttext_lid.predict(compiled, pa.array(texts, pa.large_string()))
    chunked = pa.chunked_array([pa.array(texts[:5]), pa.array(texts[5:])])
    label, prob = fasttext_lid.predict(compiled, chunked)
    assert label.tolist() == whole_label.tolist() and prob.tobytes() == whole_prob.tobytes()
    sliced = pa.array([None, *texts, None]).slice(1, len(texts))
    label, prob = fasttext_lid.predict(compiled, sliced)
    assert label.tolist() == whole_label.tolist() and prob.tobytes() == whole_prob.tobytes()
    label, prob = fasttext_lid.predict(compiled, pa.array([None, "a dog"]))
    assert label[0] == -1 and np.isnan(prob[0]) and label[1] >= 0


def test_identifier_batches_equal_its_reference_path(lid176):
    """FastTextLanguageId's compiled batches equal its own per-text fasttext-predict path,
    None/NaN for null and blank texts included."""
    ident = FastTextLanguageId()
    texts = [*EDGE_CASES, None, "", "   ", "\u3000\u00a0"]
    langs, scores = ident.classify(texts)
    for i, t in enumerate(texts):
        if t is None or not t.strip():
            assert langs[i] is None and np.isnan(scores[i])
        else:
            assert (langs[i], scores[i]) == (ident.classify_one(t)[0], np.float32(ident.classify_one(t)[1]))


def test_huffman_tree_is_fasttexts():
    """buildTree on counts worked through by hand: the two rarest merge first, and a leaf
    is taken before a node only when its count is smaller."""
    left, right = fasttext_lid.huffman_tree(np.array([5, 3, 2, 2]))
    # leaves 0..3; node 4 = (3, 2) count 4; node 5 = (1, 4) count 7; node 6 = (0, 5) count 12
    assert left.tolist()[4:] == [3, 1, 0] and right.tolist()[4:] == [2, 4, 5]
    assert (left[:4] == -1).all() and (right[:4] == -1).all()


def test_fnv_is_fasttexts_signed_byte_hash():
    # FNV-1a with each byte sign-extended (fastText's Dictionary::hash): differs from the
    # unsigned variant exactly where a byte is >= 0x80
    assert fasttext_lid.fnv(b"") == 2166136261
    assert fasttext_lid.fnv(b"a") == 0xE40C292C  # the published FNV-1a of "a"
    unsigned = ((2166136261 ^ 0xE9) * 16777619) & 0xFFFFFFFF
    assert fasttext_lid.fnv(b"\xe9") != unsigned
    assert fasttext_lid.fnv(b"\xe9") == ((2166136261 ^ 0xFFFFFFE9) * 16777619) & 0xFFFFFFFF


# --- small random models in fastText's file format, for the paths lid.176.ftz does not take


def _pq(rng, dim: int, dsub: int) -> tuple[bytes, int]:
    nsubq, lastdsub = dim // dsub, dim % dsub
    if lastdsub == 0:
        lastdsub = dsub
    else:
        nsubq += 1
    centroids = rng.normal(0, 0.5, dim * fasttext_lid.KSUB).astype(np.float32)
    return struct.pack("<iiii", dim, nsubq, dsub, lastdsub) + centroids.tobytes(), nsubq


def _matrix(rng, m: int, n: int, quantized: bool, qnorm: bool, dsub: int = 2, scale: float = 0.5) -> bytes:
    if not quantized:
        return struct.pack("<qq", m, n) + rng.normal(0, scale, m * n).astype(np.float32).tobytes()
    pq, nsubq = _pq(rng, n, dsub)
    codes = rng.integers(0, 256, m * nsubq, dtype=np.uint8)
    out = struct.pack("<?qqi", qnorm, m, n, m * nsubq) + codes.tobytes() + pq
    if qnorm:
        out += rng.integers(0, 256, m, dtype=np.uint8).tobytes()
        out += struct.pack("<iiii", 1, 1, 1, 1) + rng.uniform(0.5, 2, 256).astype(np.float32).tobytes()
    return out


def write_model(path, seed: int, *, dim=5, bucket=997, minn=2, maxn=3, keep: int | None = 300,
                quant=True, qout=False, qnorm=True, loss=1, word_ngrams=1, output_scale=0.5) -> None:  # fmt: skip
    """A supervised fastText model with random weights: 6 words (``</s>`` among them), 7
    labels, `keep` kept n-gram buckets (None: not pruned, every bucket a row); a dense output
    with `output_scale` 0 is all zeros (every node's probability 1/2: leaves at one depth tie)."""
    rng = np.random.default_rng(seed)
    words = [("</s>", 50), ("the", 40), ("dog", 9), ("café", 7), ("кот", 5), ("猫", 3)]
    labels = [(f"__label__l{k}", c) for k, c in enumerate([30, 20, 20, 9, 4, 2, 1])]
    out = struct.pack("<ii", fasttext_lid.MAGIC, 12)
    out += struct.pack("<12i", dim, 5, 5, 1, 5, word_ngrams, loss, 3, bucket, minn, maxn, 100) + struct.pack("<d", 1e-4)
    entries = [(w, c, 0) for w, c in words] + [(w, c, 1) for w, c in labels]
    kept = sorted(rng.choice(bucket, keep, replace=False).tolist()) if keep is not None else []
    out += struct.pack("<iiiqq", len(entries), len(words), len(labels), 1000, -1 if keep is None else keep)
    for w, c, t in entries:
        out += w.encode() + b"\0" + struct.pack("<qb", c, t)
    for row, b in enumerate(rng.permutation(kept).tolist()):
        out += struct.pack("<ii", b, row)
    rows = len(words) + (bucket if keep is None else keep)
    out += struct.pack("<?", quant) + _matrix(rng, rows, dim, quant, qnorm)
    out += struct.pack("<?", qout) + _matrix(rng, len(labels), dim, quant and qout, qnorm, scale=output_scale)
    path.write_bytes(out)


MODELS = {
    "quantized, pruned": {},
    "quantized output": {"qout": True},
    "quantized without norms": {"qnorm": False, "qout": True},
    "dense, not pruned": {"quant": False, "keep": None},
    "dense, n-grams 1-4": {"quant": False, "keep": None, "minn": 1, "maxn": 4},
    "no n-grams": {"maxn": 0, "minn": 0},
    "every bucket pruned away": {"keep": 0},
    "even dimensions": {"dim": 8, "qout": True},
    "tied leaves (fastText keeps the later)": {"output_scale": 0.0},
}


@pytest.mark.parametrize("name", MODELS)
def test_random_models_match_fasttext(tmp_path, name):
    import fasttext

    path = tmp_path / "m.bin"
    write_model(path, seed=len(name), **MODELS[name])
    texts = EDGE_CASES + ["the dog", "café кот 猫 the", "dogs and cats"] + _fuzz(3000, seed=len(name))
    _assert_same(fasttext_lid.load(str(path)), fasttext.load_model(str(path)), texts)


@pytest.mark.parametrize("kind", [{"loss": 3}, {"word_ngrams": 2}])
def test_models_not_compiled_fall_back_to_fasttext(tmp_path, kind):
    path = tmp_path / "m.bin"
    write_model(path, seed=1, **kind)
    with pytest.raises(fasttext_lid.UnsupportedModel):
        fasttext_lid.load(str(path))
    ident = FastTextLanguageId(str(path))
    assert ident.compiled is None
    langs, scores = ident.classify(["the dog", None, "café кот"])
    assert langs[1] is None and langs[0].startswith("l") and 0 < scores[0] <= 1


def test_not_a_model_is_refused(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a fastText model"):
        fasttext_lid.load(str(path))
    write_model(path, seed=1)
    path.write_bytes(path.read_bytes()[:-100])  # cut short inside the output matrix
    with pytest.raises(ValueError, match="not a whole fastText model"):
        fasttext_lid.load(str(path))
