"""`curate run --config pipeline.yaml`: the whole pipeline from one YAML config."""

from __future__ import annotations

HELP = "run every stage a YAML config names (see pipelines/*.yaml), or continue an earlier run"
DESCRIPTION = """Run the stages that a pipeline config names, in pipeline order, on any Beam runner.

A config is YAML: input, output, queries (optional), rows_per_shard, seed, and a `stages`
mapping from stage name to its settings (see pipelines/demo.yaml). --input/--output override
the file's. Beam flags pass through, e.g.
  curate run --config pipelines/demo.yaml --runner=FlinkRunner --flink_master=localhost:8081

Continuing a run: --resume-from RUN takes a finished run (its output folder) of the config's
first stages, with the same settings, and runs only the stages after them, reading RUN/kept.
The new --output then holds what one run of every stage would have written (kept/, removed/
with the earlier stages' records, stats.json, config.yaml; byte for byte); the images stay
in RUN/images, where the kept pairs point.
  curate run --config pipelines/demo.yaml --output out/text           # with stages up to balance
  curate run --config pipelines/demo.yaml --resume-from out/text --output out/demo"""


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="pipeline YAML")
    parser.add_argument("--input", default=None, help="override the config's input")
    parser.add_argument("--output", default=None, help="override the config's output")
    parser.add_argument(
        "--resume-from", default=None, metavar="RUN",
        help="a finished run of this config's first stages: run only the stages after them",
    )


def main(args, beam_args) -> int:
    import dataclasses

    from curate import config as cfg
    from curate import pipeline
    from curate.commands.stage import print_summary

    config = cfg.load(args.config)
    overrides = {k: v for k, v in (("input", args.input), ("output", args.output)) if v}
    config = dataclasses.replace(config, **overrides)
    stats = pipeline.run(config, beam_args, resume_from=args.resume_from)
    print_summary(stats, config.output)
    return 0
