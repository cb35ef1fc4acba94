"""MetaCLIP matching throughput with the largest entry list available, in one run, methods
alternating within each repeat (medians):

- bare kernel: ``Matcher.match_array`` over in-memory Arrow batches (spacing in Arrow, the
  automaton, the list<int32> column), automaton already built; timed right before and right
  after each Beam run, its rate from the mean of the two times;
- bare read + match: read the Parquet shards and match them, automaton already built: the
  work of Beam's steady window below without Beam (so the ratio against it is Beam's own
  overhead, and the one against the bare kernel adds Parquet reading to it);
- bare job: what a script without Beam does for the same job: build the automaton, read the
  Parquet shards, match, count;
- inside Beam: ReadShards | FilterText (matching only) | count, one in-process worker (= one
  core), end to end (pipeline start, automaton build, Parquet in);
- Beam's steady rate: texts / the time from the first batch entering FilterText to the
  last leaving it (Parquet reading of the later shards included; pipeline start, the
  automaton build and the end of the stage's bundle not), and Beam's fixed cost: the same
  pipeline over a 1-row shard, run just before it in each repeat (so what is loaded on
  first use counts there); the end of the stage (from the last batch leaving FilterText to
  the last output through the Flatten after it, another stage) is reported on its own;
- for the record: the naive MetaCLIP loop on a small sample and the per-text loop.

Targets: Beam steady rate >= 0.8x the bare kernel; peak RSS per worker <= 2 GB with the list.
``--entries N`` pads the list to N entries with word bigrams (MetaCLIP's list has ~500K).

    .venv/bin/python benchmarks/bench_match.py [--texts 100000] [--repeats 5] [--entries 0]
        [--out benchmarks/results/match_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate.config import FilterConfig  # noqa: E402
from curate.io.queries import load_entries  # noqa: E402
from curate.io.shards import ReadShards, read_shard  # noqa: E402
from curate.ops import text_filter as ops  # noqa: E402
from curate.runner import in_process_args, pipeline_options  # noqa: E402
from curate.transforms.filter import FilterText  # noqa: E402

BATCH = 4096


def write_queries(folder: Path, entries: list[str]) -> Path:
    """`folder` made a query list (its entries.txt) for the filter; returns it."""
    folder.mkdir()
    (folder / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
    return folder


def write_shards(folder: Path, texts: list[str]) -> list[str]:
    """`texts` as the Beam run's input: ``_batches`` written to `folder`/in-NNNN.parquet."""
    folder.mkdir()
    paths = []
    for i, b in enumerate(_batches(texts)):
        paths.append(str(folder / f"in-{i:04d}.parquet"))
        pq.write_table(b, paths[-1])
    return paths


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


def padded_entries(entries: list[str], n: int) -> list[str]:
    """`entries` plus distinct word bigrams (by frequency rank) up to `n` entries, sorted."""
    if n <= len(entries):
        return entries
    have = set(entries)
    words = [w for w, _ in text_data.word_counts(1000)[:3000]]
    extra = []
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            if len(have) + len(extra) >= n:
                return sorted(have | set(extra))
            if f"{a} {b}" not in have:
                extra.append(f"{a} {b}")
    return sorted(have | set(extra))


def run_beam(pattern, queries):
    """Read Parquet shards, match, count: the stage as a pipeline runs it. Returns (wall
    seconds, steady seconds: from the first batch entering FilterText to the last leaving,
    seconds from then until the last output passed the Flatten after it).

    FilterText's outputs are stamped as they leave it, by Maps the runner fuses with it.
    The Flatten of its two outputs is another stage on the local runner (it starts when
    FilterText's bundle has ended, and ending a bundle waits for Beam's state sampler);
    until 2026-12-03 the outputs were stamped after it, which put that stage boundary
    into the steady window. It is reported on its own now (``beam_stage_end_s``)."""
    config = FilterConfig(min_words=0, min_chars=0, languages=())
    text_data.STAMPS.clear()
    text_data.LATE_STAMPS.clear()
    t = time.perf_counter()
    with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
        batches = p | ReadShards(pattern, batch_rows=BATCH) | "In" >> beam.Map(text_data.stamp)
        out = batches | FilterText(config, queries)
        kept = out.kept | "OutKept" >> beam.Map(text_data.stamp)
        removed = out.removed | "OutRemoved" >> beam.Map(text_data.stamp)
        _ = (
            (kept, removed)
            | beam.Flatten()
            | "Collected" >> beam.Map(text_data.stamp_late)
            | beam.Map(lambda t: t.num_rows)
            | beam.CombineGlobally(sum)
        )
    left = max(text_data.STAMPS)
    return time.perf_counter() - t, left - min(text_data.STAMPS), max(text_data.LATE_STAMPS) - left


def bare_job(paths, queries):
    """The same job without Beam: build, read the shards, match, count matched texts."""
    t = time.perf_counter()
    matcher = ops.Matcher(load_entries(queries))
    n = 0
    for path in paths:
        for table in read_shard(path, BATCH):
            n += pa.compute.sum(pa.compute.greater(pa.compute.list_value_length(matcher.match_array(table["text"])), 0)).as_py()
    return time.perf_counter() - t


def bare_read_match(paths, matcher) -> float:
    """Seconds to read every shard and match it, automaton built (Beam's steady window's work)."""
    t = time.perf_counter()
    for path in paths:
        for table in read_shard(path, BATCH):
            matcher.match_array(table["text"])
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--naive", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--entries", type=int, default=0, help="pad the list to this many entries")
    ap.add_argument("--out", default=str(HERE / "results" / f"match_{dt.date.today()}.json"))
    a = ap.parse_args(argv)

    entries, source = text_data.entries()
    if a.entries > len(entries):
        entries = padded_entries(entries, a.entries)
        source += f", padded with word bigrams to {len(entries):,}"
    texts = text_data.texts(a.texts)
    print(f"entries: {len(entries):,} ({source}); texts: {len(texts):,}, mean {sum(map(len, texts)) / len(texts):.0f} chars")
    rss0 = text_data.peak_rss_mb()[0]
    t = time.perf_counter()
    matcher = ops.Matcher(entries)
    build_s = time.perf_counter() - t
    rss1 = text_data.peak_rss_mb()[0]
    print(f"automaton build {build_s:.2f} s, peak RSS +{rss1 - rss0:.0f} MB for the automaton")

    med = statistics.median
    naive = []
    for _ in range(min(a.repeats, 3)):
        t = time.perf_counter()
        for x in texts[: a.naive]:
            ops.naive_match(x, entries)
        naive.append(a.naive / (time.perf_counter() - t))
    loop = []
    for _ in range(min(a.repeats, 3)):
        t = time.perf_counter()
        for x in texts:
            matcher.match(x)
        loop.append(len(texts) / (time.perf_counter() - t))
    arr = [pa.array(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    n_matched = sum(pa.compute.sum(pa.compute.greater(pa.compute.list_value_length(matcher.match_array(x)), 0)).as_py() for x in arr)
    print(f"texts with a match: {n_matched / len(texts):.1%}")

    rates: dict[str, list[float]] = {"bare_kernel": [], "bare_read_match": [], "bare_job": [], "beam": [], "beam_steady": [], "beam_fixed_s": [], "beam_stage_end_s": [],
                                    "bare_kernel_before": [], "bare_kernel_after": []}
    with tempfile.TemporaryDirectory() as tmp:
        q = write_queries(Path(tmp) / "q", entries)
        data = Path(tmp) / "data"
        paths = write_shards(data, texts)
        one = Path(tmp) / "one"
        write_shards(one, texts[:1])
        rss_before_beam = text_data.peak_rss_mb()[0]
        def kernel_s() -> float:
            t = time.perf_counter()
            for x in arr:
                matcher.match_array(x)
            return time.perf_counter() - t

        for _ in range(a.repeats):
            # the 1-row run first: what a process loads on first use (the word-count kernel
            # from numba's cache, among others) is a fixed cost, not part of the steady rate
            rates["beam_fixed_s"].append(run_beam(str(one / "in-*.parquet"), str(q))[0])
            # the bare kernel right before and right after the Beam run, its rate from the
            # mean of the two times: this machine's speed drifts within seconds
            before = kernel_s()
            wall, window, stage_end = run_beam(str(data / "in-*.parquet"), str(q))
            after = kernel_s()
            rates["bare_kernel"].append(len(texts) / ((before + after) / 2))
            rates["bare_kernel_before"].append(len(texts) / before)
            rates["bare_kernel_after"].append(len(texts) / after)
            rates["beam"].append(len(texts) / wall)
            rates["beam_steady"].append(len(texts) / window)
            rates["beam_stage_end_s"].append(stage_end)
            rates["bare_read_match"].append(len(texts) / bare_read_match(paths, matcher))
            rates["bare_job"].append(len(texts) / bare_job(paths, str(q)))
    m = {k: med(v) for k, v in rates.items()}
    steady = m["beam_steady"]
    self_mb, _ = text_data.peak_rss_mb()
    print(f"naive MetaCLIP loop (every entry per text):  {med(naive):10,.0f} texts/s")
    print(f"per-text loop (spacing + automaton per text): {med(loop):10,.0f} texts/s")
    print(f"bare kernel (match_array over Arrow batches): {m['bare_kernel']:10,.0f} texts/s")
    print(f"bare read + match (Parquet in, built):       {m['bare_read_match']:10,.0f} texts/s")
    print(f"bare job (build + read Parquet + match):       {m['bare_job']:10,.0f} texts/s")
    print(f"inside Beam, end to end (1 in-process worker): {m['beam']:10,.0f} texts/s")
    print(f"Beam fixed cost (1-row input: start + build): {m['beam_fixed_s']:.2f} s; Beam steady rate (first batch in to last out) {steady:,.0f} texts/s")
    print(f"end of FilterText's stage to the last output through the Flatten after it: {m['beam_stage_end_s']:.3f} s (not in the steady window)")
    paired = med([b / k for b, k in zip(rates["beam_steady"], rates["bare_kernel"], strict=True)])
    print(f"ratio Beam steady / bare kernel: {steady / m['bare_kernel']:.2f} of the medians, {paired:.2f} median of each repeat's ratio (target >= 0.8)")
    paired_rm = med([b / k for b, k in zip(rates["beam_steady"], rates["bare_read_match"], strict=True)])
    print(f"ratio Beam steady / bare read + match (Beam's own overhead): {steady / m['bare_read_match']:.2f} of the medians, "
          f"{paired_rm:.2f} median of each repeat's ratio")
    print(f"ratio Beam end to end / bare job: {m['beam'] / m['bare_job']:.2f}; Beam end to end / bare kernel: {m['beam'] / m['bare_kernel']:.2f}")
    print(f"peak RSS of this process (automaton + {len(texts):,} texts + in-process Beam worker): {self_mb:.0f} MB (before the Beam runs {rss_before_beam:.0f} MB)")
    result = {
        "command": "python benchmarks/bench_match.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0]},
        "entries": len(entries),
        "entries_source": source,
        "texts": len(texts),
        "texts_with_a_match": n_matched,
        "repeats": a.repeats,
        "automaton_build_s": round(build_s, 3),
        "automaton_peak_rss_mb": round(rss1 - rss0),
        "texts_per_s_median": {
            "naive_loop": round(med(naive), 1),
            "per_text_loop": round(med(loop)),
            "bare_kernel": round(m["bare_kernel"]),
            "bare_read_match": round(m["bare_read_match"]),
            "bare_job": round(m["bare_job"]),
            "beam_end_to_end": round(m["beam"]),
            "beam_steady": round(steady),
        },
        "beam_fixed_s_median": round(m["beam_fixed_s"], 3),
        "beam_stage_end_s_median": round(m["beam_stage_end_s"], 3),
        "each_repeat": {k: [round(x, 3) for x in v] for k, v in rates.items()},
        "ratio_beam_steady_vs_bare_kernel": round(steady / m["bare_kernel"], 2),
        "ratio_beam_steady_vs_bare_kernel_median_of_repeats": round(paired, 2),
        "ratio_beam_steady_vs_bare_read_match": round(steady / m["bare_read_match"], 2),
        "ratio_beam_steady_vs_bare_read_match_median_of_repeats": round(paired_rm, 2),
        "ratio_beam_end_to_end_vs_bare_job": round(m["beam"] / m["bare_job"], 2),
        "ratio_beam_end_to_end_vs_bare_kernel": round(m["beam"] / m["bare_kernel"], 2),
        "peak_rss_mb": round(self_mb),
        "peak_rss_mb_before_beam_runs": round(rss_before_beam),
    }
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
