"""Single-stage subcommands: `curate <stage> --input X --output DIR [stage flags] [Beam flags]`.

The stage's flags are generated from its config dataclass (``curate.config.STAGE_CONFIGS``):
one ``--field-name`` per field, typed by its default, with the field's ``help`` metadata.
"""

from __future__ import annotations

import argparse
import dataclasses

from curate import config as cfg

DESCRIPTION_TAIL = """
Outputs: <output>/kept/*.parquet (pairs kept), <output>/removed/*.parquet (removed records
with stage, reason, detail), <output>/stats.json (in, kept, removed by reason) and
<output>/config.yaml (the resolved settings)."""


def _summary(name: str) -> str:
    return cfg.STAGE_SUMMARIES.get(_stage(name), f"run the {name} stage")


def help_for(name: str) -> str:
    return _summary(name)


def description_for(name: str) -> str:
    return f"Stage {name}: {_summary(name)}.\n{DESCRIPTION_TAIL}"


def _stage(name: str) -> str:
    return name.replace("-", "_")


def add_stage_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    group = parser.add_argument_group(f"{config_cls.__name__} settings")
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is None and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        help_text = f.metadata.get("help", "")
        help_text = f"{help_text} (default: {default!r})".strip()
        if isinstance(default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(default, (tuple, list)):
            group.add_argument(flag, dest=f.name, nargs="+", default=None, help=help_text)
        elif isinstance(default, (int, float)):
            group.add_argument(flag, dest=f.name, type=type(default), default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, default=None, help=help_text)


def add_arguments_for(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="pool file, glob or folder (ingest: parquet/csv/tsv/jsonl; other stages: Parquet shards from an earlier stage)")
    parser.add_argument("--output", required=True, help="output folder (local path or any Beam filesystem URL)")
    parser.add_argument("--queries", default=None, help="folder of a built query list (stages that match entries)")
    parser.add_argument("--rows-per-shard", type=int, default=100_000, help="rows per output Parquet shard (default: 100000)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice (default: 0)")
    add_stage_flags(parser, cfg.STAGE_CONFIGS[_stage(name)])


def stage_values(args, config_cls, required: tuple[str, ...] = ()) -> dict:
    """The fields of `config_cls` given on the command line; each of `required` must be
    given and not empty (dataclass fields without a default are left to the command)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_cls)
        if getattr(args, f.name, None) is not None
    }
    for name in required:
        if not values.get(name):
            raise ValueError(f"--{name.replace('_', '-')} is required")
    return values


def main_for(name: str, args, beam_args: list[str]) -> int:
    from curate import pipeline

    stage = _stage(name)
    stage_cfg = cfg.stage_config(stage, stage_values(args, cfg.STAGE_CONFIGS[stage]))
    run_cfg = cfg.PipelineConfig(
        input=args.input,
        output=args.output,
        queries=args.queries,
        rows_per_shard=args.rows_per_shard,
        seed=args.seed,
        stages={stage: stage_cfg},
    )
    stats = pipeline.run(run_cfg, beam_args)
    print_summary(stats, args.output)
    return 0


def print_summary(stats: dict, output: str) -> None:
    for s in stats["stages"]:
        reasons = ", ".join(f"{k}={v}" for k, v in s["removed_by_reason"].items()) or "none"
        print(f"{s['stage']:>14}: in {s['in']}, kept {s['kept']}, removed {s['removed']} ({reasons})")
    for f in stats.get("bad_files", []):
        what = "skipped (unreadable)" if f["problem"] == "skipped" else "read up to a break"
        print(f"{'bad file':>14}: {f['path']} {what}: {f['reason']}")
    print(f"outputs in {output}: kept/, removed/, stats.json, config.yaml")
