"""Counting stage of `curate queries build`: tokens/s per core on gensim's enwiki excerpt, as a
ratio against a plain collections.Counter loop over the same extracted text (same run,
median of repeats), and the projected cluster cost of all of English Wikipedia.

    .venv/bin/python benchmarks/bench_queries_count.py [--repeats 3] [--usd-per-core-hour 0.04]

Measured (one worker, in-process):
  reference   whitespace split + Counter.update of unigrams and bigram tuples
  kernel      curate's count_texts + split_counts + Counter merge (MetaCLIP tokeniser)
  beam        the same through Beam: ParDo(count) -> CombinePerKey(MergeCountsFn), FnApiRunner
  parse       mwparserfromhell wikitext -> text (the stage before counting), for the projection
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from curate.io import wiki
from curate.ops import queries as q
from curate.runner import in_process_args
from curate.transforms.queries import MergeCountsFn, wikitext_to_text

WIKI_TOKENS = 4.5e9  # English Wikipedia, ~4.5B tokens


def reference(texts):
    uni, bi = Counter(), Counter()
    for t in texts:
        toks = t.split()
        uni.update(toks)
        bi.update(zip(toks, toks[1:], strict=False))
    return uni, bi


def kernel(batches, buckets=64):
    merged_u, merged_b = {}, {}
    for batch in batches:
        u, b, _ = q.count_texts(batch)
        ub, bb = q.split_counts(u, b, buckets)
        for k, d in ub.items():
            merged_u.setdefault(k, Counter()).update(d)
        for k, d in bb.items():
            merged_b.setdefault(k, Counter()).update(d)
    return merged_u, merged_b


class _Count(beam.DoFn):
    def process(self, batch):
        u, b, _ = q.count_texts(batch)
        ub, bb = q.split_counts(u, b, 64)
        yield from ub.items()
        for k, d in bb.items():
            yield k + 64, d


def through_beam(batches):
    with beam.Pipeline(options=PipelineOptions(in_process_args())) as p:
        (p | beam.Create(batches, reshuffle=False) | beam.ParDo(_Count())
         | beam.CombinePerKey(MergeCountsFn()) | beam.Map(lambda kv: len(kv[1])))


def timed(fn, *a, repeats=3):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*a)
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--usd-per-core-hour", type=float, default=0.04)
    args = ap.parse_args()
    import gensim

    dump = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data",
                        "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    wikitexts = [t for _, t in wiki.iter_articles(dump)]
    t0 = time.perf_counter()
    texts = [wikitext_to_text(t) for t in wikitexts]
    parse_s = time.perf_counter() - t0
    n_tokens = q.count_texts(texts)[2]
    batches = [texts[i:i + 10] for i in range(0, len(texts), 10)]
    ref_s = timed(reference, texts, repeats=args.repeats)
    ker_s = timed(kernel, batches, repeats=args.repeats)
    beam_s = timed(through_beam, batches, repeats=args.repeats)
    rate = {k: n_tokens / s for k, s in (("reference", ref_s), ("kernel", ker_s), ("beam", beam_s), ("parse", parse_s))}
    print(f"excerpt: {len(texts)} articles, {n_tokens} tokens (MetaCLIP tokeniser), median of {args.repeats}")
    for k, r in rate.items():
        print(f"  {k:<10} {r / 1e3:9.0f} K tokens/s per core")
    print(f"  ratio kernel/reference: {rate['kernel'] / rate['reference']:.2f}")
    print(f"  ratio beam/reference:   {rate['beam'] / rate['reference']:.2f}")
    count_h = WIKI_TOKENS / rate["beam"] / 3600
    parse_h = WIKI_TOKENS / rate["parse"] / 3600
    total = count_h + parse_h
    print(
        f"\nProjection for all of English Wikipedia (~{WIKI_TOKENS / 1e9:.1f}B tokens): counting "
        f"through Beam at {rate['beam'] / 1e3:.0f}K tokens/s per core takes ~{count_h:.0f} core-hours; "
        f"wikitext parsing with mwparserfromhell at {rate['parse'] / 1e3:.0f}K tokens/s per core "
        f"another ~{parse_h:.0f} core-hours; ~{total:.0f} core-hours in all, i.e. ~{total / 64:.1f} h "
        f"on 64 cores, ~${total * args.usd_per_core_hour:.0f} at ${args.usd_per_core_hour}/core-hour "
        f"(excluding shuffle and PMI joins, which move bucketed counters, not tokens)."
    )


if __name__ == "__main__":
    main()
