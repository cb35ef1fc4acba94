"""When are two alt-texts the same caption? A rule that respects content words.

Character-shingle Jaccard alone cannot tell a re-post from a different product on short
alt-texts: "red Nike Air Max 90 running shoe" / "blue Nike Air Max 90 running shoe" are at
J = 0.79, "Black T-shirt size M" / "... size XL" at 0.84, "handwritten digit four" / "...
five" at 0.74. What a re-post changes is the form (case, punctuation, a typo, a dropped
function word, phrase order, a site name appended); what a different item changes is a
content word (a colour, a size, a number, a name, a species). So two texts are
near-duplicates (``near_duplicate``) when, after lower-casing and splitting into ``\\w+``
tokens:

1. every content token (not a stop word) of one text is in the other, or pairs with a
   token of the other that differs from it by one typo (Damerau-Levenshtein distance 1,
   both alphabetic and at least ``MIN_TYPO_CHARS`` long: "shoe"/"shoes" is a typo-sized
   difference, "M"/"XL", "8"/"9" and "four"/"five" are not); and
2. what is left over is on one side only and lies in a trailing *segment* of that text (the
   part after a separator such as `` | ``, `` - ``, `` :: ``), i.e. a site or shop suffix
   ("red fox | Shutterstock"). A content word left over on both sides is a substitution (a
   swap: different items); one left over inside the main segment is an added detail
   ("red leather shoe" vs "red shoe"), also treated as a different caption.

Stop words (articles, prepositions, conjunctions) are ignored, except negations ("no",
"not", "without"), which change what a caption says.

For LSH, ``lsh_keys`` gives the text(s) to sign: the sorted distinct content tokens of the
whole text and, when it has segments, of its first segment alone, so that "X | site" and
"X" share identical signatures and reordered phrases shingle alike.

The precision and recall of this rule on a labelled set of real captions is measured by
``benchmarks/bench_text_dup.py`` (results in ``benchmarks/results/``).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"\w+")
# A separator between a caption and an appended site/shop/category segment: a pipe or a
# bullet anywhere, a dash, colon-pair or tilde with spaces around it ("T-shirt" is one token).
_SEPARATOR = re.compile(r"\s*[|•·»]\s*|\s+[-–—~]+\s+|\s*::\s*|\s+/\s+")
# Every alternative of _SEPARATOR needs one of these characters: a text without any is one
# segment, and this search costs a fraction of the split (whose \s* tries every position).
_SEPARATOR_CHAR = re.compile(r"[|•·»\-–—~:/]")
MIN_TYPO_CHARS = 4

# Function words: dropping or adding one does not change what a caption shows. Negations
# are left out on purpose.
STOPWORDS = frozenset(
    """a an the and or of in on at to for from by with into onto over under as is are was
    were be been this that these those it its his her their our your my some any very
    just""".split()
)


_APOSTROPHE = re.compile(r"['’`´]")


def tokens(text: str | None) -> list[str]:
    """Lower-cased ``\\w+`` tokens; apostrophes are dropped first ("men's" -> "mens")."""
    return _TOKEN.findall(_APOSTROPHE.sub("", text.lower())) if text else []


def segments(text: str | None) -> list[list[str]]:
    """Token lists of the text's separator-delimited segments (empty segments dropped)."""
    if not text:
        return []
    if _SEPARATOR_CHAR.search(text) is None:
        toks = tokens(text)
        return [toks] if toks else []
    return [t for t in (tokens(s) for s in _SEPARATOR.split(text)) if t]


# A text's segments as one string, its *tokenized form*: stage dedup_text's band rows carry
# it, not the text, and verification reads it in every partition the text lands in (~27 of
# them at 1M generated pairs). Verification needs only each segment's *set* of tokens (the
# content-word rule and the LSH keys are functions of those sets), so a segment is written as
# its distinct content words, sorted, a record separator, then its distinct function words,
# sorted; segments are joined by a unit separator (none of the three is a \w character). A
# one-segment text's LSH key is then a slice of its form (``keys_of_tokenized``): deriving
# the keys in Python was a third of verification at 1M pairs.
_SEGMENT_SEP = "\x1f"
_STOP_SEP = "\x1e"


def tokenized(text: str | None) -> str:
    """The tokenized form of a text (``segments_of_tokenized`` gives back its segments'
    token sets)."""
    return tokenized_segments(segments(text))


def tokenized_segments(segs: list[list[str]]) -> str:
    out = []
    for seg in segs:
        words = set(seg)
        stop = words & STOPWORDS
        out.append(" ".join(sorted(words - stop)) + _STOP_SEP + " ".join(sorted(stop)))
    return _SEGMENT_SEP.join(out)


def segments_of_tokenized(form: str | None) -> list[list[str]]:
    """The segments of a text given in its ``tokenized`` form, each with its distinct tokens
    (content words sorted, then function words sorted): as sets, the text's ``segments``."""
    if not form:
        return []
    out = []
    for seg in form.split(_SEGMENT_SEP):
        words, _, stop = seg.partition(_STOP_SEP)
        out.append((words.split(" ") if words else []) + (stop.split(" ") if stop else []))
    return out


def _one_segment_keys(form: str | None) -> list[str] | None:
    """``lsh_keys`` of a form of at most one segment (its content words, else its function
    words, as they stand in the form); None for a form of several segments."""
    if not form:
        return []
    if _SEGMENT_SEP in form:
        return None
    words, _, stop = form.partition(_STOP_SEP)
    return [words or stop]


def keys_of_tokenized(form: str | None) -> list[str]:
    """``lsh_keys`` of a text given in its ``tokenized`` form: a slice of the form for one
    segment, from the parsed segments for several (``text_parts``, cached)."""
    keys = _one_segment_keys(form)
    return text_parts(form)[1] if keys is None else keys


def keys_of_form_and_segments(form: str, segs: list[list[str]]) -> list[str]:
    """``lsh_keys`` of a text given both as its ``tokenized`` form and as its segments: a
    slice of the form for one segment, from the segments for several."""
    keys = _one_segment_keys(form)
    return lsh_keys_of_segments(segs) if keys is None else keys


def content(toks: list[str]) -> list[str]:
    return [t for t in toks if t not in STOPWORDS]


def lsh_keys(text: str | None) -> list[str]:
    """The strings to MinHash for a text (see the module docstring): one or two, distinct."""
    return lsh_keys_of_segments(segments(text))


def lsh_keys_of_segments(segs: list[list[str]]) -> list[str]:
    """``lsh_keys`` of a text given as its ``segments``."""
    if not segs:
        return []
    whole = sorted(set(content([t for s in segs for t in s]) or [t for s in segs for t in s]))
    keys = [" ".join(whole)]
    if len(segs) > 1:
        first = sorted(set(content(segs[0]) or segs[0]))
        key = " ".join(first)
        if key != keys[0]:
            keys.append(key)
    return keys


def damerau_levenshtein_1(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion, substitution or adjacent
    transposition."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # substitution
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la > lb:
        return a[i + 1 :] == b[i:]
    return a[i:] == b[i + 1 :]


def is_typo(a: str, b: str) -> bool:
    return (
        abs(len(a) - len(b)) <= 1
        and max(len(a), len(b)) >= MIN_TYPO_CHARS
        and min(len(a), len(b)) >= MIN_TYPO_CHARS - 1
        and a.isalpha()
        and b.isalpha()
        and damerau_levenshtein_1(a, b)
    )


def _partnered(x: str, other: set[str]) -> bool:
    """Whether token x has a typo partner among the other text's tokens (a typo may also turn
    a function word into a non-word: "froom" pairs with "from"): ``is_typo`` spelt out as
    loops, the cheap length and letter checks first (the rule's hot path)."""
    n = len(x)
    if n < MIN_TYPO_CHARS - 1 or not x.isalpha():
        return False
    for y in other:
        m = len(y)
        if (
            n - 1 <= m <= n + 1
            and m >= MIN_TYPO_CHARS - 1
            and (m >= MIN_TYPO_CHARS or n >= MIN_TYPO_CHARS)
            and y.isalpha()
            and damerau_levenshtein_1(x, y)
        ):
            return True
    return False


def _all_partnered(only: set[str], other: set[str]) -> bool:
    for x in only:
        if not _partnered(x, other):
            return False
    return True


def near_duplicate(text_a: str | None, text_b: str | None) -> bool:
    """The content-word rule of the module docstring."""
    return near_duplicate_segments(segments(text_a), segments(text_b))


def near_duplicate_segments(segs_a: list[list[str]], segs_b: list[list[str]]) -> bool:
    """``near_duplicate`` of two texts given as their ``segments``."""
    if not segs_a or not segs_b:
        return False
    set_a = {t for s in segs_a for t in s}
    set_b = {t for s in segs_b for t in s}
    ca, cb = set_a - STOPWORDS, set_b - STOPWORDS
    if not ca or not cb:  # only function words: compare them all
        ca, cb = set_a, set_b
    if ca == cb:
        return True
    # Content tokens of one side with no equal or typo partner on the other side.
    only_a, only_b = ca - cb, cb - ca
    if not _all_partnered(only_a, set_b) and not _all_partnered(only_b, set_a):
        return False  # a substitution: left over on both sides
    left_a = {x for x in only_a if not _partnered(x, set_b)}
    left_b = {x for x in only_b if not _partnered(x, set_a)}
    if not left_a and not left_b:
        return True
    left, segs, other = (left_a, segs_a, set_b) if left_a else (left_b, segs_b, set_a)
    if len(segs) < 2:
        return False
    # Leftovers must lie in trailing segments that are wholly new to the other text (an
    # appended "| Shutterstock"), not in the main segment nor in a segment the other text
    # shares a word with ("size M" vs "size XL").
    if left & set(segs[0]):
        return False
    for seg in segs[1:]:
        words = set(content(seg) or seg)
        if words & left and words & other:
            return False
    return bool(set(segs[0]) & other)


def key_shingles(text: str | None, ngram: int, unit: str) -> list[frozenset]:
    """Shingle sets of a text's LSH keys (``lsh_keys``)."""
    from curate.ops.minhash import shingles

    return [frozenset(shingles(k, ngram, unit)) for k in lsh_keys(text)]


def key_jaccard(a: list[frozenset], b: list[frozenset]) -> float:
    """The largest Jaccard similarity between a key of one text and a key of the other."""
    from curate.ops.minhash import jaccard

    return max((jaccard(x, y) for x in a for y in b), default=0.0)


# Candidate verification in bulk. A partition of LSH buckets holds many candidate pairs per
# text (on short captions with common words, dozens: nearly all below the Jaccard
# threshold), so each text's keys become arrays of exact integer shingle codes
# (``text_codes``, compiled over the forms' bytes), and the Jaccard similarity of every
# candidate pair is counted by one compiled loop; only pairs at or above the threshold
# reach ``near_duplicate``.

_CODE_BITS = 21  # a Unicode code point fits in 21 bits: three of them in one uint64


def _char_codes(keys: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, codes): for key k, codes[offsets[k]:offsets[k + 1]] are the sorted distinct
    codes of its character n-gram shingles (``minhash.shingles(k, ngram, "char")``), a
    shingle's code being its code points packed 21 bits each (exact: distinct shingles,
    distinct codes; ngram <= 3). Keys are normally ``lsh_keys`` output (lower-case words
    joined by single spaces); others are brought to that form first, as ``shingles`` does."""
    keys = [k if k.lower() == k else " ".join(_TOKEN.findall(k.lower())) for k in keys]
    data, starts, ends = utf8_ranges(pa.array(keys, pa.large_string()))
    return _utf8_char_codes(data, starts, ends, ngram)


def utf8_ranges(strings: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTF-8 bytes, start, end) of each string of an Arrow string array (nulls: empty)."""
    if strings.null_count:
        strings = strings.fill_null("")
    wide = pa.types.is_large_string(strings.type)
    offsets = np.frombuffer(strings.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[strings.offset : strings.offset + len(strings) + 1].astype(np.int64)
    data = strings.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return data, offsets[:-1], offsets[1:]


def _utf8_char_codes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, ngram: int, ordered: bool = True):
    """``_char_codes`` of the keys data[starts[k]:ends[k]] (UTF-8, already normalized). With
    `ordered` False each key's distinct codes are left in first-seen order (found with a hash
    set: sorting them was most of the cost; verification counts shared codes with a hash table
    and sorts only the keys whose identity it must check)."""
    starts = np.ascontiguousarray(starts, np.int64)
    ends = np.ascontiguousarray(ends, np.int64)
    offsets = np.zeros(starts.size + 1, np.int64)
    # a key has at most as many shingles as code points, at most as many as bytes
    codes = np.empty(int((ends - starts).sum()), np.uint64)
    n = _char_codes_kernel()(data, starts, ends, ngram, ordered, offsets, codes)
    return offsets, codes[:n]


@functools.cache
def _char_codes_kernel():
    """Compiled: for each key (UTF-8 bytes data[starts[k]:ends[k]]), its code points decoded,
    packed into shingle codes (every window of `ngram`; a key shorter than that is one
    shingle, itself), made distinct into codes[offsets[k]:offsets[k + 1]]: sorted if
    `ordered`, else in first-seen order (an open-addressing hash set, its slots stamped with
    the key that filled them, so it is never cleared)."""

    def char_codes(data, starts, ends, ngram, ordered, offsets, codes):
        longest = 0
        for k in range(starts.size):
            longest = max(longest, ends[k] - starts[k])
        cps = np.empty(longest, np.uint64)
        size = 16
        while size < 2 * longest:
            size *= 2
        shift = np.uint64(64 - int(np.log2(size)))
        slot_code = np.empty(size, np.uint64)
        slot_key = np.full(size, -1, np.int64)
        w = 0
        for k in range(starts.size):
            n = 0
            x = starts[k]
            while x < ends[k]:  # UTF-8 decode
                b = np.uint64(data[x])
                if b < 0x80:
                    cps[n] = b
                    x += 1
                elif b < 0xE0:
                    cps[n] = ((b & np.uint64(0x1F)) << np.uint64(6)) | (np.uint64(data[x + 1]) & np.uint64(0x3F))
                    x += 2
                elif b < 0xF0:
                    cps[n] = (((b & np.uint64(0x0F)) << np.uint64(12)) | ((np.uint64(data[x + 1]) & np.uint64(0x3F)) << np.uint64(6))
                              | (np.uint64(data[x + 2]) & np.uint64(0x3F)))
                    x += 3
                else:
                    cps[n] = (((b & np.uint64(0x07)) << np.uint64(18)) | ((np.uint64(data[x + 1]) & np.uint64(0x3F)) << np.uint64(12))
                              | ((np.uint64(data[x + 2]) & np.uint64(0x3F)) << np.uint64(6)) | (np.uint64(data[x + 3]) & np.uint64(0x3F)))
                    x += 4
                n += 1
            if n == 0:
                offsets[k + 1] = w
                continue
            width = min(n, ngram)
            windows = max(n - ngram + 1, 1)
            if not ordered:
                distinct = 0
                for t in range(windows):
                    code = np.uint64(0)
                    for i in range(width):
                        code = (code << np.uint64(21)) | cps[t + i]
                    h = (code * np.uint64(0x9E3779B97F4A7C15)) >> shift
                    while slot_key[h] == k and slot_code[h] != code:
                        h = (h + np.uint64(1)) & np.uint64(size - 1)
                    if slot_key[h] != k:
                        slot_key[h] = k
                        slot_code[h] = code
                        codes[w + distinct] = code
                        distinct += 1
                w += distinct
                offsets[k + 1] = w
                continue
            for t in range(windows):
                code = np.uint64(0)
                for i in range(width):
                    code = (code << np.uint64(21)) | cps[t + i]
                codes[w + t] = code
            run = codes[w : w + windows]
            run.sort()
            distinct = 0
            for t in range(windows):
                if t == 0 or run[t] != run[t - 1]:
                    codes[w + distinct] = run[t]
                    distinct += 1
            w += distinct
            offsets[k + 1] = w
        return w

    from curate.ops.minhash import compiled

    return compiled(char_codes)


def _interned_codes(keys: list[str], ngram: int, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """``_char_codes`` for any unit and n-gram size: shingle strings numbered in this call."""
    from curate.ops import minhash

    ids: dict[str, int] = {}
    rows = [sorted({ids.setdefault(x, len(ids)) for x in minhash.shingles(k, ngram, unit)}) for k in keys]
    offsets = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    return offsets, np.fromiter((c for r in rows for c in r), np.uint64, int(offsets[-1]))


def shingle_codes(keys: list[str], ngram: int, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, codes) of the keys' shingle sets as sorted distinct integers, equal for two
    keys exactly when their shingle sets are equal."""
    if unit == "char" and ngram <= 3:
        return _char_codes(keys, ngram)
    return _interned_codes(keys, ngram, unit)


# Signing (stage dedup_text's first step) from the same codes: a character shingle's code
# holds its code points, so its datasketch hash is computed once per process from the decoded
# string and then looked up; the signatures equal ``minhash.signatures`` of the shingle lists.
HASH_CACHE = 1 << 20  # distinct character shingles whose hash a process keeps (~12 MB)
_HASHES = [np.zeros(0, np.uint64), np.zeros(0, np.uint32)]  # sorted codes, their hashes


def _code_text(code: int) -> str:
    """The shingle a ``_char_codes`` code stands for (no code point is 0: padding is)."""
    cps = []
    while code:
        cps.append(code & ((1 << _CODE_BITS) - 1))
        code >>= _CODE_BITS
    return "".join(map(chr, reversed(cps)))


def char_shingle_hashes(codes: np.ndarray) -> np.ndarray:
    """``minhash.shingle_hashes`` of the shingles that distinct ``_char_codes`` codes stand
    for, kept per process (at most ``HASH_CACHE``; past that the cache starts over)."""
    known, known_hv = _HASHES
    pos = np.searchsorted(known, codes)
    hit = pos < known.size
    hit[hit] = known[pos[hit]] == codes[hit]
    out = np.empty(codes.size, np.uint32)
    out[hit] = known_hv[pos[hit]]
    if hit.all():
        return out
    from curate.ops import minhash

    miss = codes[~hit]
    new = minhash.shingle_hashes([_code_text(c).encode("utf-8") for c in miss.tolist()])
    out[~hit] = new
    order = np.argsort(miss)  # the cache stays sorted
    miss, new = miss[order], new[order]
    if known.size + miss.size > HASH_CACHE:
        known, known_hv = known[:0], known_hv[:0]
    at = np.searchsorted(known, miss)
    _HASHES[:] = [np.insert(known, at, miss), np.insert(known_hv, at, new)]
    return out


def key_signatures(keys: list[str], ngram: int, unit: str, num_perm: int, seed: int) -> np.ndarray:
    """``minhash.signatures`` of the keys' shingle lists (``minhash.shingles(k, ngram, unit)``),
    one row per key; `keys` are ``lsh_keys`` output. Character shingles (n <= 3) go through
    their codes (``_char_codes``) and the per-process hash cache, without a Python string per
    shingle; other shingles through ``minhash.signatures``."""
    from curate.ops import minhash

    if not (unit == "char" and ngram <= 3) or not keys:
        return minhash.signatures([minhash.shingles(k, ngram, unit) for k in keys], num_perm, seed)
    offsets, codes = _char_codes(keys, ngram)
    # each distinct code once, by Arrow's hash table (np.unique's sort was ~18x slower here)
    encoded = pc.dictionary_encode(pa.array(codes, pa.uint64()))
    distinct, idx = encoded.dictionary.to_numpy(), encoded.indices.to_numpy()
    return minhash.signatures_of_hashes(offsets, idx, char_shingle_hashes(distinct), num_perm, seed)


# Most candidate pairs of a partition fall far below the threshold (at 1M generated pairs, 96%
# of them), and a bound proves it without counting: each key's shingle codes also set bits of
# a 512-bit mask (a hash of the code picks the bit). A bit that one key sets and the other does
# not stands for at least one shingle of the first that the second lacks, distinct bits for
# distinct shingles, so |A & B| <= |A| - popcount(mask A & ~mask B), and the same from B's side.
# A pair whose bound cannot reach the threshold is not counted; every other pair is counted
# exactly, so the pairs at or above the threshold are the same.
MASK_WORDS = 8  # 512 bits; 16 or 32 words (97.8% settled) ran no faster on four 1M-pool partitions


@functools.cache
def _masks_kernel():
    """Compiled: masks[r] (MASK_WORDS uint64) of key row r's codes."""

    def key_masks(offsets, codes, masks):
        bits = 6  # log2 of the mask's bits (MASK_WORDS is a power of two)
        while (1 << bits) < 64 * masks.shape[1]:
            bits += 1
        shift = np.uint64(64 - bits)
        for r in range(offsets.size - 1):
            for x in range(offsets[r], offsets[r + 1]):
                h = (codes[x] * np.uint64(0x9E3779B97F4A7C15)) >> shift
                masks[r, h >> np.uint64(6)] |= np.uint64(1) << (h & np.uint64(63))

    from curate.ops.minhash import compiled

    return compiled(key_masks)


def key_masks(offsets: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(rows, MASK_WORDS) uint64 bit masks of the key rows' shingle codes."""
    masks = np.zeros((offsets.size - 1, MASK_WORDS), np.uint64)
    _masks_kernel()(np.ascontiguousarray(offsets, np.int64), codes, masks)
    return masks


@functools.cache
def _jaccard_kernel():
    """Compiled: best[p] = the largest Jaccard similarity between a key row of text i[p] and
    one of text j[p] (rows first[t] .. first[t] + count[t] - 1), exact wherever it reaches
    `threshold` and some number below it elsewhere: a pair of rows whose mask bound
    (``MASK_WORDS``) cannot reach it is not counted, and a count stops once it cannot.

    The shared shingles are counted with a hash table of the shorter row's codes (open
    addressing; each slot stamped with the count that filled it, so it is never cleared),
    probed with the other row's: rows need not be sorted. Sorting them on first use, for a
    merge, was ~60% of this loop on 1M-pool partitions."""

    def pair_jaccard(offsets, codes, masks, count, first, i, j, threshold, best):
        m1, m2, m4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
        h01 = np.uint64(0x0101010101010101)
        longest = 1
        for r in range(offsets.size - 1):
            longest = max(longest, offsets[r + 1] - offsets[r])
        bits = 1
        while (1 << bits) < 2 * longest:  # the table at most half full
            bits += 1
        slots = np.zeros(1 << bits, np.uint64)
        stamp = np.zeros(1 << bits, np.int64)  # the count that filled a slot; 0: none yet
        wrap = (1 << bits) - 1
        shift = np.uint64(64 - bits)
        gold = np.uint64(0x9E3779B97F4A7C15)
        counted = 0
        in_table = -1  # the row whose codes the table holds (candidates sharing a text come together)
        for p in range(i.size):
            best[p] = 0.0
            for ra in range(first[i[p]], first[i[p]] + count[i[p]]):
                for rb in range(first[j[p]], first[j[p]] + count[j[p]]):
                    x, xe = offsets[ra], offsets[ra + 1]
                    y, ye = offsets[rb], offsets[rb + 1]
                    union = (xe - x) + (ye - y)
                    # need: the fewest shared shingles whose Jaccard (as computed below)
                    # reaches the threshold; the count stops once even sharing all that is
                    # left falls short.
                    need = max(0, int(threshold * union / (1.0 + threshold)) - 1)
                    while need < union and need / (union - need) < threshold:
                        need += 1
                    only_a = np.uint64(0)  # popcount of mask A & ~mask B: shingles of A not in B, at least
                    only_b = np.uint64(0)
                    for w in range(masks.shape[1]):
                        u, v = masks[ra, w], masks[rb, w]
                        c = u & ~v
                        c = c - ((c >> np.uint64(1)) & m1)
                        c = (c & m2) + ((c >> np.uint64(2)) & m2)
                        only_a += (((c + (c >> np.uint64(4))) & m4) * h01) >> np.uint64(56)
                        c = v & ~u
                        c = c - ((c >> np.uint64(1)) & m1)
                        c = (c & m2) + ((c >> np.uint64(2)) & m2)
                        only_b += (((c + (c >> np.uint64(4))) & m4) * h01) >> np.uint64(56)
                    if min((xe - x) - np.int64(only_a), (ye - y) - np.int64(only_b)) < need:
                        continue  # below the threshold whatever the count would find
                    # x..xe: the row in the table (the one already there, or the shorter);
                    # y..ye: the row probed
                    if ra == in_table or (rb != in_table and xe - x <= ye - y):
                        kept = ra
                    else:
                        kept = rb
                        x, xe, y, ye = y, ye, x, xe
                    if kept != in_table:
                        counted += 1
                        in_table = kept
                        for k in range(x, xe):
                            h = np.int64((codes[k] * gold) >> shift)
                            while stamp[h] == counted:
                                h = (h + 1) & wrap
                            stamp[h] = counted
                            slots[h] = codes[k]
                    inter = 0
                    left = ye - y
                    for k in range(y, ye):
                        if inter + left < need:
                            break
                        left -= 1
                        code = codes[k]
                        h = np.int64((code * gold) >> shift)
                        while stamp[h] == counted:
                            if slots[h] == code:
                                inter += 1
                                break
                            h = (h + 1) & wrap
                    union -= inter
                    sim = inter / union if union > 0 else 0.0
                    if sim > best[p]:
                        best[p] = sim

    from curate.ops.minhash import compiled

    return compiled(pair_jaccard)


def bucket_candidates(members: list[int], identity: dict[int, int], max_compare: int) -> list[tuple[int, int, bool]]:
    """Candidate pairs (i, j, same_keys), i < j, of one LSH bucket whose `members` are text
    numbers in uid order (a number may repeat: both keys of a text in one bucket). The
    readable reference of ``all_bucket_candidates``, which the stage runs (tests compare them).

    Members whose keys have the same shingle sets (same `identity`) are paired with the
    smallest among them, ``same_keys`` True: the same content words, which the rule calls
    duplicates. One representative per distinct key set (its smallest member) is paired with
    the representatives before it, ``same_keys`` False, to be verified; when a bucket holds
    more than `max_compare` distinct key sets, each is paired only with the first
    `max_compare`, to bound the work on hot buckets."""
    rep_of: dict[int, int] = {}
    reps: list[int] = []
    out = []
    for m in sorted(set(members)):
        r = rep_of.setdefault(identity[m], m)
        if r == m:
            reps.append(m)
        else:
            out.append((r, m, True))
    for n, j in enumerate(reps):
        out.extend((i, j, False) for i in reps[: min(n, max_compare)])
    return out


@functools.cache
def _candidates_kernel():
    """Compiled ``bucket_candidates`` over every bucket of a partition at once: buckets are
    runs members[offsets[b]:offsets[b + 1]] of text numbers in non-decreasing (uid) order;
    `ident` maps a text number to its identity (-1: not in any bucket). Only the pairs whose
    larger number j has j % `parts` == `part` are counted (all of them with parts = 1). With
    `out_i` empty it only counts them; given arrays of that size it writes them."""

    def candidates(members, offsets, ident, n_ident, max_compare, parts, part, out_i, out_j, out_same):
        rep_of = np.full(n_ident, -1, np.int64)
        reps = np.empty(members.size, np.int64)
        fill = out_i.size > 0
        w = 0
        for b in range(offsets.size - 1):
            s, e = offsets[b], offsets[b + 1]
            n_reps = 0
            for x in range(s, e):
                m = members[x]
                if x > s and m == members[x - 1]:
                    continue  # both keys of one text in this bucket
                r = rep_of[ident[m]]
                if r < 0:
                    rep_of[ident[m]] = m
                    reps[n_reps] = m
                    n_reps += 1
                elif m % parts == part:
                    if fill:
                        out_i[w], out_j[w], out_same[w] = r, m, 1
                    w += 1
            for n in range(n_reps):
                if reps[n] % parts != part:
                    continue
                for t in range(min(n, max_compare)):
                    if fill:
                        out_i[w], out_j[w], out_same[w] = reps[t], reps[n], 0
                    w += 1
            for x in range(s, e):
                rep_of[ident[members[x]]] = -1
        return w

    from curate.ops.minhash import compiled

    return compiled(candidates)


@functools.cache
def _distinct_kernel():
    """Compiled first occurrences of distinct pairs (i[p], j[p]), 0 <= i, j < n: positions
    into `keep`, grouped by j (a counting sort), in input order within a group; returns how
    many. O(pairs + n), where sorting the pairs (np.unique) was a fifth of a worker's time
    at 3M pairs."""

    def distinct(i, j, n, keep):
        start = np.zeros(n + 1, np.int64)
        for p in range(j.size):
            start[j[p] + 1] += 1
        for x in range(n):
            start[x + 1] += start[x]
        order = np.empty(j.size, np.int64)
        for p in range(j.size):
            order[start[j[p]]] = p
            start[j[p]] += 1
        last = np.full(n, -1, np.int64)  # the j whose group last met i
        w = 0
        for q in range(order.size):
            p = order[q]
            if last[i[p]] != j[p]:
                last[i[p]] = j[p]
                keep[w] = p
                w += 1
        return w

    from curate.ops.minhash import compiled

    return compiled(distinct)


def distinct_pairs(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Positions of the first occurrence of each distinct pair (i[p], j[p]) (text numbers
    below `n`), ordered by j, then by position: the same pairs as ``np.unique`` of the pair
    codes, in linear time."""
    keep = np.empty(i.size, np.int64)
    w = _distinct_kernel()(np.ascontiguousarray(i, np.int64), np.ascontiguousarray(j, np.int64), int(n), keep)
    return keep[:w]


# Candidate pairs one verification step holds (each costs ~100 bytes in its arrays): a
# partition with more (a bucket of 38K texts at 3M generated pairs makes ~3M) is verified in
# parts, each the pairs whose larger text number falls in one residue class, so that a pair
# met in several buckets still lands in one part and is checked once.
CANDIDATE_CHUNK = 1 << 19


def all_bucket_candidates(members: np.ndarray, offsets: np.ndarray, ident: np.ndarray, max_compare: int,
                          parts: int = 1, part: int = 0):
    """``bucket_candidates`` of every bucket (members[offsets[b]:offsets[b + 1]], text numbers
    in non-decreasing order; ident[m] the identity of text m, >= 0 for every member) as three
    arrays (i, j, same_keys), in bucket order; with `parts` > 1 only the pairs with
    j % parts == part."""
    members = np.ascontiguousarray(members, np.int64)
    offsets = np.ascontiguousarray(offsets, np.int64)
    ident = np.ascontiguousarray(ident, np.int64)
    n_ident = int(ident.max()) + 1 if ident.size else 0
    kernel = _candidates_kernel()
    empty = np.zeros(0, np.int64)
    size = kernel(members, offsets, ident, n_ident, max_compare, parts, part, empty, empty, empty)
    i, j, same = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
    if size:
        kernel(members, offsets, ident, n_ident, max_compare, parts, part, i, j, same)
    return i, j, same


def partition_edges(
    buckets: list[list[int]] | tuple[np.ndarray, np.ndarray], forms: list[str] | pa.Array, threshold: float, ngram: int,
    unit: str, max_compare: int, counts: dict | None = None, memo=None,
) -> list[tuple[int, int]]:
    """Verified near-duplicate edges (i, j), i < j, among texts numbered in uid order and
    given in their ``tokenized`` forms (`forms`: a list, or an Arrow string array, which
    ``text_codes`` reads without a Python string per text), from
    LSH buckets of one partition (lists of text numbers in non-decreasing order, or the same
    as (members, offsets) arrays: bucket b is members[offsets[b]:offsets[b + 1]]): each
    distinct candidate pair of ``bucket_candidates`` (computed by ``all_bucket_candidates``)
    is checked once (at most ``CANDIDATE_CHUNK`` pairs at a time, so memory does not grow with
    a hot bucket); pairs of distinct keys need the largest Jaccard
    of their keys' shingle sets >= `threshold` (``key_jaccard``, counted in bulk) and
    ``near_duplicate``. `counts`, when given, receives how many distinct candidates there
    were (``candidates``, ``same_keys``), how many reached the rule (``above_threshold``)
    and the edges (``edges``). `memo` (a ``rule_memo.RuleMemo``; the stage gives each worker
    process one) gives the rule's verdicts on pairs of forms it has met before, and keeps the
    new ones: the edges are the same with or without it."""
    tally = {"candidates": 0, "same_keys": 0, "above_threshold": 0, "edges": 0}
    edges = _partition_edges(buckets, forms, threshold, ngram, unit, max_compare, tally, memo)
    tally["edges"] = len(edges)
    if counts is not None:
        for k, v in tally.items():
            counts[k] = counts.get(k, 0) + v
    return edges


# A text's band rows land in many partitions of a worker (one per band key it shares with
# another text: ~15 on the generated benchmark pool), and a similar pair shares many bands, so
# the same pair reaches the rule in many partitions (~13 at 50K pairs). The rule's verdict is a
# pure function of the two texts, so each worker process keeps the latest (bounded: the memory
# of a worker does not grow with the pool). Keys and shingle codes are not kept:
# ``text_codes`` computes a partition's in compiled passes over the forms' bytes, for less than
# a cache lookup cost (at 1M pairs a worker's cache held few of the texts a partition brought,
# and filling it was half of verification). ``text_parts`` (keys for word shingles) is cached.
TEXT_CACHE = 1 << 17  # texts (tokenized forms) in text_parts
VERDICT_CACHE = 1 << 16  # text pairs that reached the rule: its verdict


@functools.lru_cache(maxsize=TEXT_CACHE)
def text_parts(form: str | None) -> tuple[list[list[str]], list[str]]:
    """(``segments``, ``lsh_keys``) of a text given in its ``tokenized`` form, cached per
    process. Callers must not modify the lists."""
    segs = segments_of_tokenized(form)
    return segs, keys_of_form_and_segments(form, segs)


@functools.lru_cache(maxsize=VERDICT_CACHE)
def verdict(form_a: str | None, form_b: str | None) -> bool:
    """``near_duplicate`` of two texts given in their ``tokenized`` forms, cached per process
    (a pair meets the rule in every partition where the two share a band). The forms are
    parsed here, not taken from ``text_parts``: most texts meet the rule in few pairs of a
    partition, and the parse costs less than the cache."""
    return near_duplicate_segments(segments_of_tokenized(form_a), segments_of_tokenized(form_b))


def clear_caches() -> None:
    """Empty the per-process caches (``text_parts``, ``verdict``, ``char_shingle_hashes``)."""
    text_parts.cache_clear()
    verdict.cache_clear()
    _HASHES[:] = [_HASHES[0][:0], _HASHES[1][:0]]


class KeyRows(NamedTuple):
    """``text_codes``: text m's keys are rows first[m] .. first[m] + count[m] - 1; row r's
    shingle set is the distinct integers codes[offsets[r]:offsets[r + 1]] (``shingle_codes``),
    sorted where ordered[r] (the identity check sorts a row in place, and marks it, when it
    first compares it with another); ident[m] numbers the texts by identity, equal for two texts
    exactly when their keys have the same shingle sets (as multisets of sets: verification
    takes the best pair of keys, so their order does not matter)."""

    count: np.ndarray
    first: np.ndarray
    offsets: np.ndarray
    codes: np.ndarray
    ordered: np.ndarray
    ident: np.ndarray


def text_codes(forms: list[str | None] | pa.Array, ngram: int, unit: str) -> KeyRows:
    """The shingle sets of each text's LSH keys and the texts' identities (``KeyRows``), texts
    given in their ``tokenized`` forms (a list or an Arrow string array). Character shingles
    (n <= 3): keys are found in the forms' bytes (a one-segment text's is a slice of its form;
    ``several_segment_keys``) and shingled in compiled code, rows left unsorted. Other
    shingles are numbered per call (``shingle_codes``)."""
    strings = forms if isinstance(forms, pa.Array) else pa.array(forms, pa.large_string())
    n = len(strings)
    if unit == "char" and ngram <= 3:
        data, starts, ends = utf8_ranges(strings)
        count = np.ones(n, np.int64)
        key_start, key_end = starts.copy(), ends.copy()
        several = np.zeros(n, np.bool_)
        _form_keys_kernel()(data, starts, ends, key_start, key_end, several)
        count[key_start == key_end] = 0
        several = np.flatnonzero(several)
        extra, extra_s, extra_e, extra_count = several_segment_keys(data, starts[several], ends[several])
        count[several] = extra_count
        first = np.cumsum(count) - count
        rows_s, rows_e = np.zeros(int(count.sum()), np.int64), np.zeros(int(count.sum()), np.int64)
        single = count == 1
        single[several] = False
        rows_s[first[single]], rows_e[first[single]] = key_start[single], key_end[single]
        for k in range(2):  # a several-segment text's k-th key
            has = extra_count > k
            rows_s[first[several[has]] + k] = extra_s[2 * np.flatnonzero(has) + k] + data.size
            rows_e[first[several[has]] + k] = extra_e[2 * np.flatnonzero(has) + k] + data.size
        data = np.concatenate((data, extra)) if several.size else data
        offsets, codes = _utf8_char_codes(data, rows_s, rows_e, ngram, ordered=False)
        ordered = np.zeros(offsets.size - 1, np.bool_)
    else:
        keys_of = [keys_of_tokenized(f) for f in strings.to_pylist()]
        count = np.fromiter(map(len, keys_of), np.int64, n)
        first = np.cumsum(count) - count
        offsets, codes = shingle_codes([k for ks in keys_of for k in ks], ngram, unit)
        ordered = np.ones(offsets.size - 1, np.bool_)
    return KeyRows(count, first, offsets, codes, ordered, identities(count, first, offsets, codes, ordered))


def several_segment_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``lsh_keys`` of texts of several segments given as tokenized forms (UTF-8 bytes
    data[starts[t]:ends[t]]), in compiled code: (bytes, key_start, key_end, count), text t's
    keys being bytes[key_start[2t + k]:key_end[2t + k]] for k < count[t]. The whole text's key
    merges the segments' sorted content words (their function words where no segment has
    any), the first segment's is its content words (else its function words) as they stand
    in the form, kept when it differs from the first."""
    starts = np.ascontiguousarray(starts, np.int64)
    ends = np.ascontiguousarray(ends, np.int64)
    out = np.empty(int(2 * (ends - starts).sum()), np.uint8)
    key_start, key_end = np.zeros(2 * starts.size, np.int64), np.zeros(2 * starts.size, np.int64)
    count = np.zeros(starts.size, np.int64)
    from curate.ops import form_kernels

    form_kernels.several_keys(data, starts, ends, out, key_start, key_end, count)
    return out, key_start, key_end, count


@functools.cache
def _form_keys_kernel():
    """Compiled ``_one_segment_keys`` over forms' UTF-8 bytes: for a form data[s:e] of one
    segment, its key's byte range (key_start, key_end; empty for an empty form); a form of
    several segments is marked in `several`."""

    def form_keys(data, starts, ends, key_start, key_end, several):
        for k in range(starts.size):
            s, e = starts[k], ends[k]
            stop = -1
            for x in range(s, e):
                if data[x] == 0x1F:
                    several[k] = True
                    break
                if data[x] == 0x1E and stop < 0:
                    stop = x
            if several[k] or stop < 0:
                continue  # several segments; or no separator: the whole form
            if stop > s:
                key_start[k], key_end[k] = s, stop
            else:
                key_start[k], key_end[k] = stop + 1, e

    from curate.ops.minhash import compiled

    return compiled(form_keys)


def identities(count: np.ndarray, first: np.ndarray, offsets: np.ndarray, codes: np.ndarray, ordered: np.ndarray,
               hashes: np.ndarray | None = None) -> np.ndarray:
    """``text_codes``'s `ident` from its key rows (``KeyRows``; rows it compares are sorted in
    place and marked in `ordered`): a row's hash does not depend on the order of its codes, a
    text's combines its rows' hashes (sorted, so their order does not count either); texts are
    taken in hash order, and a text gets the number of an earlier text of its hash whose rows
    are equal to its own as a multiset, else a new number. `hashes` replaces the texts' hashes
    (tests: all equal, every text collides)."""
    kernels = _identity_kernels()
    count, first, offsets = (np.ascontiguousarray(a, np.int64) for a in (count, first, offsets))
    if hashes is None:
        hashes = np.empty(count.size, np.uint64)
        kernels.text_hashes(count, first, offsets, codes, hashes)
    ident = np.empty(count.size, np.int64)
    kernels.number(count, first, offsets, codes, ordered, np.ascontiguousarray(hashes, np.uint64), ident)
    return ident


@functools.cache
def _identity_kernels():
    """Compiled parts of ``identities`` (self-contained loops: numba caches a function on disk
    only when it calls no other compiled function defined here)."""
    from types import SimpleNamespace

    from curate.ops.minhash import compiled

    def text_hashes(count, first, offsets, codes, hashes):
        for m in range(count.size):
            hs = np.empty(count[m], np.uint64)
            for t in range(count[m]):
                r = first[m] + t
                acc = np.uint64(offsets[r + 1] - offsets[r])  # a sum over the row: any order
                for x in range(offsets[r], offsets[r + 1]):
                    z = codes[x] + np.uint64(0x9E3779B97F4A7C15)  # splitmix64 of the code
                    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                    acc += z ^ (z >> np.uint64(31))
                hs[t] = acc
            hs.sort()
            h = np.uint64(count[m])
            for t in range(count[m]):
                h = (h ^ hs[t]) * np.uint64(0x94D049BB133111EB)
                h ^= h >> np.uint64(29)
            hashes[m] = h

    def number(count, first, offsets, codes, ordered, hashes, ident):
        n = count.size
        order = np.argsort(hashes, kind="mergesort")
        reps = np.empty(n, np.int64)
        next_ident = 0
        g = 0
        while g < n:
            e = g
            while e < n and hashes[order[e]] == hashes[order[g]]:
                e += 1
            n_reps = 0  # the group's distinct texts so far
            for x in range(g, e):
                a = order[x]
                ident[a] = -1
                for t in range(n_reps):
                    b = reps[t]
                    if count[a] != count[b]:
                        continue
                    # rows of a and b equal as multisets: each row of a matches an unused row of b
                    for r in range(first[a], first[a] + count[a]):
                        if not ordered[r]:
                            codes[offsets[r] : offsets[r + 1]].sort()
                            ordered[r] = True
                    for r in range(first[b], first[b] + count[b]):
                        if not ordered[r]:
                            codes[offsets[r] : offsets[r + 1]].sort()
                            ordered[r] = True
                    used = np.zeros(count[b], np.bool_)
                    all_found = True
                    for r in range(first[a], first[a] + count[a]):
                        found = False
                        for u in range(count[b]):
                            q = first[b] + u
                            if used[u] or offsets[r + 1] - offsets[r] != offsets[q + 1] - offsets[q]:
                                continue
                            equal = True
                            for y in range(offsets[r + 1] - offsets[r]):
                                if codes[offsets[r] + y] != codes[offsets[q] + y]:
                                    equal = False
                                    break
                            if equal:
                                used[u] = True
                                found = True
                                break
                        if not found:
                            all_found = False
                            break
                    if all_found:
                        ident[a] = ident[b]
                        break
                if ident[a] < 0:
                    ident[a] = next_ident
                    next_ident += 1
                    reps[n_reps] = a
                    n_reps += 1
            g = e

    return SimpleNamespace(text_hashes=compiled(text_hashes), number=compiled(number))


def _flat(buckets) -> tuple[np.ndarray, np.ndarray]:
    """Buckets as (members, offsets): a list of lists passes through np arrays; a
    (members, offsets) pair is returned as it is."""
    if isinstance(buckets, tuple):
        return buckets
    lengths = np.fromiter(map(len, buckets), np.int64, len(buckets))
    members = np.fromiter((m for b in buckets for m in b), np.int64, int(lengths.sum()))
    return members, np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)


def _partition_edges(buckets, forms, threshold, ngram, unit, max_compare, tally, memo=None) -> list[tuple[int, int]]:
    members, bucket_offsets = (np.ascontiguousarray(a, np.int64) for a in _flat(buckets))
    if members.size and not 0 <= members.min() <= members.max() < len(forms):
        raise ValueError(f"bucket members must be text numbers in [0, {len(forms)}): got {members.min()}..{members.max()}")
    forms = forms if isinstance(forms, pa.Array) else pa.array(forms, pa.large_string())
    count, first, offsets, codes, _, ident = text_codes(forms, ngram, unit)  # rows unsorted: the Jaccard loop hashes them
    n_ident = int(ident.max()) + 1 if ident.size else 0
    empty = np.zeros(0, np.int64)
    total = _candidates_kernel()(members, bucket_offsets, ident, n_ident, max_compare, 1, 0, empty, empty, empty)
    n_parts = max(1, -(-total // CANDIDATE_CHUNK))
    edges = []
    masks = key_masks(offsets, codes)
    for part in range(n_parts):
        i, j, same = all_bucket_candidates(members, bucket_offsets, ident, max_compare, n_parts, part)
        edges += _verify(i, j, same, forms, count, first, offsets, codes, masks, threshold, tally, memo)
    return sorted(edges)


def _verify(i, j, same, forms, count, first, offsets, codes, masks, threshold, tally, memo=None) -> list[tuple[int, int]]:
    """Edges among candidate pairs (i, j, same_keys) of ``_partition_edges`` (one part of a
    partition's candidates: a pair is in one part only), `tally` added to; the rule's
    verdicts taken from `memo` where it has them."""
    if not i.size:
        return []
    # A pair met in several buckets is checked once (same_keys is a function of the pair:
    # its two texts have the same identity); the order does not matter, edges are sorted.
    first_seen = distinct_pairs(i, j, len(forms))
    i, j, same = i[first_seen], j[first_seen], same[first_seen].astype(bool)
    tally["candidates"] += int(i.size)
    tally["same_keys"] += int(same.sum())
    edges = list(zip(i[same].tolist(), j[same].tolist(), strict=True))
    i, j = i[~same], j[~same]
    if not i.size:
        return edges
    # Every (key of i, key of j) combination, counted in one compiled loop; a pair's
    # similarity is the largest.
    best = np.empty(i.size, np.float64)
    _jaccard_kernel()(offsets, codes, masks, count, first, i, j, float(threshold), best)
    above = np.flatnonzero(best >= threshold)
    tally["above_threshold"] += int(above.size)
    i, j = i[above], j[above]
    if memo is None:
        near = verdicts(forms, i, j)
    else:
        near = memo.verdicts(*utf8_ranges(forms), i, j, lambda a, b: verdicts(forms, a, b)).astype(bool)
    return edges + list(zip(i[near].tolist(), j[near].tolist(), strict=True))


def verdicts(forms: pa.Array, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``near_duplicate`` of the text pairs (forms[i[p]], forms[j[p]]), texts given in their
    ``tokenized`` forms as an Arrow string array: compiled (``form_kernels.rule_pairs``) where both
    forms are ASCII, else ``verdict`` (the Python rule, cached per process)."""
    from curate.ops import form_kernels

    data, starts, ends = utf8_ranges(forms)
    out = np.empty(i.size, np.int64)
    form_kernels.rule_pairs(data, starts, ends, np.ascontiguousarray(i, np.int64), np.ascontiguousarray(j, np.int64), out)
    for p in np.flatnonzero(out < 0).tolist():
        out[p] = verdict(forms[int(i[p])].as_py(), forms[int(j[p])].as_py())
    return out.astype(bool)


def capped(members: list[str], cap: int, stage: str, seed: int) -> list[str]:
    """The members of one cluster over `cap` (removed): members are ranked by a uniform
    number from hash(uid, stage, seed) and the first `cap` are kept; 0 keeps all."""
    if cap <= 0 or len(members) <= cap:
        return []
    from curate.ops.balance import uniform

    members = sorted(members)
    u = uniform(members, stage, seed)
    order = sorted(range(len(members)), key=lambda i: (u[i], members[i]))
    return sorted(members[i] for i in order[cap:])


def lsh_edges(texts: list[str | None], c, counts: dict | None = None) -> set[tuple[int, int]]:
    """Verified near-duplicate edges (i, j), i < j, between text indices, found in one
    process the way stage ``dedup_text`` finds them across workers (LSH bands of each text's
    keys, then ``partition_edges`` over all buckets as one partition, `counts` passed on);
    `c` is a ``DedupTextConfig``. For tests and measurements."""
    from curate.ops import minhash

    owner, key_texts = [], []
    for i, t in enumerate(texts):
        for k in lsh_keys(t):
            owner.append(i)
            key_texts.append(k)
    if not owner:
        return set()
    sig = key_signatures(key_texts, c.ngram, c.unit, c.num_perm, c.minhash_seed)
    keys = minhash.band_keys(sig, c.bands, c.rows)
    buckets: dict[int, list[int]] = {}
    for row, i in enumerate(owner):
        for k in keys[row].tolist():
            buckets.setdefault(k, []).append(i)
    # text numbers in uid order: the stage's uids sort like the indices' zero-padded strings
    multi = [b for b in buckets.values() if len(set(b)) > 1]
    forms = [tokenized(t) for t in texts]
    return set(partition_edges(multi, forms, c.threshold, c.ngram, c.unit, c.max_compare, counts))
