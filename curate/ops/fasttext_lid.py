"""fastText's supervised prediction (the top label), compiled, for whole Arrow batches.

The filter's language identifier is fastText's ``lid.176.ftz``. ``fasttext-predict`` runs
it one Python call per text (its list form returns no probabilities), which was a tenth of
the text stage's worker time at 1M pairs (``benchmarks/results/pyspy_1m_2026-12-03.txt``).
This module reads the same model file and computes the same prediction over a batch's UTF-8
bytes in one numba call, following fastText 0.9.2 (``fasttext-predict``'s sources) step by
step, so that the label and the probability are the same floats, not merely close:

- a line is split into tokens at the bytes `` \\n\\r\\t\\v\\f\\0`` and ends with the
  end-of-sentence token ``</s>`` (fastText's Python ``predict`` appends a newline); a token
  equal to ``</s>`` ends the line early;
- a token in the dictionary adds its own row and the rows of its character n-grams (computed
  once at load); a token that is not adds the rows of the n-grams of ``<token>`` (``minn`` to
  ``maxn`` UTF-8 characters, hashed with fastText's FNV-1a over *signed* bytes, modulo
  ``bucket``, kept only where the pruned model kept that bucket); a token that starts with
  ``__label__`` adds nothing;
- the hidden vector is the float32 sum of those rows, in that order (a quantized row is its
  sub-quantizers' centroids times its quantized norm, each product rounded to float32 as
  fastText's ``addcode`` does), multiplied by ``float32(1.0 / rows)``;
- hierarchical softmax: fastText's Huffman tree over the label counts, walked depth first
  (left child first) with its pruning, each node's probability ``1 / (1 + expf(-dot))``
  (float32 dot products in row order), each step adding ``float32(log(p + 1e-5))``; the top
  leaf's score ``s`` gives the probability ``expf(s)`` (at most 1, as the filter reads it);
  a later leaf with an equal score wins, as in fastText's heap.

``tests/unit/test_fasttext_lid.py`` checks labels and probabilities for bit equality against
``fasttext-predict`` on the sample pool, generated captions and edge cases (labels in the
text, ``</s>``, control bytes, non-Latin scripts). Models this module does not implement
(another loss, word n-grams > 1) raise ``UnsupportedModel``; the caller then uses
``fasttext-predict``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct

import numpy as np
import pyarrow as pa
from numba import njit

MAGIC = 793712314
VERSIONS = (11, 12)
EOS = b"</s>"
LABEL_PREFIX = b"__label__"
KSUB = 256  # centroids per sub-quantizer (fastText's ProductQuantizer::ksub_)
LOSS_HS = 1
MODEL_SUP = 3


class UnsupportedModel(ValueError):
    """A fastText model this module does not compute (the caller falls back to fastText)."""


@dataclasses.dataclass(frozen=True)
class Model:
    """A supervised fastText model as arrays: the dictionary (words' UTF-8 bytes, types, an
    open-addressing table from FNV hash to entry), each entry's input rows, the kept n-gram
    buckets, the input rows (dequantized, float32), the output rows and the Huffman tree."""

    labels: tuple[str, ...]  # without the __label__ prefix
    nwords: int
    minn: int
    maxn: int
    bucket: int
    word_bytes: np.ndarray  # uint8, every entry's bytes one after the other
    word_offsets: np.ndarray  # int64, size + 1
    word_types: np.ndarray  # int8: 0 word, 1 label
    table: np.ndarray  # int32, power-of-two size, -1 empty, else an entry id
    subword_offsets: np.ndarray  # int64, size + 1
    subword_rows: np.ndarray  # int32: an entry's input rows (its own, then its n-grams')
    prune: np.ndarray  # int32 (slots, 2): kept bucket -> input row - nwords, open addressing
    pruned: int  # fastText's pruneidx_size: -1 every bucket kept (no table), 0 none, else the table's
    input_rows: np.ndarray  # float32 (rows, dim)
    output_rows: np.ndarray  # float32 (labels, dim): dense; or the quantized form below
    output_codes: np.ndarray  # uint8 (labels, nsubq) when the output is quantized, else (0, 0)
    output_centroids: np.ndarray  # float32 (nsubq, KSUB, dsub) for a quantized output
    output_norms: np.ndarray  # float32 per label row (1.0 without quantized norms)
    tree_left: np.ndarray  # int32, 2 * labels - 1 nodes, -1 for a leaf
    tree_right: np.ndarray


class _Reader:
    """Little-endian values read one after the other from a model file's bytes; a read past
    the end is a ValueError naming the file and where it ended."""

    def __init__(self, buf: bytes, path: str):
        self.buf, self.pos, self.path = buf, 0, path

    def _need(self, size: int) -> None:
        if self.pos + size > len(self.buf):
            raise ValueError(f"{self.path}: not a whole fastText model (ends early at byte {len(self.buf)})")

    def take(self, fmt: str):
        self._need(struct.calcsize("<" + fmt))
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        self._need(np.dtype(dtype).itemsize * count)
        out = np.frombuffer(self.buf, dtype, count, self.pos).copy()
        self.pos += out.nbytes
        return out

    def cstring(self) -> bytes:
        end = self.buf.find(b"\0", self.pos)
        if end < 0:
            self._need(len(self.buf) + 1)
        out = self.buf[self.pos : end]
        self.pos = end + 1
        return out


def fnv(data: bytes) -> int:
    """fastText's Dictionary::hash: FNV-1a over the bytes read as signed chars."""
    h = 2166136261
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * 16777619) & 0xFFFFFFFF
    return h


def _product_quantizer(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.take("iiii")
    return dim, nsubq, dsub, lastdsub, r.array(np.float32, dim * KSUB)


def _centroids(nsubq: int, dsub: int, lastdsub: int, flat: np.ndarray) -> np.ndarray:
    """(nsubq, KSUB, dsub) centroids as ProductQuantizer::get_centroids addresses them (the
    last sub-quantizer has `lastdsub` dimensions; padded with zeros)."""
    out = np.zeros((nsubq, KSUB, dsub), np.float32)
    for m in range(nsubq):
        d = lastdsub if m == nsubq - 1 else dsub
        out[m, :, :d] = flat[m * KSUB * dsub : m * KSUB * dsub + KSUB * d].reshape(KSUB, d)
    return out


def _matrix(r: _Reader, quantized: bool):
    """A DenseMatrix or QuantMatrix: (dense rows or None, codes, centroids, norms, dims)."""
    if not quantized:
        m, n = r.take("qq")
        return r.array(np.float32, m * n).reshape(m, n), None, None, None, (n, 0, 0, 0)
    qnorm = r.take("?")
    m, n = r.take("qq")
    codesize = r.take("i")
    codes = r.array(np.uint8, codesize)
    dim, nsubq, dsub, lastdsub, flat = _product_quantizer(r)
    if dim != n or codesize != m * nsubq:
        raise ValueError(f"fastText model: quantized matrix {m}x{n} with {codesize} codes of dim {dim}")
    norms = np.ones(m, np.float32)
    if qnorm:
        norm_codes = r.array(np.uint8, m)
        _, _, _, _, norm_flat = _product_quantizer(r)  # one sub-quantizer of one dimension
        norms = norm_flat[norm_codes]
    centroids = _centroids(nsubq, dsub, lastdsub, flat)
    return None, codes.reshape(m, nsubq), centroids, norms, (n, nsubq, dsub, lastdsub)


def _dequantized(codes: np.ndarray, centroids: np.ndarray, norms: np.ndarray, dims) -> np.ndarray:
    """Each row as QuantMatrix::addRowToVector adds it: norm * centroid, rounded to float32
    per element (``x[i] += alpha * c[n]`` in float)."""
    n, nsubq, dsub, lastdsub = dims
    rows = np.zeros((codes.shape[0], n), np.float32)
    for m in range(nsubq):
        d = lastdsub if m == nsubq - 1 else dsub
        rows[:, m * dsub : m * dsub + d] = norms[:, None] * centroids[m, codes[:, m], :d]
    return rows


def huffman_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HierarchicalSoftmaxLoss::buildTree: (left, right) child per node, -1 at leaves; the
    counts are the labels' in dictionary order (most frequent first)."""
    osz = len(counts)
    count = np.full(2 * osz - 1, 10**15, np.int64)
    count[:osz] = counts
    left = np.full(2 * osz - 1, -1, np.int32)
    right = np.full(2 * osz - 1, -1, np.int32)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j], leaf = leaf, leaf - 1
            else:
                mini[j], node = node, node + 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


def _bucket_table(pairs: np.ndarray) -> np.ndarray:
    """The pruned model's kept buckets as an open-addressing table of (bucket, row - nwords),
    a quarter full: ~1 MB for lid.176's 42,765 where a dense array over 2M buckets is 8 MB
    (each n-gram's lookup then missed the cache)."""
    size = 1
    while size < 4 * len(pairs):
        size *= 2
    table = np.full((size, 2), -1, np.int32)
    for b, row in pairs.tolist():
        slot = b & (size - 1)
        while table[slot, 0] != -1:
            slot = (slot + 1) & (size - 1)
        table[slot] = b, row
    return table


def _table(words: list[bytes]) -> np.ndarray:
    size = 1
    while size < 2 * len(words):
        size *= 2
    table = np.full(size, -1, np.int32)
    for i, w in enumerate(words):
        slot = fnv(w) & (size - 1)
        while table[slot] != -1:
            slot = (slot + 1) & (size - 1)
        table[slot] = i
    return table


@functools.lru_cache(maxsize=4)
def load(path: str) -> Model:
    """The model at `path` (a fastText ``.bin`` or ``.ftz``), for ``predict``."""
    with open(path, "rb") as f:
        r = _Reader(f.read(), path)
    magic, version = r.take("ii")
    if magic != MAGIC or version not in VERSIONS:
        raise ValueError(f"{path}: not a fastText model (magic {magic}, version {version})")
    dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_rate = r.take("iiiiiiiiiiii")
    r.take("d")  # sampling threshold t
    if version == 11 and model == MODEL_SUP:
        maxn = 0  # fastText: old supervised models have no character n-grams
    if model != MODEL_SUP or loss != LOSS_HS or word_ngrams > 1:
        raise UnsupportedModel(
            f"{path}: model {model}, loss {loss}, wordNgrams {word_ngrams}: only supervised"
            " hierarchical-softmax models with wordNgrams 1 are compiled here"
        )
    size, nwords, nlabels = r.take("iii")
    _ntokens, pruneidx_size = r.take("qq")
    words, counts, types = [], [], []
    for _ in range(size):
        words.append(r.cstring())
        counts.append(r.take("q"))
        types.append(r.take("b"))
    pairs = r.array(np.int32, 2 * max(pruneidx_size, 0)).reshape(-1, 2)
    prune = _bucket_table(pairs)
    quant_input = r.take("?")
    dense, codes, centroids, norms, dims = _matrix(r, quant_input)
    input_rows = dense if dense is not None else _dequantized(codes, centroids, norms, dims)
    qout = r.take("?")
    out_dense, out_codes, out_centroids, out_norms, _ = _matrix(r, quant_input and qout)
    if input_rows.shape[1] != dim or (out_dense if out_dense is not None else out_codes).shape[0] != nlabels:
        raise ValueError(f"{path}: matrices do not match dim {dim} and {nlabels} labels")
    if out_dense is None:
        out_dense = np.zeros((nlabels, dim), np.float32)
    else:
        out_codes, out_centroids = np.zeros((0, 0), np.uint8), np.zeros((0, KSUB, 1), np.float32)
        out_norms = np.ones(nlabels, np.float32)

    tree_left, tree_right = huffman_tree(np.array(counts[nwords:], np.int64))
    word_offsets = np.zeros(size + 1, np.int64)
    np.cumsum([len(w) for w in words], out=word_offsets[1:])
    word_bytes = np.frombuffer(b"".join(words), np.uint8).copy()
    model_ = Model(
        labels=tuple(w.removeprefix(LABEL_PREFIX).decode("utf-8") for w in words[nwords:]),
        nwords=nwords,
        minn=minn,
        maxn=maxn,
        bucket=bucket,
        word_bytes=word_bytes,
        word_offsets=word_offsets,
        word_types=np.array(types, np.int8),
        table=_table(words),
        subword_offsets=np.zeros(size + 1, np.int64),
        subword_rows=np.zeros(0, np.int32),
        prune=prune,
        pruned=int(np.sign(pruneidx_size)),
        input_rows=np.ascontiguousarray(input_rows, np.float32),
        output_rows=np.ascontiguousarray(out_dense, np.float32),
        output_codes=np.ascontiguousarray(out_codes),
        output_centroids=np.ascontiguousarray(out_centroids, np.float32),
        output_norms=np.ascontiguousarray(out_norms, np.float32),
        tree_left=tree_left,
        tree_right=tree_right,
    )
    return _with_subwords(model_, words)


def _scratch(longest: int, maxn: int) -> np.ndarray:
    """Room for the n-gram rows of a token of `longest` bytes: each of the ``longest + 2``
    positions of ``<token>`` starts at most `maxn` n-grams."""
    return np.empty((longest + 2) * max(maxn, 1), np.int32)


def _with_subwords(model: Model, words: list[bytes]) -> Model:
    """Dictionary::initNgrams: each entry's rows, its own id then its n-grams' (none for
    ``</s>``), computed by the same compiled n-gram code as unknown tokens."""
    offsets = np.zeros(len(words) + 1, np.int64)
    rows: list[np.ndarray] = []
    m = model
    scratch = _scratch(max((len(w) for w in words), default=0), m.maxn)
    for i, w in enumerate(words):
        own = np.array([i], np.int32)
        if w == EOS or m.maxn <= 0:
            rows.append(own)
        else:
            w_bytes = np.frombuffer(w, np.uint8)
            n = ngram_rows(w_bytes, 0, len(w), m.minn, m.maxn, m.bucket, m.prune, m.pruned, m.nwords, scratch)
            rows.append(np.concatenate([own, scratch[:n]]))
        offsets[i + 1] = offsets[i] + len(rows[-1])
    return dataclasses.replace(model, subword_offsets=offsets, subword_rows=np.concatenate(rows) if rows else np.zeros(0, np.int32))


def predict(model: Model, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(label index, probability) of the top label per text, as fastText's ``predict(text,
    k=1)`` gives them for the text with its newlines and carriage returns made spaces; -1 and
    NaN where the text gives fastText no input row (or is null)."""
    from curate.ops.textdup import utf8_ranges

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    data, starts, ends = utf8_ranges(texts)
    labels = np.full(len(texts), -1, np.int32)
    probs = np.full(len(texts), np.nan, np.float32)
    scratch = _scratch(int((ends - starts).max(initial=0)), model.maxn)
    predict_kernel(
        data, np.ascontiguousarray(starts), np.ascontiguousarray(ends),
        model.word_bytes, model.word_offsets, model.word_types, model.table,
        model.subword_offsets, model.subword_rows, model.prune, model.pruned, model.nwords,
        model.minn, model.maxn, model.bucket, model.input_rows,
        model.output_rows, model.output_codes, model.output_centroids, model.output_norms,
        model.tree_left, model.tree_right, scratch, labels, probs,
    )  # fmt: skip
    if texts.null_count:
        nulls = np.asarray(texts.is_null())
        labels[nulls], probs[nulls] = -1, np.nan
    return labels, probs


@njit(cache=True, nogil=True)
def _fnv_step(h, c):
    """One byte of fastText's FNV-1a (``fnv``): the byte sign-extended, as a signed char."""
    x = np.uint64(c) | np.uint64(0xFFFFFF00) if c >= 0x80 else np.uint64(c)
    return ((h ^ x) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _add_rows(hidden, input_rows, rows, lo, hi):
    """hidden += input_rows[rows[k]] for k in lo..hi-1, in that order (float32); how many."""
    for k in range(lo, hi):
        r = rows[k]
        for d in range(hidden.size):
            hidden[d] += input_rows[r, d]
    return hi - lo


@njit(cache=True, nogil=True)
def ngram_rows(data, start, end, minn, maxn, bucket, prune, pruned, nwords, out):
    """Dictionary::computeSubwords + pushHash over ``<`` + data[start:end] + ``>``: writes
    the kept n-grams' input rows to out, returns how many."""
    size = end - start + 2  # with the word's boundary marks
    count = 0
    for i in range(size):
        c = 0x3C if i == 0 else (0x3E if i == size - 1 else data[start + i - 1])
        if (c & 0xC0) == 0x80:
            continue
        h = np.uint64(2166136261)
        j = i
        n = 1
        while j < size and n <= maxn:
            while True:  # one UTF-8 character: its lead byte, then its continuation bytes
                c = 0x3C if j == 0 else (0x3E if j == size - 1 else data[start + j - 1])
                h = _fnv_step(h, c)
                j += 1
                if j >= size:
                    break
                c = 0x3C if j == 0 else (0x3E if j == size - 1 else data[start + j - 1])
                if (c & 0xC0) != 0x80:
                    break
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                b = np.int64(h % np.uint64(bucket))
                if pruned < 0:  # every bucket kept
                    out[count] = nwords + b
                    count += 1
                elif pruned > 0:
                    mask = prune.shape[0] - 1
                    slot = b & mask
                    while prune[slot, 0] != -1 and prune[slot, 0] != b:
                        slot = (slot + 1) & mask
                    if prune[slot, 0] == b:
                        out[count] = nwords + prune[slot, 1]
                        count += 1
            n += 1
    return count


@njit(cache=True, nogil=True)
def _is_space(b):
    return b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09 or b == 0x0B or b == 0x0C or b == 0x00


@njit(cache=True, nogil=True)
def _std_log(x):  # fastText's std_log(real x): log(x + 1e-5) in double, back to float
    return np.float32(math.log(np.float64(x) + 1e-5))


@njit(cache=True, nogil=True)
def _find(data, start, end, word_bytes, word_offsets, table):
    """The dictionary entry whose bytes are data[start:end], or -1."""
    h = np.uint64(2166136261)
    for k in range(start, end):
        h = _fnv_step(h, data[k])
    mask = table.size - 1
    slot = np.int64(h & np.uint64(mask))
    while table[slot] != -1:
        w = table[slot]
        a, b = word_offsets[w], word_offsets[w + 1]
        if b - a == end - start:
            same = True
            for k in range(b - a):
                if word_bytes[a + k] != data[start + k]:
                    same = False
                    break
            if same:
                return w
        slot = (slot + 1) & mask
    return -1


@njit(cache=True, nogil=True)
def _is_eos(data, start, end):  # "</s>"
    return (
        end - start == 4 and data[start] == 0x3C and data[start + 1] == 0x2F and data[start + 2] == 0x73
        and data[start + 3] == 0x3E
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _has_label_prefix(data, start, end):  # "__label__"
    if end - start < 9:
        return False
    prefix = (0x5F, 0x5F, 0x6C, 0x61, 0x62, 0x65, 0x6C, 0x5F, 0x5F)
    for k in range(9):
        if data[start + k] != prefix[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def predict_kernel(
    data, starts, ends, word_bytes, word_offsets, word_types, table, subword_offsets,
    subword_rows, prune, pruned, nwords, minn, maxn, bucket, input_rows, output_rows,
    output_codes, output_centroids, output_norms, tree_left, tree_right, scratch,
    labels, probs,
):  # fmt: skip
    dim = input_rows.shape[1]
    osz = output_rows.shape[0]
    quantized_output = output_codes.shape[0] > 0
    nsubq = output_codes.shape[1]
    dsub = output_centroids.shape[2]
    hidden = np.zeros(dim, np.float32)
    stack_node = np.empty(2 * osz, np.int64)
    stack_score = np.empty(2 * osz, np.float32)
    floor = _std_log(np.float32(0.0))  # fastText's std_log(threshold), threshold 0
    eos_id = _find(np.array([0x3C, 0x2F, 0x73, 0x3E], np.uint8), 0, 4, word_bytes, word_offsets, table)
    one = np.float32(1.0)
    for t in range(starts.size):
        hidden[:] = 0
        rows = 0
        x, e = starts[t], ends[t]
        ended = False  # a "</s>" token in the text ends the line
        while x < e and not ended:
            while x < e and _is_space(data[x]):
                x += 1
            if x >= e:
                break
            s = x
            while x < e and not _is_space(data[x]):
                x += 1
            w = _find(data, s, x, word_bytes, word_offsets, table)
            ended = _is_eos(data, s, x)
            if w >= 0:
                if word_types[w] == 0:
                    rows += _add_rows(hidden, input_rows, subword_rows, subword_offsets[w], subword_offsets[w + 1])
            elif not ended and not _has_label_prefix(data, s, x) and maxn > 0:
                n = ngram_rows(data, s, x, minn, maxn, bucket, prune, pruned, nwords, scratch)
                rows += _add_rows(hidden, input_rows, scratch, 0, n)
        if not ended and eos_id >= 0 and word_types[eos_id] == 0:  # the line's end
            rows += _add_rows(hidden, input_rows, subword_rows, subword_offsets[eos_id], subword_offsets[eos_id + 1])
        if rows == 0:
            continue  # fastText predicts nothing
        scale = np.float32(1.0 / rows)
        for d in range(dim):
            hidden[d] *= scale
        # depth first, left child first, pruned as fastText's dfs with k = 1
        best_node = -1
        best = np.float32(0.0)
        stack_node[0] = 2 * osz - 2
        stack_score[0] = np.float32(0.0)
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            score = stack_score[top]
            if score < floor:
                continue
            if best_node >= 0 and score < best:
                continue
            if tree_left[node] == -1 and tree_right[node] == -1:
                best, best_node = score, node
                continue
            row = node - osz
            f = np.float32(0.0)
            if quantized_output:
                for m in range(nsubq):
                    for d in range(dsub):
                        if m * dsub + d < dim:
                            f += hidden[m * dsub + d] * output_centroids[m, output_codes[row, m], d]
                f = f * output_norms[row]
            else:
                for d in range(dim):
                    f += output_rows[row, d] * hidden[d]
            f = np.float32(1.0 / (one + np.exp(-f)))
            stack_node[top] = tree_right[node]
            stack_score[top] = score + _std_log(f)
            stack_node[top + 1] = tree_left[node]
            stack_score[top + 1] = score + _std_log(np.float32(1.0 - np.float64(f)))
            top += 2
        labels[t] = best_node
        probs[t] = min(np.exp(best), one)
