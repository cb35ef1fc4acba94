"""Compile the text stage's numba kernels once, into numba's on-disk cache.

A process that finds a kernel in the cache loads it in well under a second; one that does not
compiles it, ~14 s for the text stage's kernels on a 2-core machine, and every worker process
started before the first one has written the cache compiles them too. ``scripts/setup.sh``
runs this after installing, so the first pipeline run (and a test suite's first worker)
starts warm; an image for a cluster can run it at build time:

    python -m curate.ops.warm    # prints the seconds of each step
    NUMBA_CACHE_DIR=$(mktemp -d) python -m curate.ops.warm    # the same, from a cold cache

The cache lives next to each kernel's source file (``__pycache__``), or in the user's cache
folder where that is read-only; it is keyed by the source file, so an edited file compiles
again. The kernels are reached only through their public callers, with the argument types
the stages pass, so the signatures compiled here are the ones a run needs.
"""

from __future__ import annotations

import time

import pyarrow as pa

from curate.config import DedupTextConfig
from curate.ops import minhash, rule_memo, text_filter, textdup

# Captions that take every branch of verification: a one-segment pair of near-duplicates,
# several-segment texts (two LSH keys each), non-ASCII forms (the rule's Python path) and
# identical texts (same identity).
CAPTIONS = [
    "a red car parked on the street at night",
    "a red car parked on a street at night",
    "the cat sat on the mat | photo by a friend",
    "the cat sat on the mat | photo by a neighbour",
    "café au lait in a blue cup",
    "café au lait in a blue cup!",
    "mountains over a lake at sunrise",
    "mountains over a lake at sunrise",
]


def warm(config: DedupTextConfig = DedupTextConfig()) -> dict[str, float]:
    """Run each compiled kernel once; seconds per step (compile or cache load included)."""
    seconds = {}
    t = time.perf_counter()
    text_filter.word_counts(pa.array(CAPTIONS, pa.string()))
    text_filter.FastTextLanguageId().classify_array(pa.array(CAPTIONS, pa.string()))  # the model's load too
    seconds["filter"] = time.perf_counter() - t
    t = time.perf_counter()
    segs = [textdup.segments(x) for x in CAPTIONS]
    forms = [textdup.tokenized_segments(s) for s in segs]
    keys = [k for f, s in zip(forms, segs, strict=True) for k in textdup.keys_of_form_and_segments(f, s)]
    sig = textdup.key_signatures(keys, config.ngram, config.unit, config.num_perm, config.minhash_seed)
    minhash.band_keys(sig, config.bands, config.rows)
    minhash.signatures([minhash.shingles(k, 1, "word") for k in keys], config.num_perm, config.minhash_seed)
    seconds["signing"] = time.perf_counter() - t
    t = time.perf_counter()
    everyone = [list(range(len(CAPTIONS)))]
    memo = rule_memo.RuleMemo()
    memo.reserve(texts=rule_memo.SMALLEST, pairs=rule_memo.SMALLEST)  # its tables' growth
    for unit, ngram in ((config.unit, config.ngram), ("word", 1)):
        edges = textdup.partition_edges(
            everyone, pa.array(forms, pa.string()), config.threshold, ngram, unit, config.max_compare, memo=memo
        )
        if (0, 1) not in edges or (6, 7) not in edges:
            raise RuntimeError(f"kernel warm-up: unexpected edges {edges} ({unit} {ngram}-grams)")
    seconds["verification"] = time.perf_counter() - t
    return seconds


def main() -> None:
    seconds = warm()
    print("numba kernels ready: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
