"""MetaCLIP balancing (Algorithm 1 of "Demystifying CLIP Data") as pure numpy functions.

Each entry e with a global match count c_e gets p_e = min(1, t / c_e); a pair is kept with
probability 1 - prod(1 - p_e) over its matched entries. MetaCLIP draws one Bernoulli per
(entry, pair); one uniform draw per pair against 1 - prod(1 - p_e) has the same
distribution and lets the draw come from a hash of (uid, stage, seed), so reruns and
runners agree. Pairs whose entries all have c_e <= t are always kept.

Choosing t (MetaCLIP's ``metaclip/curation/curate.py``): ``p_to_t`` picks, among the
entry counts, the one where the share of matches held by entries below it (the tail share)
is closest to p; MetaCLIP's English t=20K (CLIP) / 170K (MetaCLIP 2.5B) correspond to
tail shares of a few percent, and the issue's default is 6%.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STAGE = "balance"


def uniform(uids: list[str], stage: str, seed: int) -> np.ndarray:
    """A uniform [0, 1) number per uid from blake2b(seed, stage, uid): reproducible anywhere."""
    salt = f"{seed}\x00{stage}\x00".encode()
    raw = b"".join(hashlib.blake2b(salt + u.encode(), digest_size=8).digest() for u in uids)
    h = np.frombuffer(raw, dtype="<u8")
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def count_entries(matched: pa.ChunkedArray | pa.Array, size: int = 0) -> np.ndarray:
    """int64 counts per entry id (a pair counts once per entry it matched)."""
    values = pc.list_flatten(matched).to_numpy(zero_copy_only=False)
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    return np.bincount(values.astype(np.int64), minlength=size).astype(np.int64)


def add_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) < len(b):
        a, b = b, a
    out = a.copy()
    out[: len(b)] += b
    return out


def p_to_t(counts: np.ndarray, tail_share: float) -> int:
    """MetaCLIP's rule: the entry count whose cumulative share (ascending) is closest to
    `tail_share`."""
    c = np.sort(counts[counts > 0])
    if c.size == 0:
        return 1
    portion = np.cumsum(c) / c.sum()
    return int(max(1, c[int(np.abs(portion - tail_share).argmin())]))


def tail_share(counts: np.ndarray, t: int) -> float:
    """Share of all matches held by entries with count < t."""
    total = counts.sum()
    return float(counts[counts < t].sum() / total) if total else 0.0


def head_probabilities(counts: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(entry ids with count > t, their p_e = t / count) — all other entries have p_e = 1."""
    ids = np.flatnonzero(counts > t).astype(np.int64)
    return ids, (t / counts[ids]).astype(np.float64)


def pair_probabilities(
    matched: pa.ChunkedArray | pa.Array, head_ids: np.ndarray, head_p: np.ndarray
) -> np.ndarray:
    """1 - prod(1 - p_e) per pair; 0 for a pair with no matched entry."""
    if isinstance(matched, pa.ChunkedArray):
        matched = matched.combine_chunks()
    matched = pc.fill_null(matched, pa.scalar([], matched.type))
    lengths = pc.list_value_length(matched).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.list_flatten(matched).to_numpy(zero_copy_only=False).astype(np.int64)
    p = np.ones(values.size, dtype=np.float64)
    if head_ids.size and values.size:
        pos = np.searchsorted(head_ids, values)
        pos = np.minimum(pos, head_ids.size - 1)
        hit = head_ids[pos] == values
        p[hit] = head_p[pos[hit]]
    out = np.zeros(lengths.size, dtype=np.float64)
    nonempty = lengths > 0
    if values.size:
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        out[nonempty] = 1.0 - np.multiply.reduceat(1.0 - p, starts)
    return out


def expected_kept_fraction(sample: list[list[int]], counts: np.ndarray, t: float) -> float:
    if not sample:
        return 0.0
    arr = pa.array(sample, pa.list_(pa.int64()))
    ids, p = head_probabilities(counts, t)
    return float(pair_probabilities(arr, ids, p).mean())


def t_for_target(sample: list[list[int]], counts: np.ndarray, total: int, target: int) -> int:
    """The smallest integer t whose expected kept size (estimated on `sample`, a
    deterministic hash-ordered sample of the pairs' entry lists) reaches `target`."""
    hi = int(max(1, counts.max() if counts.size else 1))
    if target >= total or expected_kept_fraction(sample, counts, hi) * total < target:
        return hi
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if expected_kept_fraction(sample, counts, mid) * total >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo
