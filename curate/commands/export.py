"""`curate export --input RUN_DIR --output DIR`: a finished run's kept pairs as training data.

Export is the last step, run over a finished run's output folder (``curate run`` or any
single stage): it needs the run's complete stats.json for the dataset card, so it is a
command of its own rather than a stage inside the pipeline.
"""

from __future__ import annotations

HELP = "export a finished run: webdataset tars for open_clip, Parquet shards, DataComp uids, a dataset card"
DESCRIPTION = """Export the kept pairs of a finished run (its output folder) for training.

Writes into --output:
  tars/<name>-NNNNN.tar + tars/sizes.json   webdataset (<uid>.jpg, .txt, .json), which
                                            open_clip trains on: --train-data 'tars/<name>-{00000..N}.tar'
  parquet/<name>-SSSSS-of-NNNNN.parquet     the pairs, shards of about --target-parquet-mb
  uids.npy                                  DataComp-style sorted uid array (dtype u8,u8)
  card.json, card.md                        counts per stage and reason, settings, query
                                            provenance, package versions
Images are read from the download stage's tars (columns shard, key)."""


def add_arguments(parser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.ops.export import ExportConfig

    parser.add_argument("--input", required=True, help="a finished run's output folder (with kept/, stats.json, config.yaml)")
    parser.add_argument("--output", required=True, help="export folder")
    add_stage_flags(parser, ExportConfig)


def main(args, beam_args) -> int:
    import datetime

    import apache_beam as beam

    from curate.commands.stage import stage_values
    from curate.io import export as io_export
    from curate.io import shards
    from curate.ops import export as ops
    from curate.runner import input_bytes, pipeline_options
    from curate.transforms.export import ExportDataset

    config = ops.ExportConfig(**stage_values(args, ops.ExportConfig))
    kept = shards.join(args.input, "kept", "*.parquet")
    rows, per_row = io_export.bytes_per_row(kept)
    if rows == 0 and not per_row:
        print(f"curate export: note: {kept} holds no rows; exporting an empty set")
    rows_per_parquet = ops.rows_for_target_bytes(per_row, int(config.target_parquet_mb * 1e6))
    summary_path = shards.join(args.output, "export_summary.json")
    shards.makedirs(args.output)
    with beam.Pipeline(options=pipeline_options(beam_args, input_bytes(kept))) as p:
        (
            p
            | "ReadKept" >> shards.ReadShards(kept)
            | "Export" >> ExportDataset(config, args.output, rows_per_parquet)
            | "WriteSummary" >> beam.Map(io_export.write_json_to, summary_path)
        )
    summary = shards.read_json(summary_path)
    card = build_card(args.input, args.output, config, summary)
    card["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    write_card(args.output, card)
    print(
        f"exported {card['samples']} samples in {card['tar_shards']} tars "
        f"({card['missing_image']} kept pairs had no image), {card['uids']} uids, "
        f"{card['parquet_shards']} Parquet shards\n"
        f"train with: --train-data '{card['train_data']}' --train-num-samples {card['samples']}"
    )
    return 0


def build_card(run_dir: str, output: str, config, summary: dict) -> dict:
    """The dataset card dict from a run folder and an export summary."""
    import yaml

    from curate.io import export as io_export
    from curate.io import shards
    from curate.ops import export as ops

    stats = shards.read_json(shards.join(run_dir, "stats.json"))
    config_yaml = io_export.read_text_if_exists(shards.join(run_dir, "config.yaml")) or ""
    run_config = yaml.safe_load(config_yaml) if config_yaml else {}
    provenance = None
    queries = (run_config or {}).get("queries")
    if queries:
        provenance = io_export.read_text_if_exists(shards.join(queries, "PROVENANCE.md"))
    tar_folder = shards.join(output, "tars")
    n_tars = ops.num_shards(summary["uids"], config.samples_per_tar) if config.tars else 0
    summary = dict(summary)
    if config.tars:
        summary["sizes"] = io_export.fill_empty_tars(tar_folder, f"{config.name}-", n_tars, summary["sizes"])
        shards.write_json(shards.join(tar_folder, "sizes.json"), summary["sizes"])
    summary["tar_shards"] = len(summary["sizes"])
    return {
        "name": config.name,
        "samples": summary["samples"],
        "missing_image": summary["missing_image"],
        "tar_shards": summary["tar_shards"],
        "sizes": summary["sizes"],
        "train_data": ops.brace_pattern(tar_folder, f"{config.name}-", max(1, summary["tar_shards"])),
        "uids": summary["uids"],
        "uids_file": shards.join(output, "uids.npy"),
        "parquet_shards": len(summary["parquet_shards"]),
        "parquet_files": summary["parquet_shards"],
        "export_settings": {
            "samples_per_tar": config.samples_per_tar,
            "target_parquet_mb": config.target_parquet_mb,
            "row_group_rows": config.row_group_rows,
        },
        "run": run_dir,
        "stages": stats.get("stages", []),
        "input_pairs": stats.get("input"),
        "kept_pairs": stats.get("kept"),
        "config": run_config,
        "config_yaml": config_yaml,
        "queries": queries,
        "queries_provenance": provenance,
        "packages": ops.package_versions(ops.CARD_PACKAGES),
    }


def write_card(output: str, card: dict) -> None:
    from curate.io import shards
    from curate.ops import export as ops

    shards.write_json(shards.join(output, "card.json"), card)
    shards.write_bytes(shards.join(output, "card.md"), ops.card_markdown(card).encode("utf-8"))
