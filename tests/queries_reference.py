"""Slow, obviously-correct references for the query-list tests (MetaCLIP's char loop)."""

from collections import Counter

from curate.ops.queries import _CJK_RANGES, PUNCTUATION


def slow_tokens(text):
    tokens, cur = [], []
    for ch in text:
        special = ch in PUNCTUATION or any(a <= ord(ch) <= b for a, b in _CJK_RANGES)
        if special:
            if cur:
                tokens.append("".join(cur))
                cur = []
            tokens.append(ch)
        elif ch.isspace():
            if cur:
                tokens.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        tokens.append("".join(cur))
    return tokens


def slow_counts(texts):
    uni, bi = Counter(), Counter()
    for text in texts:
        prev = None
        for tok in slow_tokens(text):
            if all(c in PUNCTUATION for c in tok):
                prev = None
                continue
            uni[tok] += 1
            if prev is not None:
                bi[(prev, tok)] += 1
            prev = tok
    return uni, bi
