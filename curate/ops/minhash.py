"""MinHash signatures of alt-texts and LSH band keys, as pure numpy/Python functions
(verification: ``curate.ops.textdup``; connected components: ``curate.ops.components``).

Signatures are identical to ``datasketch.MinHash(num_perm, seed)`` with datasketch 2.0's
default ``scheme="affine32"`` (uint32 values: sha1 → first 4 bytes little-endian →
MurmurHash3 ``fmix32`` → ``a * h + b mod 2**32`` → min), fed with the UTF-8 bytes of the
same shingles. The permutations are taken from datasketch itself, so the identity holds by
construction and is tested. A batch is hashed at once: its shingle lists become one Arrow
list array (C++), Arrow's hash table finds the distinct shingles, each distinct shingle is
hashed once (sha1 + fmix32), and a compiled numba loop takes, per text, the minimum of
``a * h + b`` over its shingles without materialising the (shingles x num_perm) matrix
(``benchmarks/bench_minhash.py``, ``benchmarks/results/minhash_2026-11-30.json``: 11x
datasketch's own ``MinHash.bulk`` on the default character 3-grams; the numpy gather +
``np.minimum.reduceat`` kernel it replaced was 1.2-1.9x). numba is imported and the loop
compiled or loaded from numba's on-disk cache on first use (~1-4 s per process). The stage
itself signs from integer shingle codes (``textdup.key_signatures``): no string per shingle,
each distinct shingle's hash kept per process, the same loop (``signatures_of_hashes``).

Shingles: the text is lower-cased and reduced to its ``\\w+`` tokens (Unicode word
characters; punctuation, case and spacing differences do not count). ``unit="char"``: the
distinct ``ngram``-character substrings of the tokens joined by single spaces (the default:
re-posted alt-texts differ by typos, and a typo costs a whole word shingle but only ~3
character shingles); ``unit="word"``: the distinct ``ngram``-word sequences. A text shorter
than one shingle is one shingle; a text without any word has none and never becomes a
candidate.
"""

from __future__ import annotations

import functools
import hashlib
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"\w+")
_FMIX32 = (np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35))
_FMIX64 = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's value for a MinHash that saw nothing
CHUNK = 4096  # texts hashed together (bounds the Arrow arrays of one call)


def shingles(text: str | None, ngram: int, unit: str = "char") -> list[str]:
    """Distinct shingles of a text, in first-seen order (see the module docstring)."""
    if not text:
        return []
    words = _TOKEN.findall(text.lower())
    if not words:
        return []
    if unit == "char":
        seq: str | list[str] = " ".join(words)
        if len(seq) <= ngram:
            return [seq]
        return list(dict.fromkeys(seq[i : i + ngram] for i in range(len(seq) - ngram + 1)))
    if len(words) <= ngram:
        return [" ".join(words)]
    return list(dict.fromkeys(" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)))


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 arrays of datasketch's affine32 permutations for (num_perm, seed)."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
    a, b = m.permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * _FMIX32[0]
    h = h ^ (h >> np.uint32(13))
    h = h * _FMIX32[1]
    return h ^ (h >> np.uint32(16))


def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _FMIX64[0]
    h = h ^ (h >> np.uint64(33))
    h = h * _FMIX64[1]
    return h ^ (h >> np.uint64(33))


def sha1_hash32(items: list[bytes]) -> np.ndarray:
    """datasketch's ``sha1_hash32`` over many values: first 4 digest bytes, little-endian."""
    joined = b"".join(hashlib.sha1(x).digest()[:4] for x in items)
    return np.frombuffer(joined, dtype="<u4").astype(np.uint32)


@functools.cache
def _min_kernel():
    """The compiled per-text minimum (numba is imported and the kernel compiled, or loaded
    from numba's cache, on first use: importing this module stays cheap)."""

    def min_affine32(offsets, idx, hv, a, b, out):
        # out[i, j] = min over the shingles k of text i of (a[j] * hv[idx[k]] + b[j]) mod 2**32
        n, p = out.shape
        for i in range(n):
            row = out[i]
            for k in range(offsets[i], offsets[i + 1]):
                h = hv[idx[k]]
                for j in range(p):
                    v = np.uint32((a[j] * h + b[j]) & np.uint64(0xFFFFFFFF))
                    if v < row[j]:
                        row[j] = v

    return compiled(min_affine32)


def compiled(fn):
    """`fn` compiled by numba (nogil), cached on disk where numba can write its cache."""
    from numba import njit

    try:  # numba's on-disk cache: next to the function's file, else in the user's cache folder
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # neither is writable: compile in each process
        return njit(nogil=True)(fn)


def signatures(
    shingle_lists: list[list[str]], num_perm: int = 128, seed: int = 1
) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures, one row per shingle list."""
    a, b = permutations(num_perm, seed)
    n = len(shingle_lists)
    out = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    kernel = _min_kernel()
    for start in range(0, n, CHUNK):
        lists = pa.array(shingle_lists[start : start + CHUNK], pa.large_list(pa.large_string()))
        if len(lists.values) == 0:
            continue
        encoded = pc.dictionary_encode(lists.values)
        distinct = encoded.dictionary.cast(pa.large_binary()).to_pylist()  # UTF-8 bytes
        kernel(
            lists.offsets.to_numpy(),
            encoded.indices.to_numpy(),
            shingle_hashes(distinct),
            a,
            b,
            out[start : start + CHUNK],
        )
    return out


def shingle_hashes(items: list[bytes]) -> np.ndarray:
    """datasketch's 32-bit value of each shingle's UTF-8 bytes before the permutations
    (sha1, first 4 bytes little-endian, ``fmix32``)."""
    return _fmix32(sha1_hash32(items))


def signatures_of_hashes(offsets: np.ndarray, idx: np.ndarray, hv: np.ndarray, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """(n, num_perm) signatures of n shingle sets given by their hashes: set i is
    hv[idx[offsets[i]:offsets[i + 1]]] (``shingle_hashes`` of its shingles). Equal to
    ``signatures`` of the shingle lists; an empty set gets datasketch's empty value."""
    a, b = permutations(num_perm, seed)
    out = np.full((len(offsets) - 1, num_perm), EMPTY, dtype=np.uint32)
    _min_kernel()(
        np.ascontiguousarray(offsets, np.int64),
        np.ascontiguousarray(idx, np.int32),  # the types ``signatures`` passes: one compiled kernel
        np.ascontiguousarray(hv, np.uint32),
        a,
        b,
        out,
    )
    return out


@functools.lru_cache(maxsize=8)
def _band_multipliers(rows: int) -> np.ndarray:
    # Fixed odd 64-bit multipliers (not the seed): band keys only need to be equal for
    # equal band rows and rarely equal otherwise.
    rng = np.random.RandomState(0x5EED)
    return rng.randint(0, 1 << 62, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 keys: a 64-bit hash of each band's `rows` values, mixed with the
    band index so that equal values in different bands do not collide."""
    n = sig.shape[0]
    if bands * rows > sig.shape[1]:
        raise ValueError(f"bands * rows = {bands * rows} exceeds num_perm = {sig.shape[1]}")
    mult = _band_multipliers(rows)
    v = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        h = (v * mult[None, None, :]).sum(axis=2, dtype=np.uint64)
        h = h + np.arange(1, bands + 1, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)
        return fmix64(h)


def collision_probability(j: float, bands: int, rows: int) -> float:
    """P(a pair of Jaccard j shares at least one band) = 1 - (1 - j^rows)^bands."""
    return 1.0 - (1.0 - j**rows) ** bands
