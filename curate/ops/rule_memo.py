"""A worker's memory of the content-word rule's verdicts (stage dedup_text).

A pair of captions similar enough to reach the rule (``textdup.near_duplicate``: Jaccard at
or above the threshold) shares many LSH bands, so the rule meets it again in most partitions
where the two share one: in one worker's share of the 1M-pair benchmark pool it ran on 2.99M
pairs, of which 460K distinct (``benchmarks/bench_worker_verify.py``,
``worker_verify_1m_2026-12-03.json``). ``RuleMemo`` keeps the verdicts per process, keyed by
the pair of texts:

- texts are numbered by their tokenized form's bytes: a hash finds the slot, the bytes are
  then compared, so two texts get one number only when their forms are equal;
- a verdict is stored under the pair of numbers, in the order the pair was given.

The forms live in arrays of fixed size, the two hash tables grow as they fill; all are filled
in compiled code. When a partition's new texts do not fit, the memo is emptied and filled
again from that partition (the verdicts, keyed by the old numbers, go with it), so a
worker's memory stays bounded whatever the pool. What the
memo holds changes only the time a partition takes: every verdict it gives is the rule's for
the same two forms (``tests/unit/test_rule_memo.py`` compares them, with memos small
enough to be emptied on every partition and hashes cut to a few bits).

Texts' shingle codes are not kept: a stored text costs a few random reads of memory far
larger than the cache, about what computing its codes again from the form's bytes costs, and
verification reading rows from such a store ran no faster
(``benchmarks/results/text_stage_dropped_experiments_2026-12-03.txt``); so a partition computes
its texts' codes (``textdup.text_codes``) and only the texts of pairs that reach the rule are
looked up here.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLD = 0x9E3779B97F4A7C15
# columns of RuleMemo.entries
START, LENGTH, HASH = range(3)


@njit(cache=True, nogil=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _form_hash(data, s, e, mask):
    """A 64-bit hash of data[s:e], eight bytes at a time, cut by `mask`."""
    h = np.uint64(e - s) * np.uint64(_GOLD)
    x = s
    while x < e:
        w = np.uint64(0)
        for k in range(min(8, e - x)):
            w |= np.uint64(data[x + k]) << np.uint64(8 * k)
        h = _mix(h ^ w)
        x += 8
    return _mix(h) & mask


@njit(cache=True, nogil=True)
def _probe(data, s, e, h, table, shift, entries, forms):
    """(slot, entry): the entry holding form data[s:e] (hash h), or -1 and the empty slot
    where it would go. table[slot] = (hash, entry + 1; 0: empty); its size is 2 ** (64 -
    shift)."""
    wrap = table.shape[0] - 1
    slot = np.int64((h * np.uint64(_GOLD)) >> shift)
    n = e - s
    while True:
        t = table[slot, 1]
        if t == 0:
            return slot, -1
        if np.uint64(table[slot, 0]) == h:
            k = t - 1
            if entries[k, LENGTH] == n:
                f = entries[k, START]
                same = True
                for x in range(n):
                    if forms[f + x] != data[s + x]:
                        same = False
                        break
                if same:
                    return slot, k
        slot = (slot + 1) & wrap


@njit(cache=True, nogil=True)
def number(data, starts, ends, mask, table, shift, entries, forms, used, ids):
    """ids[t] = the entry of form data[starts[t]:ends[t]], the form stored as a new entry
    where it is not yet (`used` = entries, form bytes in use; the caller has checked that
    all fits)."""
    for t in range(starts.size):
        s, e = starts[t], ends[t]
        h = _form_hash(data, s, e, mask)
        slot, k = _probe(data, s, e, h, table, shift, entries, forms)
        if k < 0:
            k = used[0]
            used[0] += 1
            table[slot, 0], table[slot, 1] = np.int64(h), k + 1
            entries[k, START], entries[k, LENGTH], entries[k, HASH] = used[1], e - s, np.int64(h)
            for x in range(e - s):
                forms[used[1] + x] = data[s + x]
            used[1] += e - s
        ids[t] = k


@njit(cache=True, nogil=True)
def rehash_forms(entries, n, table, shift):
    """Place entries 0 .. n - 1 in an empty `table` (by their stored hashes)."""
    wrap = table.shape[0] - 1
    for k in range(n):
        h = np.uint64(entries[k, HASH])
        slot = np.int64((h * np.uint64(_GOLD)) >> shift)
        while table[slot, 1] != 0:
            slot = (slot + 1) & wrap
        table[slot, 0], table[slot, 1] = np.int64(h), k + 1


@njit(cache=True, nogil=True)
def rehash_pairs(keys, values, new_keys, new_values, shift):
    """Place the stored pairs of (keys, values) in empty (new_keys, new_values)."""
    wrap = new_keys.size - 1
    for x in range(keys.size):
        if keys[x] != 0:
            slot = np.int64((keys[x] * np.uint64(_GOLD)) >> shift)
            while new_keys[slot] != 0:
                slot = (slot + 1) & wrap
            new_keys[slot], new_values[slot] = keys[x], values[x]


@njit(cache=True, nogil=True)
def _pair_slot(a, b, keys, shift):
    key = (np.uint64(a + 1) << np.uint64(32)) | np.uint64(b + 1)
    wrap = keys.size - 1
    slot = np.int64((key * np.uint64(_GOLD)) >> shift)
    while keys[slot] != 0 and keys[slot] != key:
        slot = (slot + 1) & wrap
    return slot, key


@njit(cache=True, nogil=True)
def recall(a, b, keys, shift, values, out):
    """out[p] = the verdict stored for entries (a[p], b[p]), or -1."""
    for p in range(a.size):
        slot, key = _pair_slot(a[p], b[p], keys, shift)
        out[p] = values[slot] if keys[slot] == key else -1


@njit(cache=True, nogil=True)
def remember(a, b, verdicts, keys, shift, values, used):
    for p in range(a.size):
        slot, key = _pair_slot(a[p], b[p], keys, shift)
        if keys[slot] != key:
            keys[slot] = key
            values[slot] = verdicts[p]
            used[0] += 1


SMALLEST = 1 << 12  # slots of a hash table when the memo starts or is emptied


def _table(n: int, dtype, width: int | None = None) -> tuple[np.ndarray, np.uint64]:
    """A zeroed hash table of at least `n` slots (a power of two, at least 2 ** 12) and its
    hash shift."""
    bits = max(12, int(n - 1).bit_length())
    return np.zeros((1 << bits,) if width is None else (1 << bits, width), dtype), np.uint64(64 - bits)


class RuleMemo:
    """Up to `verdicts` verdicts of the rule, for pairs among up to `texts` distinct forms
    (`form_bytes` bytes of forms in all): ~125 MB when full with the defaults. Its hash
    tables start small and double as they fill (at most half full), so what a worker reads
    stays as small as what it has met. `hash_bits` cuts the forms' hashes (tests: collisions
    on every lookup)."""

    def __init__(self, texts: int = 1 << 20, form_bytes: int = 32 << 20, verdicts: int = 1 << 21, hash_bits: int = 64):
        if not 0 < texts < (1 << 32) - 1:  # a verdict's key holds two entry numbers (+ 1) in 32 bits each
            raise ValueError(f"RuleMemo texts must be in [1, 2**32 - 1): got {texts}")
        self.capacity = (int(texts), int(form_bytes))
        self.max_verdicts = int(verdicts)
        self.mask = np.uint64((1 << hash_bits) - 1)
        self.emptied = 0  # times the texts were dropped to make room
        self.entries = np.zeros((self.capacity[0], 3), np.int64)
        self.forms = np.zeros(self.capacity[1], np.uint8)
        self.clear()

    def clear(self) -> None:
        self.table, self.shift = _table(SMALLEST, np.int64, 2)
        self.used = np.zeros(2, np.int64)  # entries, form bytes
        self.forget_verdicts()

    def forget_verdicts(self) -> None:
        self.pair_keys, self.pair_shift = _table(SMALLEST, np.uint64)
        self.pair_values = np.zeros(self.pair_keys.size, np.int8)
        self.pairs_used = np.zeros(1, np.int64)

    def number(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        """The entries of forms data[starts[t]:ends[t]] (equal exactly for equal forms), new
        forms stored; the memo is emptied first when they might not fit, and None returned
        when they would not fit even then (nothing stored)."""
        need = (int(starts.size), int((ends - starts).sum()))
        if any(u + x > c for u, x, c in zip(self.used.tolist(), need, self.capacity, strict=True)):
            self.clear()
            self.emptied += 1
            if any(x > c for x, c in zip(need, self.capacity, strict=True)):
                return None
        self.reserve(texts=need[0])
        ids = np.empty(starts.size, np.int64)
        number(data, starts, ends, self.mask, self.table, self.shift, self.entries, self.forms, self.used, ids)
        return ids

    def reserve(self, texts: int = 0, pairs: int = 0) -> None:
        """Grow the hash tables (rehashing what they hold) so that `texts` more texts and
        `pairs` more verdicts leave each at most half full."""
        if 2 * (int(self.used[0]) + texts) > self.table.shape[0]:
            self.table, self.shift = _table(2 * (int(self.used[0]) + texts), np.int64, 2)
            rehash_forms(self.entries, int(self.used[0]), self.table, self.shift)
        if 2 * (int(self.pairs_used[0]) + pairs) > self.pair_keys.size:
            keys, shift = _table(2 * (int(self.pairs_used[0]) + pairs), np.uint64)
            values = np.zeros(keys.size, np.int8)
            rehash_pairs(self.pair_keys, self.pair_values, keys, values, shift)
            self.pair_keys, self.pair_shift, self.pair_values = keys, shift, values

    def verdicts(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray, i: np.ndarray, j: np.ndarray, rule) -> np.ndarray:
        """Verdicts (0/1) of pairs (form i[p], form j[p]) (forms data[starts[t]:ends[t]]):
        those stored, and rule(i', j') for the others (stored for the next call)."""
        i, j = np.ascontiguousarray(i, np.int64), np.ascontiguousarray(j, np.int64)
        if not i.size:
            return np.zeros(0, np.int64)
        texts = np.unique(np.concatenate((i, j)))
        ids = self.number(data, starts[texts], ends[texts])
        if ids is None:
            return np.asarray(rule(i, j), np.int64)
        entry = np.full(starts.size, -1, np.int64)
        entry[texts] = ids
        a, b = entry[i], entry[j]
        out = np.empty(a.size, np.int64)
        recall(a, b, self.pair_keys, self.pair_shift, self.pair_values, out)
        todo = np.flatnonzero(out < 0)
        if todo.size:
            out[todo] = rule(i[todo], j[todo])
            self._remember(a[todo], b[todo], out[todo])
        return out

    def _remember(self, a, b, verdicts) -> None:
        if self.pairs_used[0] + a.size > self.max_verdicts:
            self.forget_verdicts()
            if a.size > self.max_verdicts:
                return
        self.reserve(pairs=a.size)
        remember(a, b, verdicts.astype(np.int8), self.pair_keys, self.pair_shift, self.pair_values, self.pairs_used)


_PROCESS_MEMO: list[RuleMemo] = []


def process_memo() -> RuleMemo:
    """This process's memo (made on first use)."""
    if not _PROCESS_MEMO:
        _PROCESS_MEMO.append(RuleMemo())
    return _PROCESS_MEMO[0]
