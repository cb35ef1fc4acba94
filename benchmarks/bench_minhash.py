"""MinHash signatures/s: curate's batched numpy kernel vs a per-text datasketch loop with the
same parameters (num_perm, seed, scheme affine32, the same shingles), checking that every
signature is identical. Target: >= 5x.

    .venv/bin/python benchmarks/bench_minhash.py [--texts 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from datasketch import MinHash

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.ops import minhash as ops  # noqa: E402


def datasketch_loop(shingle_lists, num_perm, seed):
    out = np.empty((len(shingle_lists), num_perm), dtype=np.uint32)
    for i, sh in enumerate(shingle_lists):
        m = MinHash(num_perm=num_perm, seed=seed)  # default scheme: affine32
        for s in sh:
            m.update(s.encode("utf-8"))
        out[i] = m.hashvalues
    return out


def datasketch_bulk(shingle_lists, num_perm, seed):
    ms = MinHash.bulk([[s.encode("utf-8") for s in sh] for sh in shingle_lists], num_perm=num_perm, seed=seed)
    return np.stack([m.hashvalues for m in ms])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    c = DedupTextConfig()
    texts = text_data.texts(a.texts)
    for unit, ngram in ((c.unit, c.ngram), ("word", 1)):
        sh = [ops.shingles(t, ngram, unit) for t in texts]
        ours, ref, bulk = [], [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            sig = ops.signatures(sh, c.num_perm, c.minhash_seed)
            ours.append(len(sh) / (time.perf_counter() - t))
            t = time.perf_counter()
            ds = datasketch_loop(sh, c.num_perm, c.minhash_seed)
            ref.append(len(sh) / (time.perf_counter() - t))
            t = time.perf_counter()
            db = datasketch_bulk(sh, c.num_perm, c.minhash_seed)
            bulk.append(len(sh) / (time.perf_counter() - t))
        identical = bool((sig == ds).all() and (sig == db).all())
        med = statistics.median
        print(
            f"{unit} {ngram}-grams ({sum(map(len, sh)) / len(sh):.1f} shingles/text), num_perm={c.num_perm}: "
            f"curate {med(ours):,.0f}/s, datasketch update loop {med(ref):,.0f}/s, "
            f"datasketch bulk {med(bulk):,.0f}/s; ratio vs loop {med(ours) / med(ref):.1f}x "
            f"(target >= 5), vs bulk {med(ours) / med(bulk):.1f}x; identical signatures: {identical}"
        )


if __name__ == "__main__":
    main()
