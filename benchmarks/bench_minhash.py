"""MinHash signatures/s: curate's kernel (Arrow + numba) vs datasketch with the same
parameters (num_perm, seed, scheme affine32, the same shingles): its own ``MinHash.bulk``
(the fair reference; target >= 5x) and the per-text ``update`` loop, plus the numpy
gather + ``reduceat`` kernel curate used before (for the record). Then the signing step's
own path from the texts' LSH keys, shingling included (``textdup.key_signatures``: shingle
codes, hashes kept per process) against shingle strings + ``signatures`` (the step before)
and shingle strings + ``MinHash.bulk``. Every signature is checked to be identical to
datasketch's. Methods alternate within each repeat; medians.

    .venv/bin/python benchmarks/bench_minhash.py [--texts 20000] [--repeats 5]
        [--out benchmarks/results/minhash_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from datasketch import MinHash

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.ops import minhash as ops  # noqa: E402
from curate.ops import textdup  # noqa: E402


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


def numpy_gather(shingle_lists, num_perm, seed, chunk=1024):
    """curate's kernel until 2026-11-30: distinct shingles hashed once in a Python dict
    loop, the (shingles x num_perm) matrix gathered, ``np.minimum.reduceat`` per text."""
    a, b = ops.permutations(num_perm, seed)
    out = np.full((len(shingle_lists), num_perm), ops.EMPTY, dtype=np.uint32)
    for c0 in range(0, len(shingle_lists), chunk):
        part = shingle_lists[c0 : c0 + chunk]
        index: dict[str, int] = {}
        flat: list[int] = []
        lengths = np.zeros(len(part), dtype=np.int64)
        for i, sh in enumerate(part):
            lengths[i] = len(sh)
            for s in sh:
                j = index.get(s)
                if j is None:
                    j = index[s] = len(index)
                flat.append(j)
        if not flat:
            continue
        hv = ops._fmix32(np.frombuffer(b"".join(hashlib.sha1(s.encode("utf-8")).digest()[:4] for s in index), "<u4").astype(np.uint32))
        values = (hv[:, None] * a[None, :] + b[None, :])[np.asarray(flat, dtype=np.int64)]
        nonempty = lengths > 0
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        out[c0 : c0 + len(part)][nonempty] = np.minimum.reduceat(values, starts, axis=0)
    return out


def race(methods: dict, repeats: int, n: int, before_repeat=None) -> tuple[dict, dict]:
    """Each method once per repeat, in turn: (items/s per method and repeat, last outputs)."""
    rates: dict[str, list[float]] = {m: [] for m in methods}
    outputs = {}
    for _ in range(repeats):
        if before_repeat is not None:
            before_repeat()
        for name, fn in methods.items():
            t = time.perf_counter()
            outputs[name] = fn()
            rates[name].append(n / (time.perf_counter() - t))
    return rates, outputs


def summarise(rates: dict, outputs: dict, ours: str) -> tuple[dict, dict]:
    """(median signatures/s per method, the JSON of the race: medians, each repeat, and whether
    every method's signatures equal `ours`')."""
    m = {k: statistics.median(v) for k, v in rates.items()}
    return m, {
        "sigs_per_s_median": {k: round(v) for k, v in m.items()},
        "sigs_per_s_each_repeat": {k: [round(x) for x in v] for k, v in rates.items()},
        "identical_to_datasketch": all(bool((outputs[ours] == s).all()) for s in outputs.values()),
    }


METHODS = {
    "curate": lambda sh, c: ops.signatures(sh, c.num_perm, c.minhash_seed),
    "datasketch_bulk": lambda sh, c: datasketch_bulk(sh, c.num_perm, c.minhash_seed),
    "datasketch_update_loop": lambda sh, c: datasketch_loop(sh, c.num_perm, c.minhash_seed),
    "numpy_gather_before": lambda sh, c: numpy_gather(sh, c.num_perm, c.minhash_seed),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / f"minhash_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    c = DedupTextConfig()
    texts = text_data.texts(a.texts)
    t = time.perf_counter()
    ops.signatures([["warm"]], c.num_perm, c.minhash_seed)  # numba: compile or load its cache
    first_call_s = time.perf_counter() - t
    result = {
        "command": "python benchmarks/bench_minhash.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0], "python": platform.python_version()},
        "config": {"num_perm": c.num_perm, "minhash_seed": c.minhash_seed, "scheme": "affine32"},
        "texts": len(texts),
        "repeats": a.repeats,
        "first_call_s": round(first_call_s, 3),
        "shingles": {},
    }
    for unit, ngram in ((c.unit, c.ngram), ("word", 1)):
        sh = [ops.shingles(t, ngram, unit) for t in texts]
        rates, sigs = race({name: functools.partial(fn, sh, c) for name, fn in METHODS.items()}, a.repeats, len(sh))
        m, summary = summarise(rates, sigs, "curate")
        identical = summary["identical_to_datasketch"]
        result["shingles"][f"{unit}_{ngram}"] = {
            "shingles_per_text": round(sum(map(len, sh)) / len(sh), 1),
            **summary,
            "ratio_vs_bulk": round(m["curate"] / m["datasketch_bulk"], 2),
            "ratio_vs_update_loop": round(m["curate"] / m["datasketch_update_loop"], 2),
            "ratio_before_vs_bulk": round(m["numpy_gather_before"] / m["datasketch_bulk"], 2),
        }
        print(
            f"{unit} {ngram}-grams ({sum(map(len, sh)) / len(sh):.1f} shingles/text), num_perm={c.num_perm}: "
            f"curate {m['curate']:,.0f}/s, datasketch bulk {m['datasketch_bulk']:,.0f}/s, "
            f"update loop {m['datasketch_update_loop']:,.0f}/s, previous numpy kernel {m['numpy_gather_before']:,.0f}/s; "
            f"curate vs bulk {m['curate'] / m['datasketch_bulk']:.1f}x (target >= 5), vs loop "
            f"{m['curate'] / m['datasketch_update_loop']:.1f}x; identical signatures: {identical}"
        )
        if not identical:
            print("SIGNATURES DIFFER", file=sys.stderr)
            return 1
    # The signing step's own input: the texts' LSH keys, shingling included in every method.
    keys = [k for t in texts for k in textdup.lsh_keys(t)]
    from_keys = {
        "curate_codes": lambda: textdup.key_signatures(keys, c.ngram, c.unit, c.num_perm, c.minhash_seed),
        "curate_shingle_strings": lambda: ops.signatures([ops.shingles(k, c.ngram, c.unit) for k in keys], c.num_perm, c.minhash_seed),
        "datasketch_bulk": lambda: datasketch_bulk([ops.shingles(k, c.ngram, c.unit) for k in keys], c.num_perm, c.minhash_seed),
    }
    textdup.key_signatures(keys[:10], c.ngram, c.unit, c.num_perm, c.minhash_seed)  # numba: compile or load
    # each repeat hashes its shingles anew, as a fresh worker would
    rates, key_sigs = race(from_keys, a.repeats, len(keys), before_repeat=textdup.clear_caches)
    m, summary = summarise(rates, key_sigs, "curate_codes")
    identical = summary["identical_to_datasketch"]
    result["from_keys"] = {
        "keys": len(keys),
        "shingles": f"{c.unit}_{c.ngram}",
        **summary,
        "ratio_vs_bulk": round(m["curate_codes"] / m["datasketch_bulk"], 2),
        "ratio_vs_shingle_strings": round(m["curate_codes"] / m["curate_shingle_strings"], 2),
    }
    print(
        f"from the {len(keys):,} LSH keys, shingling included: curate codes {m['curate_codes']:,.0f}/s, "
        f"shingle strings + curate {m['curate_shingle_strings']:,.0f}/s, shingle strings + datasketch bulk "
        f"{m['datasketch_bulk']:,.0f}/s; codes vs bulk {m['curate_codes'] / m['datasketch_bulk']:.1f}x, vs strings "
        f"{m['curate_codes'] / m['curate_shingle_strings']:.1f}x; identical signatures: {identical}"
    )
    if not identical:
        print("SIGNATURES DIFFER", file=sys.stderr)
        return 1
    print(f"first call (numba compile or cache load): {first_call_s:.2f} s")
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
