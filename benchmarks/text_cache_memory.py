"""Memory of dedup_text's per-worker caches (``textdup.text_parts``, ``verdict``) per entry,
measured with tracemalloc on the tokenized forms of generated texts (the benchmark pool of
bench_text_stage.py); with the bounds TEXT_CACHE and VERDICT_CACHE this gives a worker's
largest cache memory (text_parts holds only forms of several segments in the stage: this
counts every form, an upper bound).

    .venv/bin/python benchmarks/text_cache_memory.py [--texts 20000]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import text_data  # noqa: E402

from curate.ops import textdup  # noqa: E402


def _grown(before, after) -> int:
    return sum(s.size_diff for s in after.compare_to(before, "filename"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=20_000)
    a = ap.parse_args(argv)
    texts = [textdup.tokenized(t) for t in text_data.texts(a.texts)]
    textdup.clear_caches()
    tracemalloc.start()
    s0 = tracemalloc.take_snapshot()
    for t in texts:
        textdup.text_parts(t)
    s2 = tracemalloc.take_snapshot()
    pairs = list(zip(texts[::2], texts[1::2], strict=False))
    for x, y in pairs:
        textdup.verdict(x, y)
    s3 = tracemalloc.take_snapshot()
    per = {"text_parts": _grown(s0, s2) / len(texts), "verdict": _grown(s2, s3) / len(pairs)}
    for name, b in per.items():
        print(f"{name}: {b:,.0f} bytes per entry")
    full = per["text_parts"] * textdup.TEXT_CACHE + per["verdict"] * textdup.VERDICT_CACHE
    print(f"all caches full: {full / 2**20:,.0f} MiB per worker process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
