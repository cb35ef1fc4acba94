"""``textdup.segments`` (dedup_text's tokenizer: signing and verification call it for every
text) against the same function without its shortcut (the separator split run on every text),
on the generated benchmark texts and on the labelled real captions; equal output checked.
Medians of repeats, alternated, one process.

    .venv/bin/python benchmarks/bench_segments.py [--texts 50000] [--repeats 5]
        [--output benchmarks/results/segments_<date>.json]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate.ops import textdup  # noqa: E402


def split_every_text(text):
    """``segments`` before the shortcut."""
    if not text:
        return []
    return [t for t in (textdup.tokens(s) for s in textdup._SEPARATOR.split(text)) if t]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=str(HERE / "results" / f"segments_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    with open(HERE / "data" / "text_pairs.tsv", encoding="utf-8") as f:
        captions = [t for row in csv.DictReader(f, delimiter="\t") for t in (row["a"], row["b"])]
    sets = {"generated": text_data.texts(a.texts, seed=3), "labelled captions": captions}
    out = {"command": " ".join(["benchmarks/bench_segments.py", *(argv if argv is not None else sys.argv[1:])]),
           "date": str(dt.date.today()), "machine": f"{os.cpu_count()} cores", "sets": {}}
    for name, texts in sets.items():
        assert [textdup.segments(t) for t in texts] == [split_every_text(t) for t in texts], name
        times = {"segments": [], "split_every_text": []}
        for _ in range(a.repeats):
            for label, fn in (("segments", textdup.segments), ("split_every_text", split_every_text)):
                t0 = time.perf_counter()
                for t in texts:
                    fn(t)
                times[label].append((time.perf_counter() - t0) / len(texts) * 1e6)
        med = {k: round(statistics.median(v), 2) for k, v in times.items()}
        shortcut = sum(textdup._SEPARATOR_CHAR.search(t) is None for t in texts if t) / len(texts)
        out["sets"][name] = {"texts": len(texts), "share_without_separator_characters": round(shortcut, 3),
                             "us_per_text": med, "speedup": round(med["split_every_text"] / med["segments"], 2)}
        print(f"{name}: {len(texts):,} texts ({shortcut:.0%} without a separator character): "
              f"{med['segments']} vs {med['split_every_text']} us/text, {out['sets'][name]['speedup']}x")
    out["load_average_1m_after"] = round(os.getloadavg()[0], 1)
    Path(a.output).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
