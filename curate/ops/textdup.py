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

import re

_TOKEN = re.compile(r"\w+")
# A separator between a caption and an appended site/shop/category segment: a pipe or a
# bullet anywhere, a dash, colon-pair or tilde with spaces around it ("T-shirt" is one token).
_SEPARATOR = re.compile(r"\s*[|•·»]\s*|\s+[-–—~]+\s+|\s*::\s*|\s+/\s+")
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
    return [t for t in (tokens(s) for s in _SEPARATOR.split(text)) if t]


def content(toks: list[str]) -> list[str]:
    return [t for t in toks if t not in STOPWORDS]


def lsh_keys(text: str | None) -> list[str]:
    """The strings to MinHash for a text (see the module docstring): one or two, distinct."""
    segs = segments(text)
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


def _typo_able(words) -> list[str]:
    return [w for w in words if len(w) >= MIN_TYPO_CHARS - 1 and w.isalpha()]


def _leftovers(a: set[str], b: set[str], all_a: set[str], all_b: set[str]) -> tuple[set[str], set[str]]:
    """Content tokens of a and b with no equal or typo partner on the other side (a typo
    may also turn a function word into a non-word: "froom" pairs with "from")."""
    only_a, only_b = a - b, b - a
    left_a, left_b = set(only_a), set(only_b)
    ta, tb = _typo_able(sorted(only_a)), _typo_able(sorted(only_b))
    for x in ta:
        for y in tb:
            if is_typo(x, y):
                left_a.discard(x)
                left_b.discard(y)
    # A typo'd token whose right spelling the other text also holds elsewhere pairs too.
    if left_a:
        other = _typo_able(all_b)
        left_a = {x for x in left_a if not any(is_typo(x, y) for y in other)}
    if left_b:
        other = _typo_able(all_a)
        left_b = {y for y in left_b if not any(is_typo(y, x) for x in other)}
    return left_a, left_b


def near_duplicate(text_a: str | None, text_b: str | None) -> bool:
    """The content-word rule of the module docstring."""
    segs_a, segs_b = segments(text_a), segments(text_b)
    if not segs_a or not segs_b:
        return False
    all_a = [t for s in segs_a for t in s]
    all_b = [t for s in segs_b for t in s]
    ca, cb = set(content(all_a)), set(content(all_b))
    if not ca or not cb:  # only function words: compare them all
        ca, cb = set(all_a), set(all_b)
    if ca == cb:
        return True
    left_a, left_b = _leftovers(ca, cb, set(all_a), set(all_b))
    if left_a and left_b:
        return False
    if not left_a and not left_b:
        return True
    left, segs, other = (left_a, segs_a, set(all_b)) if left_a else (left_b, segs_b, set(all_a))
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


def bucket_edges(
    uids: list[str],
    texts: list[str],
    key_sets: list[list[frozenset]],
    threshold: float,
    max_compare: int,
    checked: dict | None = None,
) -> list[tuple[str, str]]:
    """Verified near-duplicate edges (smaller uid, larger uid) inside one LSH bucket.

    Members with identical keys are linked to the smallest uid among them (identical keys
    mean the same content words, which the rule calls duplicates). Distinct keys are
    compared pairwise: Jaccard of their shingle sets >= `threshold` and ``near_duplicate``.
    When a bucket holds more than `max_compare` distinct keys, each is compared only with
    the first `max_compare` (by smallest uid) to bound the work on hot buckets. `checked`
    (uid pair -> verdict) spares re-verifying a pair that shares several bands."""
    if checked is None:
        checked = {}
    groups: dict[tuple, list[int]] = {}
    for i, ks in enumerate(key_sets):
        groups.setdefault(tuple(sorted(ks, key=sorted)), []).append(i)
    edges = []
    reps = []
    for members in groups.values():
        members.sort(key=lambda i: uids[i])
        rep = members[0]
        edges.extend((uids[rep], uids[m]) for m in members[1:])
        reps.append(rep)
    reps.sort(key=lambda i: uids[i])
    for n, i in enumerate(reps):
        for k in reps[: min(n, max_compare)]:
            a, b = uids[k], uids[i]
            pair = (a, b) if a < b else (b, a)
            verdict = checked.get(pair)
            if verdict is None:
                verdict = checked[pair] = (
                    key_jaccard(key_sets[i], key_sets[k]) >= threshold
                    and near_duplicate(texts[i], texts[k])
                )
            if verdict:
                edges.append(pair)
    return edges


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


def lsh_edges(texts: list[str | None], c) -> set[tuple[int, int]]:
    """Verified near-duplicate edges (i, j), i < j, between text indices, found in one
    process the way stage ``dedup_text`` finds them across workers (LSH bands of each text's
    keys, then ``bucket_edges``); `c` is a ``DedupTextConfig``. For tests and measurements."""
    from curate.ops import minhash

    uids = [f"{i:012d}" for i in range(len(texts))]
    owner, sh = [], []
    for i, t in enumerate(texts):
        for k in lsh_keys(t):
            owner.append(i)
            sh.append(minhash.shingles(k, c.ngram, c.unit))
    if not owner:
        return set()
    keys = minhash.band_keys(minhash.signatures(sh, c.num_perm, c.minhash_seed), c.bands, c.rows)
    buckets: dict[int, set[int]] = {}
    for row, i in enumerate(owner):
        for k in keys[row].tolist():
            buckets.setdefault(k, set()).add(i)
    sets: dict[int, list[frozenset]] = {}
    checked: dict = {}
    edges = set()
    for members in buckets.values():
        if len(members) < 2:
            continue
        members = sorted(members)
        for i in members:
            if i not in sets:
                sets[i] = key_shingles(texts[i], c.ngram, c.unit)
        edges.update(bucket_edges([uids[i] for i in members], [texts[i] for i in members],
                                  [sets[i] for i in members], c.threshold, c.max_compare, checked))
    return {(int(a), int(b)) for a, b in edges}
