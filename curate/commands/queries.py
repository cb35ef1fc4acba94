"""`curate queries build|stats`: the query list (MetaCLIP/CLIP metadata) from raw public inputs."""

from __future__ import annotations

import argparse

HELP = "build the query list from Wikipedia dumps, page views and WordNet; or show a list's stats"
DESCRIPTION = """Build a MetaCLIP-style query list (WordNet synset names, Wikipedia unigrams with
count >= 100, bigrams with PMI >= 30, titles with summed page views >= 70, "0".."99") with a
Beam pipeline, or print per-source counts and overlaps of a built list.

  curate queries build --name mylist --wiki-dump 'dumps/enwiki-*-pages-articles*.xml.bz2' \\
      --pageviews 'pageviews/pageviews-*.gz' [--unigram-counts counts.tsv] [Beam flags]
  curate queries stats queries/mylist

Outputs in queries/<name>/ (or --output): entries.parquet, entries.txt, PROVENANCE.md."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.transforms.queries import QueriesConfig

    sub = parser.add_subparsers(dest="queries_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build a query list (a Beam pipeline)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--name", required=True, help="list name (output folder queries/<name> by default)")
    b.add_argument("--output", default=None, help="output folder (default: queries/<name>)")
    b.add_argument("--wiki-dump", nargs="+", default=[], metavar="PATH",
                   help="pages-articles XML dumps (.xml.bz2, multistream ok): paths, globs or folders")
    b.add_argument("--pageviews", nargs="+", default=[], metavar="PATH",
                   help="Wikimedia hourly pageviews-YYYYMMDD-HH0000.gz files: paths, globs or folders")
    b.add_argument("--unigram-counts", nargs="+", default=[], metavar="PATH",
                   help="precomputed unigram counts (word<TAB>count or pywordfreq's word;count, .gz ok)")
    b.add_argument("--wordnet", action=argparse.BooleanOptionalAction, default=True,
                   help="add WordNet synset names (default: yes)")
    b.add_argument("--nltk-data", default=None,
                   help="NLTK data folder holding corpora/wordnet (default: $CURATE_DATA/nltk_data)")
    add_stage_flags(b, QueriesConfig)
    s = sub.add_parser("stats", help="per-source counts and overlaps of a built list")
    s.add_argument("folder", help="folder of a built list (queries/<name>)")


def _expand(patterns: list[str]) -> tuple[str, ...]:
    from curate.io.pool import match_files

    out: list[str] = []
    for p in patterns:
        out += match_files(p)
    return tuple(sorted(set(out)))


def _find_dump_error(exc: BaseException) -> str | None:
    """The DumpError message inside whatever the runner wrapped it in."""
    from curate.io.wiki import DumpError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DumpError):
            return str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def build(args, beam_args: list[str]) -> int:
    import hashlib
    from importlib import metadata

    import apache_beam as beam

    from curate import paths, runner
    from curate.cli import CurateError
    from curate.commands.stage import stage_values
    from curate.io import shards
    from curate.transforms.queries import BuildQueries, QueriesConfig, QueryInputs, WriteQueryList

    config = QueriesConfig(**stage_values(args, QueriesConfig))
    names = None
    wordnet_fact = None
    if args.wordnet:
        from curate.ops.wordnet import synset_names

        names = synset_names(args.nltk_data or paths.nltk_data())
        wordnet_fact = {
            "version": "3.0",
            "synsets": len(names),
            "sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        }
    inputs = QueryInputs(
        dumps=_expand(args.wiki_dump),
        pageviews=_expand(args.pageviews),
        unigram_counts=_expand(args.unigram_counts),
        wordnet_names=tuple(names) if names is not None else None,
    )
    folder = args.output or shards.join("queries", args.name)

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    thresholds = {
        "min_unigram_count": config.min_unigram_count,
        "min_pmi": config.min_pmi,
        "min_bigram_count": config.min_bigram_count,
        "min_hourly_views": config.min_hourly_views,
        "min_title_views": config.min_title_views,
        "pageview_projects": ",".join(config.pageview_projects),
    }
    facts = {
        "thresholds": thresholds,
        "wordnet": wordnet_fact,
        "versions": {p: version(p) for p in ("curate", "apache-beam", "mwparserfromhell", "nltk", "pyarrow")},
    }
    try:
        with beam.Pipeline(options=runner.pipeline_options(beam_args)) as p:
            built = p | "BuildQueries" >> BuildQueries(inputs, config)
            built | "WriteQueryList" >> WriteQueryList(folder, args.name, inputs, facts)
    except Exception as e:
        message = _find_dump_error(e)
        if message is None and "DumpError" in str(e):
            message = str(e).split("DumpError:", 1)[-1].strip().splitlines()[0]
        if message is not None:
            raise CurateError(message) from e
        raise
    print(f"query list written to {folder} (see PROVENANCE.md there)")
    args.folder = folder
    return stats(args)


def stats(args) -> int:
    from curate.io.queries import load_table
    from curate.ops import queries as q

    table = load_table(args.folder)
    rows = table.select(["entry", "sources"]).to_pylist()
    print(f"{args.folder}: {len(rows)} entries")
    counts = q.source_counts(rows)
    only = q.only_counts(rows)
    print(f"{'source':<14}{'entries':>10}{'only':>10}")
    for s in q.SOURCES:
        print(f"{s:<14}{counts[s]:>10}{only[s]:>10}")
    print("overlaps (entries in both):")
    ov = q.overlaps(rows)
    print(" " * 14 + "".join(f"{s:>14}" for s in q.SOURCES))
    for i, a in enumerate(q.SOURCES):
        cells = [ov.get((b, a), 0) if j < i else ov[(a, b)] for j, b in enumerate(q.SOURCES)]
        print(f"{a:<14}" + "".join(f"{c:>14}" for c in cells))
    split = sum(1 for r in rows if q.has_split_punctuation(r["entry"]))
    print(f"entries with , . ; : ? ! ` (never match under MetaCLIP's exact rule): {split}")
    return 0


def main(args, beam_args: list[str]) -> int:
    if args.queries_command == "build":
        return build(args, beam_args)
    return stats(args)
