"""Where the text stage's time goes: filter → dedup_text → balance on generated pairs through
`curate.pipeline.run` with one in-process worker (driver and worker in this process) under
cProfile, the time split by kernel (cumulative seconds of the functions named below; the
Beam runner row is what is left: bundles, shuffles, coders, combiners). pyarrow's Cython
calls (to_pylist, pa.array, compute) are not seen by cProfile: their time is in the row of
the function that calls them.

    .venv/bin/python benchmarks/profile_text_stage.py [--pairs 50000]
        [--out benchmarks/results/text_stage_profile_<date>.json]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402
from bench_text_stage import write_pairs  # noqa: E402

from curate import config as cfg  # noqa: E402
from curate import pipeline  # noqa: E402
from curate.io import shards  # noqa: E402
from curate.ops import minhash, textdup  # noqa: E402
from curate.ops import text_filter as tf  # noqa: E402
from curate.runner import in_process_args  # noqa: E402
from curate.transforms import balance, components, dedup_text, filter  # noqa: E402


def key(fn):
    code = getattr(fn, "__code__", None) or fn.__func__.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=50_000)
    ap.add_argument("--out", default=str(HERE / "results" / f"text_stage_profile_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    entries, source = text_data.entries()
    texts = text_data.texts(a.pairs)
    prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        write_pairs(texts, tmp / "in")
        q = tmp / "queries"
        q.mkdir()
        (q / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
        config = cfg.PipelineConfig(
            input=str(tmp / "in" / "*.parquet"),
            output=str(tmp / "out"),
            queries=str(q),
            stages={"filter": cfg.FilterConfig(), "dedup_text": cfg.DedupTextConfig(), "balance": cfg.BalanceConfig()},
        )
        t = time.perf_counter()
        c = cfg.DedupTextConfig()
        minhash.signatures([["warm"]], c.num_perm, c.minhash_seed)
        textdup.key_signatures(["warm"], c.ngram, c.unit, c.num_perm, c.minhash_seed)
        numba_first_call = time.perf_counter() - t  # numba import + compile or cache load
        t = time.perf_counter()
        prof.enable()
        stats = pipeline.run(config, in_process_args(1))
        prof.disable()
        wall = time.perf_counter() - t
    st = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}

    def cum(*fns):
        return sum(st[key(f)][3] for f in fns if key(f) in st)

    def cum_from(fn, caller):  # cumulative time of fn when called by caller
        return st.get(key(fn), (0, 0, 0, 0, {}))[4].get(key(caller), (0, 0, 0, 0))[3]

    def tot_named(*names):  # builtins: ('~', 0, "<method 'to_pylist' of ...>") and the like
        return sum(v[2] for k, v in st.items() if any(n in k[2] for n in names))

    spacing = cum(tf.spacing_array)
    sign = cum(dedup_text.SignBatchFn.pieces)
    shingling = cum_from(textdup._char_codes, textdup.key_signatures)  # shingle codes of the LSH keys
    # a text's segments (its tokenized form) and LSH keys, when signing
    keys = sum(cum_from(f, dedup_text.SignBatchFn.pieces) for f in (textdup.segments, textdup.lsh_keys_of_segments))
    parts = {
        "filter: language id": cum(tf.LanguageId.classify),  # both identifiers run this loop
        "filter: MetaCLIP spacing (Arrow)": spacing,
        "filter: matching (automaton + ids)": cum(tf.Matcher.match_array) - spacing,
        "filter: word counts, text rule": cum(tf.word_counts, tf.text_rule_reasons),
        "filter: columns, split, removed records": cum(filter.FilterTextFn.process)
        - cum(tf.LanguageId.classify, tf.Matcher.match_array, tf.word_counts, tf.text_rule_reasons),
        "filter: automaton build, language model load (per worker)": cum(tf.Matcher.__init__, tf.LanguageId.__init__,
                                                                              tf.FastTextLanguageId.__init__),
        "dedup_text: LSH keys (content words)": keys,
        "dedup_text: shingling": shingling,
        "dedup_text: MinHash signatures (hashing)": cum(textdup.key_signatures) - shingling,
        "dedup_text: LSH band keys": cum(minhash.band_keys),
        "dedup_text: band tables, partitions": sign - keys - cum(textdup.key_signatures, minhash.band_keys),
        "dedup_text: candidates per bucket (all_bucket_candidates, compiled)": cum(textdup.all_bucket_candidates),
        "dedup_text: verification, LSH keys, shingle codes and identities from the tokenized forms (textdup.text_codes)": cum(textdup.text_codes),
        "dedup_text: verification, content-word rule (textdup.verdicts: compiled for ASCII forms, else the cached Python rule)": cum(textdup.verdicts),
        "dedup_text: verification, bulk Jaccard and the rest": cum(textdup.partition_edges)
        - cum(textdup.all_bucket_candidates, textdup.text_codes, textdup.verdicts),
        "dedup_text: buckets from band tables": cum(dedup_text.BucketEdgesFn.process) - cum(textdup.partition_edges),
        "dedup_text: connected components": cum(components._LabelFn.process, components._large_star, components._small_star, components._tell_neighbours),
        "dedup_text: caps, labels": cum(dedup_text.CapClusterFn.process, dedup_text.ApplyLabelsFn.process, shards.KeyByShardFn.pieces),
        "balance: counts, sample, choice": cum(balance.CountEntriesFn.add_input, balance.SampleEntriesFn.add_input, balance.BalanceFn.process),
        "Parquet read/write": cum(shards.read_shard, shards.write_shard),
    }
    total = sum(v[2] for v in st.values())
    parts["Beam runner (bundles, shuffles, coders, combiners) and the rest"] = total - sum(parts.values())
    overlaps = {
        "pickle dumps/loads (shuffled and side-input elements), anywhere": tot_named("_pickle.dumps", "_pickle.loads"),
    }
    top = sorted(st.items(), key=lambda kv: -kv[1][2])[:25]
    top_functions = [
        {"function": f"{Path(k[0]).name}:{k[1]}({k[2]})" if k[0] != "~" else k[2], "tottime_s": round(v[2], 3), "calls": v[1]}
        for k, v in top
    ]
    rss, _ = text_data.peak_rss_mb()
    print(f"{a.pairs:,} pairs, one in-process worker under cProfile: {wall:.1f} s wall, {total:.1f} s profiled, {a.pairs / wall:,.0f} pairs/s")
    for s in stats["stages"]:
        print(f"  {s['stage']:>10}: in {s['in']:,} kept {s['kept']:,}")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"{v:8.2f} s {100 * v / total:5.1f}%  {k}")
    for k, v in overlaps.items():
        print(f"{v:8.2f} s {100 * v / total:5.1f}%  (overlaps the rows above) {k}")
    print(f"not profiled: numba's first call (import + compile or cache load) {numba_first_call:.2f} s")
    print("top functions by own time:")
    for f in top_functions[:12]:
        print(f"{f['tottime_s']:8.2f} s  {f['calls']:>9,}  {f['function']}")
    result = {
        "command": "python benchmarks/profile_text_stage.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0]},
        "pairs": a.pairs,
        "entries": len(entries),
        "entries_source": source,
        "wall_s_under_cprofile": round(wall, 2),
        "profiled_s": round(total, 2),
        "peak_rss_mb": round(rss),
        "stages": [{k: s[k] for k in ("stage", "in", "kept", "removed")} for s in stats["stages"]],
        "seconds_by_kernel": {k: round(v, 3) for k, v in parts.items()},
        "share_by_kernel": {k: round(v / total, 4) for k, v in parts.items()},
        "overlapping_seconds": {k: round(v, 3) for k, v in overlaps.items()},
        "numba_first_call_s_not_profiled": round(numba_first_call, 3),
        "top_functions_by_own_time": top_functions,
    }
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
