"""`curate compare`: curated vs random same-size subset vs whole pool (DataComp protocol)."""

from __future__ import annotations

HELP = "DataComp-style comparison: train the same recipe on curated, random same-size and whole-pool sets, several seeds"
DESCRIPTION = """Train one fixed recipe for the same number of samples on (a) the curated set, (b) a random
subset of the downloaded pool of the same size (redrawn per seed), (c) the whole downloaded
pool, for each seed; evaluate zero-shot and retrieval; write results.json, table.md (mean ±
std over seeds) and plot.png to --output.
  curate compare --curated out/curated --pool out/pool --output out/compare --seeds 0 1 2"""


def add_arguments(parser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.validate.compare import CompareConfig

    add_stage_flags(parser, CompareConfig)


def main(args, beam_args) -> int:
    from curate.commands.stage import stage_values
    from curate.validate.compare import CompareConfig, run_compare

    values = stage_values(args, CompareConfig, required=("curated", "pool", "output"))
    for name, cast in (("seeds", int), ("arms", str), ("datasets", str), ("retrieval", str)):
        if name in values:
            values[name] = tuple(cast(v) for v in values[name] if v != "none")
    results = run_compare(CompareConfig(**values), log=lambda s: print(s, flush=True))
    print(results["table_markdown"])
    print(f"results in {values['output']}: results.json, table.md, plot.png")
    return 0
