"""Compiled loops over tokenized forms' UTF-8 bytes (``textdup.tokenized``), for stage
dedup_text's verification: the LSH keys of texts of several segments (``several_keys``) and
the content-word rule (``rule_pairs``). Both read a form's words with ``parse_form``.

The rule (``textdup.near_duplicate_segments``) is compiled for forms that are all ASCII: there a word's length is its byte count and a
letter is a-z or A-Z, as Python's ``len`` and ``str.isalpha`` see them. Other forms, and
forms of more than ``MAX_WORDS`` words (the set operations here are quadratic in the words),
are answered -1: the caller asks the Python rule, which stays the reference
(``tests/unit/test_textdup.py`` compares the two on every labelled pair and on generated
candidate pairs, both ways round).

A form (``textdup.tokenized``) is segments joined by 0x1F, each its distinct content words,
sorted, 0x1E, its distinct function words, sorted, words joined by single spaces. Sets of
words are kept as lists of distinct byte ranges (the forms are short: ~10 words)."""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_WORDS = 64
MIN_TYPO_CHARS = 4  # textdup.MIN_TYPO_CHARS (checked by the tests)


@njit(cache=True, nogil=True)
def _same(data, s1, e1, s2, e2):
    if e1 - s1 != e2 - s2:
        return False
    for k in range(e1 - s1):
        if data[s1 + k] != data[s2 + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _tail_same(data, s1, e1, s2, e2):
    """data[s1:e1] == data[s2:e2] with Python's slice rules (a start past the end: empty)."""
    return _same(data, min(s1, e1), e1, min(s2, e2), e2)


@njit(cache=True, nogil=True)
def _dl1(data, sa, ea, sb, eb):
    """``textdup.damerau_levenshtein_1`` of two byte ranges (ASCII: one byte, one character)."""
    if _same(data, sa, ea, sb, eb):
        return False
    la, lb = ea - sa, eb - sb
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and data[sa + i] == data[sb + i]:
        i += 1
    if la == lb:
        if _tail_same(data, sa + i + 1, ea, sb + i + 1, eb):
            return True  # substitution
        return (i + 1 < la and data[sa + i] == data[sb + i + 1] and data[sa + i + 1] == data[sb + i]
                and _tail_same(data, sa + i + 2, ea, sb + i + 2, eb))
    if la > lb:
        return _tail_same(data, sa + i + 1, ea, sb + i, eb)
    return _tail_same(data, sa + i, ea, sb + i + 1, eb)


@njit(cache=True, nogil=True)
def _alpha(data, s, e):
    for k in range(s, e):
        c = data[k]
        if not (97 <= c <= 122 or 65 <= c <= 90):
            return False
    return True


@njit(cache=True, nogil=True)
def _hash(data, s, e):
    h = np.uint64(0xCBF29CE484222325)  # FNV-1a
    for k in range(s, e):
        h = (h ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
    return np.int64(h >> np.uint64(1))


@njit(cache=True, nogil=True)
def _member(data, s, e, h, set_s, set_e, set_h, n):
    """Whether word data[s:e] (hash h) is among the n words of a set (hashes compared first)."""
    for k in range(n):
        if set_h[k] == h and _same(data, s, e, set_s[k], set_e[k]):
            return True
    return False


@njit(cache=True, nogil=True)
def _partnered(data, s, e, other_s, other_e, n_other):
    """``textdup._partnered``: a typo partner for data[s:e] among the other side's words."""
    n = e - s
    if n < MIN_TYPO_CHARS - 1 or not _alpha(data, s, e):
        return False
    for k in range(n_other):
        m = other_e[k] - other_s[k]
        if (n - 1 <= m <= n + 1 and m >= MIN_TYPO_CHARS - 1 and (m >= MIN_TYPO_CHARS or n >= MIN_TYPO_CHARS)
                and _alpha(data, other_s[k], other_e[k]) and _dl1(data, s, e, other_s[k], other_e[k])):
            return True
    return False


@njit(cache=True, nogil=True)
def parse_form(data, s, e, ws, we, seg, content):
    """The words of the form data[s:e]: byte ranges (ws, we), segment, content or function
    word (before or after its segment's 0x1E); returns their count and the number of
    segments, or (-1, 0) where the form has more words than `ws` holds."""
    n, segment, in_content = 0, 0, True
    x = s
    while x < e:
        c = data[x]
        if c == 0x1F:
            segment += 1
            in_content = True
            x += 1
        elif c == 0x1E:
            in_content = False
            x += 1
        elif c == 0x20:
            x += 1
        else:
            if n == ws.size:
                return -1, 0
            y = x
            while y < e and data[y] != 0x20 and data[y] != 0x1E and data[y] != 0x1F:
                y += 1
            ws[n], we[n], seg[n], content[n] = x, y, segment, in_content
            n += 1
            x = y
    return n, segment + 1 if n else 0


@njit(cache=True, nogil=True)
def _parse(data, s, e, ws, we, wh, seg, content):
    """``parse_form`` for the rule, with each word's hash in `wh`; (-1, 0) where the form is
    not ASCII or has more than MAX_WORDS words."""
    for x in range(s, e):
        if data[x] >= 0x80:
            return -1, 0
    n, n_segs = parse_form(data, s, e, ws, we, seg, content)
    for k in range(n):
        wh[k] = _hash(data, ws[k], we[k])
    return n, n_segs


@njit(cache=True, nogil=True)
def _distinct(data, ws, we, wh, pick, n, out_s, out_e, out_h):
    """The distinct words among those marked in `pick` into out_s/out_e/out_h; returns how
    many."""
    m = 0
    for k in range(n):
        if pick[k] and not _member(data, ws[k], we[k], wh[k], out_s, out_e, out_h, m):
            out_s[m], out_e[m], out_h[m] = ws[k], we[k], wh[k]
            m += 1
    return m


@njit(cache=True, nogil=True)
def _rule(data, sa, ea, sb, eb, ints, flags, counts):
    """1 or 0: ``near_duplicate_segments`` of the two forms' segments; -1: not decided here.
    `ints` (17, 2, MAX_WORDS), `flags` (2, 2, MAX_WORDS) and `counts` (6, 2) are scratch
    space, allocated once per call of ``rule_pairs``."""
    ws, we, seg = ints[0], ints[1], ints[2]
    all_s, all_e, c_s, c_e = ints[3], ints[4], ints[5], ints[6]
    only_s, only_e, left_s, left_e = ints[7], ints[8], ints[9], ints[10]
    bounds = ints[11, 0]
    wh, all_h, c_h, only_h, left_h = ints[12], ints[13], ints[14], ints[15], ints[16]
    content, everything = flags[0], flags[1, 0]
    n, n_segs, n_all, n_c, n_only, n_left = counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
    n_only[:] = 0
    n_left[:] = 0
    bounds[0], bounds[1], bounds[2], bounds[3] = sa, ea, sb, eb
    for side in range(2):
        n[side], n_segs[side] = _parse(data, bounds[2 * side], bounds[2 * side + 1], ws[side], we[side], wh[side], seg[side], content[side])
        if n[side] < 0:
            return -1
    if n[0] == 0 or n[1] == 0:
        return 0
    # all words (set_a, set_b) and content words (ca, cb) of each side, distinct
    for side in range(2):
        n_all[side] = _distinct(data, ws[side], we[side], wh[side], everything, n[side], all_s[side], all_e[side], all_h[side])
        n_c[side] = _distinct(data, ws[side], we[side], wh[side], content[side], n[side], c_s[side], c_e[side], c_h[side])
    if n_c[0] == 0 or n_c[1] == 0:  # only function words: compare them all
        c_s, c_e, c_h, n_c = all_s, all_e, all_h, n_all
    # content words of each side the other lacks
    for side in range(2):
        o = 1 - side
        for k in range(n_c[side]):
            if not _member(data, c_s[side, k], c_e[side, k], c_h[side, k], c_s[o], c_e[o], c_h[o], n_c[o]):
                at = n_only[side]
                only_s[side, at], only_e[side, at], only_h[side, at] = c_s[side, k], c_e[side, k], c_h[side, k]
                n_only[side] += 1
    if n_only[0] == 0 and n_only[1] == 0:
        return 1
    # leftovers: content words of one side with no equal or typo partner on the other
    for side in range(2):
        o = 1 - side
        for k in range(n_only[side]):
            if not _partnered(data, only_s[side, k], only_e[side, k], all_s[o], all_e[o], n_all[o]):
                at = n_left[side]
                left_s[side, at], left_e[side, at], left_h[side, at] = only_s[side, k], only_e[side, k], only_h[side, k]
                n_left[side] += 1
    if n_left[0] and n_left[1]:
        return 0  # a substitution: left over on both sides
    if n_left[0] == 0 and n_left[1] == 0:
        return 1
    side = 0 if n_left[0] else 1
    o = 1 - side
    if n_segs[side] < 2:
        return 0
    # Leftovers must lie in trailing segments wholly new to the other text.
    for k in range(n[side]):  # a leftover in the first segment (any of its words)
        if seg[side, k] == 0 and _member(data, ws[side, k], we[side, k], wh[side, k], left_s[side], left_e[side], left_h[side], n_left[side]):
            return 0
    for g in range(1, n_segs[side]):
        has_content = False
        for k in range(n[side]):
            if seg[side, k] == g and content[side, k]:
                has_content = True
        meets_left, meets_other = False, False
        for k in range(n[side]):  # the segment's content words, else its function words
            if seg[side, k] != g or content[side, k] != has_content:
                continue
            if _member(data, ws[side, k], we[side, k], wh[side, k], left_s[side], left_e[side], left_h[side], n_left[side]):
                meets_left = True
            if _member(data, ws[side, k], we[side, k], wh[side, k], all_s[o], all_e[o], all_h[o], n_all[o]):
                meets_other = True
        if meets_left and meets_other:
            return 0
    for k in range(n[side]):  # the first segment shares a word with the other text
        if seg[side, k] == 0 and _member(data, ws[side, k], we[side, k], wh[side, k], all_s[o], all_e[o], all_h[o], n_all[o]):
            return 1
    return 0


@njit(cache=True, nogil=True)
def rule_pairs(data, starts, ends, i, j, out):
    """out[p] = ``_rule`` of forms i[p] and j[p] (form t: data[starts[t]:ends[t]])."""
    ints = np.empty((17, 2, MAX_WORDS), np.int64)
    flags = np.ones((2, 2, MAX_WORDS), np.bool_)
    counts = np.zeros((6, 2), np.int64)
    for p in range(i.size):
        out[p] = _rule(data, starts[i[p]], ends[i[p]], starts[j[p]], ends[j[p]], ints, flags, counts)


@njit(cache=True, nogil=True)
def several_keys(data, starts, ends, out, key_start, key_end, count):
    """``textdup.several_segment_keys``: text t's keys into out[key_start[2t + k]:key_end[2t +
    k]] for k < count[t]."""
    w = 0
    for t in range(starts.size):
        s, e = starts[t], ends[t]
        # the form's words: byte ranges, segment, content (before the segment's 0x1E) or not
        n_words = 0  # an upper bound: the bytes that start a word
        for x in range(s, e):
            if data[x] != 0x20 and data[x] != 0x1E and data[x] != 0x1F:
                if x == s or data[x - 1] == 0x20 or data[x - 1] == 0x1E or data[x - 1] == 0x1F:
                    n_words += 1
        ws, we = np.empty(n_words, np.int64), np.empty(n_words, np.int64)
        seg, content = np.empty(n_words, np.int64), np.empty(n_words, np.bool_)
        n = parse_form(data, s, e, ws, we, seg, content)[0]
        any_content = content[:n].any()
        # the whole text's words: each segment's chosen words are sorted and distinct in
        # the form; merged one segment at a time into `cur` (distinct, sorted by bytes)
        cur_s, cur_e = np.empty(n_words, np.int64), np.empty(n_words, np.int64)
        tmp_s, tmp_e = np.empty(n_words, np.int64), np.empty(n_words, np.int64)
        n_cur = 0
        a = 0
        while a < n:
            b = a
            while b < n and seg[b] == seg[a]:
                b += 1
            i, j, m = 0, a, 0
            while i < n_cur or j < b:
                if j < b and content[j] != any_content:
                    j += 1
                    continue
                order = 0  # cur[i] vs word j: -1 less, 0 equal, 1 greater
                if i >= n_cur:
                    order = 1
                elif j >= b:
                    order = -1
                else:
                    p, q = cur_s[i], ws[j]
                    while p < cur_e[i] and q < we[j] and data[p] == data[q]:
                        p += 1
                        q += 1
                    if p < cur_e[i] and q < we[j]:
                        order = -1 if data[p] < data[q] else 1
                    elif p < cur_e[i]:
                        order = 1
                    elif q < we[j]:
                        order = -1
                if order <= 0:
                    tmp_s[m], tmp_e[m] = cur_s[i], cur_e[i]
                    i += 1
                    if order == 0:
                        j += 1
                else:
                    tmp_s[m], tmp_e[m] = ws[j], we[j]
                    j += 1
                m += 1
            cur_s, tmp_s = tmp_s, cur_s
            cur_e, tmp_e = tmp_e, cur_e
            n_cur = m
            a = b
        key_start[2 * t] = w
        for i in range(n_cur):
            if i:
                out[w] = 0x20
                w += 1
            for p in range(cur_s[i], cur_e[i]):
                out[w] = data[p]
                w += 1
        key_end[2 * t] = w
        count[t] = 1 if n_cur else 0
        # the first segment's words: its content words, else its function words
        first_content = False
        for i in range(n):
            if seg[i] == 0 and content[i]:
                first_content = True
        key_start[2 * t + 1] = w
        k = 0
        same = True
        for i in range(n):
            if seg[i] != 0 or content[i] != first_content:
                continue
            if k:
                out[w] = 0x20
                w += 1
            if k >= n_cur or we[i] - ws[i] != cur_e[k] - cur_s[k]:
                same = False
            else:
                for p in range(we[i] - ws[i]):
                    if data[ws[i] + p] != data[cur_s[k] + p]:
                        same = False
                        break
            for p in range(ws[i], we[i]):
                out[w] = data[p]
                w += 1
            k += 1
        key_end[2 * t + 1] = w
        if k != n_cur:
            same = False
        if not same and k:
            count[t] += 1
