"""`curate extract`: WARC/WAT crawl files → a raw pool that `curate ingest` reads."""

from __future__ import annotations

HELP = "extract (image URL, alt-text) pairs from WARC/WAT crawl files into a raw pool for ingest"
DESCRIPTION = """Reads WARC files (HTML responses, parsed with selectolax or lxml) and WAT files
(the JSON link metadata, IMG@/src entries), gzipped or not, one element per file. Writes
<output>/pool/part-*.parquet (columns uid, url, text, title, page_url, crawl_time, source,
source_row: give this folder to `curate ingest --input`), <output>/removed/*.parquet (stage
extract, with reasons) and <output>/stats.json (in, kept, removed by reason, and per file)."""


def add_arguments(parser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.config import ExtractConfig

    parser.add_argument("--input", required=True, help="crawl file, glob or folder (.warc[.gz], .wat[.gz])")
    parser.add_argument("--output", required=True, help="output folder (local path or any Beam filesystem URL)")
    parser.add_argument("--rows-per-shard", type=int, default=100_000, help="rows per output Parquet shard (default: 100000)")
    add_stage_flags(parser, ExtractConfig)


def main(args, beam_args) -> int:
    import apache_beam as beam

    from curate.commands.stage import stage_values
    from curate.config import ExtractConfig
    from curate.io import shards
    from curate.io.crawl import crawl_files
    from curate.runner import pipeline_options
    from curate.transforms.extract import ExtractToPool

    config = ExtractConfig(**stage_values(args, ExtractConfig))
    paths = crawl_files(args.input)
    shards.remove_run_outputs(args.output)  # removed/ and stats.json of an earlier attempt
    from apache_beam.io.filesystems import FileSystems

    stale = [m.path for m in FileSystems.match([shards.join(args.output, "pool", "part-*")])[0].metadata_list]
    if stale:
        FileSystems.delete(stale)
    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        _ = p | "ExtractToPool" >> ExtractToPool(paths, args.output, config, args.rows_per_shard)
    stats = shards.read_json(shards.join(args.output, "stats.json"))
    s = stats["stages"][0]
    reasons = ", ".join(f"{k}={v}" for k, v in s["removed_by_reason"].items()) or "none"
    print(f"{'extract':>14}: {len(stats['files'])} files, {s['pages']} pages, in {s['in']}, kept {s['kept']}, removed {s['removed']} ({reasons})")
    print(f"outputs in {args.output}: pool/ (give it to `curate ingest --input`), removed/, stats.json")
    return 0
