"""Text curation rules as pure functions: DataComp's basic text rule, language id, and
MetaCLIP's substring matching of alt-texts against a query list.

Reasons (the ``reason`` column of a removed record), checked in this order, first one wins:

- ``too_few_words``: fewer than ``min_words`` white-space separated words (DataComp basic:
  more than 2 words)
- ``too_short``: fewer than ``min_chars`` characters (DataComp basic: more than 5)
- ``language``: the detected language is not in ``languages`` with confidence at least
  ``min_lang_score`` (detail: ``lang=de score=0.93``). py3langid's normalised scores on
  the 3,000-row sample pool: at 0.5, 83% of its non-English captions are removed and 1.7%
  of clean English ones; at 0.3, 96% and 5.1%; at 0.0 (any non-English guess), 100% and
  27% (short alt-texts such as "grinning face emoji" are often guessed as another language)
- ``no_match``: no query-list entry occurs in the text under MetaCLIP's rule

MetaCLIP's rule (``metaclip/substr_matching.py`` in facebookresearch/MetaCLIP): the text is
padded with one space on each side, each of ``, . ; : ? ! ``` gets a space on both sides,
then tabs, newlines and carriage returns become spaces (in that order); entry ``e`` matches
when ``" " + e + " "`` occurs in that string, case-sensitively. Matches may share their
padding spaces ("red car" and "car park" both match " red car park "), so the automaton must
report overlapping matches (pyahocorasick's ``iter`` does). One deviation, for safety: the
empty entry is never matched (under the literal rule it would match every double space).
"""

from __future__ import annotations

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

    Building takes ~0.2 s per 300K entries: build once per worker (``DoFn.setup``).
    Duplicate entries in the list all match (each id is reported)."""

    def __init__(self, entries: list[str]):
        import ahocorasick

        ids_by_key: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            if e:
                ids_by_key.setdefault(f" {e} ", []).append(i)
        self.automaton = ahocorasick.Automaton()
        for key, ids in ids_by_key.items():
            self.automaton.add_word(key, ids[0] if len(ids) == 1 else tuple(ids))
        self.num_entries = len(entries)
        self.empty = not ids_by_key
        if not self.empty:
            self.automaton.make_automaton()

    def match_spaced(self, spaced: str) -> list[int]:
        if self.empty:
            return []
        found = set()
        for _, ids in self.automaton.iter(spaced):
            if isinstance(ids, int):
                found.add(ids)
            else:
                found.update(ids)
        return sorted(found)

    def match(self, text: str) -> list[int]:
        return self.match_spaced(spacing(text))

    def match_array(self, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        """list<int32> of matched entry ids per text (null text → empty list)."""
        spaced = spacing_array(texts).to_pylist()
        return pa.array(
            [self.match_spaced(s) if s is not None else [] for s in spaced],
            pa.list_(pa.int32()),
        )


def word_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """White-space separated words per text (Python's ``str.split()``), 0 for null."""
    return np.fromiter(
        (len(t.split()) if t is not None else 0 for t in texts.to_pylist()),
        dtype=np.int32,
        count=len(texts),
    )


class LanguageId:
    """py3langid's bundled model with probabilities normalised to [0, 1]."""

    def __init__(self):
        from py3langid import langid

        self.identifier = langid.LanguageIdentifier.from_model_file(
            langid.MODEL_FILE, norm_probs=True
        )

    def classify(self, texts: list[str | None]) -> tuple[list[str | None], np.ndarray]:
        langs, scores = [], np.zeros(len(texts), dtype=np.float32)
        for i, t in enumerate(texts):
            if t is None or not t.strip():
                langs.append(None)
                scores[i] = math.nan
                continue
            lang, score = self.identifier.classify(t)
            langs.append(lang)
            scores[i] = score
        return langs, scores


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
