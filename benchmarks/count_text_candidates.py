"""How much work LSH hands to dedup_text's verification: on generated pairs (the ones
bench_text_stage.py and profile_text_stage.py use), the distinct candidate pairs per text,
how many reach the content-word rule (Jaccard of the key shingle sets >= threshold) and how
many are duplicates, counted by ``textdup.lsh_edges`` (all buckets as one partition, so a
pair is counted once however many bands it shares).

    .venv/bin/python benchmarks/count_text_candidates.py [--pairs 20000 50000]
        [--output benchmarks/results/text_candidates_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.ops import textdup  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[20_000, 50_000])
    ap.add_argument("--output", type=Path, help="write the counts here as JSON")
    a = ap.parse_args(argv)
    c = DedupTextConfig()
    rows = []
    for n in a.pairs:
        texts = text_data.texts(n)
        counts: dict = {}
        t = time.perf_counter()
        textdup.lsh_edges(texts, c, counts)
        row = {"pairs": n, **counts, "seconds": round(time.perf_counter() - t, 1)}
        row["candidates_per_text"] = round(counts.get("candidates", 0) / n, 1)
        row["above_threshold_per_text"] = round(counts.get("above_threshold", 0) / n, 2)
        row["duplicate_share_of_candidates"] = counts.get("edges", 0) / max(1, counts.get("candidates", 0))
        rows.append(row)
        print(f"{n:,} pairs: {counts.get('candidates', 0):,} distinct candidates ({row['candidates_per_text']} per text, "
              f"{counts.get('same_keys', 0):,} with identical keys), {counts.get('above_threshold', 0):,} at or above "
              f"the Jaccard threshold {c.threshold} ({row['above_threshold_per_text']} per text), "
              f"{counts.get('edges', 0):,} edges ({100 * row['duplicate_share_of_candidates']:.3f}% of candidates); "
              f"{row['seconds']} s")
    if a.output:
        doc = {"command": "python benchmarks/count_text_candidates.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "date": str(dt.date.today()), "config": {"bands": c.bands, "rows": c.rows, "threshold": c.threshold,
                                                        "max_compare": c.max_compare}, "rows": rows}
        a.output.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
