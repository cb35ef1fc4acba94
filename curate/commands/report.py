"""`curate report`: a run's funnel as markdown, scored against a sample manifest if given."""

from __future__ import annotations

HELP = "summarise a run (funnel per stage) and score it against the sample pool's manifest"
DESCRIPTION = """Reads <run>/stats.json and <run>/removed/*.parquet and writes <run>/report.md and
<run>/report.json. With --manifest (data/sample/manifest.parquet, written by `curate sample`),
adds a table of every injected defect: how many rows were removed, by which stage and reason,
and how many at the stage expected to catch them; clean rows removed other than by balancing
are counted as collateral."""


def add_arguments(parser) -> None:
    parser.add_argument("--run", required=True, help="output folder of a run (curate run / demo / a stage)")
    parser.add_argument("--manifest", default=None, help="sample manifest.parquet to score against")


def main(args, beam_args) -> int:
    from curate.io import shards
    from curate.report.score import markdown, score

    stats = shards.read_json(shards.join(args.run, "stats.json"))
    scored = None
    if args.manifest:
        manifest = shards.read_table(args.manifest)
        removed = shards.read_table(shards.join(args.run, "removed"), columns=["source_row", "stage", "reason"])
        scored = score(manifest, removed, stats["kept"])
    text = markdown(stats, scored)
    shards.write_bytes(shards.join(args.run, "report.md"), text.encode())
    shards.write_json(shards.join(args.run, "report.json"), {"stats": stats, "scored": scored})
    print(text)
    return 0
