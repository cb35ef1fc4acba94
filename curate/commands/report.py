"""`curate report`: a run's funnel as markdown, scored against a sample manifest if given;
with --html, one self-contained HTML page with the examples behind every number."""

from __future__ import annotations

HELP = "summarise a run (funnel per stage) and score it against the sample pool's manifest"
DESCRIPTION = """Reads <run>/stats.json and <run>/removed/*.parquet and writes <run>/report.md and
<run>/report.json. With --manifest (data/sample/manifest.parquet, written by `curate sample`),
adds a table of every injected defect: how many rows were removed, by which stage and reason,
and how many at the stage expected to catch them; clean rows removed other than by balancing
are counted as collateral. With --html PATH, also writes one self-contained HTML file (images
inlined, nothing fetched): the funnel chart, example thumbnails per removal reason beside kept
pairs, duplicates side by side, CapFilt captions and scores, balancing before/after, score
histograms with their thresholds, the --compare results and the ground-truth table."""


def add_arguments(parser) -> None:
    parser.add_argument("--run", required=True, help="output folder of a run (curate run / demo / a stage)")
    parser.add_argument("--manifest", default=None, help="sample manifest.parquet to score against")
    parser.add_argument("--html", default=None, metavar="PATH", help="also write the HTML report to PATH")
    parser.add_argument("--compare", default=None, metavar="DIR",
                        help="a `curate compare` output folder (results.json, plot.png) to show in the HTML report")


def _check(args) -> None:
    import os

    from curate.errors import CurateError
    from curate.io import shards

    if not shards.exists(shards.join(args.run, "stats.json")):
        what = "does not exist" if not shards.exists(args.run) else "has no stats.json"
        raise CurateError(f"--run {args.run} {what}: give the output folder of `curate run`, `curate demo` or a stage")
    if args.manifest and not shards.exists(args.manifest):
        raise CurateError(f"--manifest {args.manifest} does not exist (curate sample writes <sample>/manifest.parquet)")
    if args.html:
        folder = os.path.dirname(args.html) or "."
        if "://" not in args.html and not os.path.isdir(folder):
            raise CurateError(f"--html {args.html}: folder {folder} does not exist; create it first")
        if "://" not in args.html and os.path.isdir(args.html):
            raise CurateError(f"--html {args.html} is a folder; give a file name such as {args.html}/report.html")
    if args.compare and not shards.exists(shards.join(args.compare, "results.json")):
        raise CurateError(f"--compare {args.compare} has no results.json: give a `curate compare --output` folder")


def main(args, beam_args) -> int:
    from curate.io import shards
    from curate.report.score import markdown, score

    args.html = getattr(args, "html", None)
    args.compare = getattr(args, "compare", None)
    _check(args)
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
    if args.html:
        from curate.report import gather, html

        compare = None
        if args.compare:
            plot = shards.join(args.compare, "plot.png")
            compare = {"results": shards.read_json(shards.join(args.compare, "results.json")),
                       "plot": shards.read_bytes(plot) if shards.exists(plot) else None}
        page = html.render(gather.gather(args.run), scored, compare).encode()
        if len(page) > html.MAX_BYTES:
            raise RuntimeError(f"the HTML report is {len(page)} bytes, over its {html.MAX_BYTES} bound: a bug")
        shards.write_bytes(args.html, page)
        print(f"HTML report: {args.html} ({len(page) / 1e6:.1f} MB)")
    return 0
