"""MetaCLIP matching throughput with the largest entry list available, in one run:
inside Beam (FilterText, matching only, one in-process worker = one core) vs (a) the naive
MetaCLIP loop on a small sample and (b) the bare automaton loop outside Beam.
Target: Beam >= 50% of the bare loop; peak memory per worker < 2 GB with a 500K list.

    .venv/bin/python benchmarks/bench_match.py [--texts 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate.config import FilterConfig  # noqa: E402
from curate.io.shards import ReadShards  # noqa: E402
from curate.ops import text_filter as ops  # noqa: E402
from curate.runner import in_process_args, pipeline_options  # noqa: E402
from curate.transforms.filter import FilterText  # noqa: E402

BATCH = 4096


def _batches(texts):
    out = []
    for i in range(0, len(texts), BATCH):
        chunk = texts[i : i + BATCH]
        out.append(
            pa.table(
                {
                    "uid": [f"{i + k:032x}" for k in range(len(chunk))],
                    "url": ["http://127.0.0.1/x"] * len(chunk),
                    "text": chunk,
                    "source": ["b"] * len(chunk),
                    "source_row": list(range(i, i + len(chunk))),
                }
            )
        )
    return out


def run_beam(pattern, queries):
    """Read Parquet shards, match, count: the stage as a pipeline runs it."""
    config = FilterConfig(min_words=0, min_chars=0, languages=())
    t = time.perf_counter()
    with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
        out = p | ReadShards(pattern, batch_rows=BATCH) | FilterText(config, queries)
        _ = (out.kept, out.removed) | beam.Flatten() | beam.Map(lambda t: t.num_rows) | beam.CombineGlobally(sum)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=200_000)
    ap.add_argument("--naive", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    entries, source = text_data.entries()
    texts = text_data.texts(a.texts)
    print(f"entries: {len(entries):,} ({source}); texts: {len(texts):,}, mean {sum(map(len, texts)) / len(texts):.0f} chars")
    rss0 = text_data.peak_rss_mb()[0]
    t = time.perf_counter()
    matcher = ops.Matcher(entries)
    build_s = time.perf_counter() - t
    rss1 = text_data.peak_rss_mb()[0]
    print(f"automaton build {build_s:.2f} s, peak RSS +{rss1 - rss0:.0f} MB for the automaton")

    # (a) naive MetaCLIP loop, small sample
    naive = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for x in texts[: a.naive]:
            ops.naive_match(x, entries)
        naive.append(a.naive / (time.perf_counter() - t))
    # (b) bare automaton loop outside Beam, per batch (spacing in Arrow, automaton per text)
    arr = [pa.array(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    bare = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        n = sum(sum(map(bool, matcher.match_array(x).to_pylist())) for x in arr)
        bare.append(len(texts) / (time.perf_counter() - t))
    print(f"texts with a match: {n / len(texts):.1%}")
    # MetaCLIP's own loop shape: spacing() + automaton.iter per text
    loop = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for x in texts:
            matcher.match(x)
        loop.append(len(texts) / (time.perf_counter() - t))

    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "q"
        q.mkdir()
        (q / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
        for i, b in enumerate(_batches(texts)):
            pq.write_table(b, Path(tmp) / f"in-{i:04d}.parquet")
        beam_rates = [len(texts) / run_beam(str(Path(tmp) / "in-*.parquet"), str(q)) for _ in range(a.repeats)]

    med = statistics.median
    print(f"naive MetaCLIP loop (every entry per text): {med(naive):10,.0f} texts/s")
    print(f"bare automaton, per-text spacing loop:      {med(loop):10,.0f} texts/s")
    print(f"bare automaton, batch (Arrow spacing):      {med(bare):10,.0f} texts/s")
    print(f"inside Beam (1 in-process worker; Parquet in, incl. pipeline start + automaton build): {med(beam_rates):10,.0f} texts/s")
    print(f"ratio Beam / bare batch loop: {med(beam_rates) / med(bare):.2f} (target >= 0.5)")
    print(f"ratio bare batch loop / naive: {med(bare) / med(naive):,.0f}x")
    self_mb, _ = text_data.peak_rss_mb()
    print(f"peak RSS of this process (automaton + {len(texts):,} texts + in-process Beam worker): {self_mb:.0f} MB")


if __name__ == "__main__":
    main()
