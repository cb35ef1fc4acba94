"""`curate demo`: build the sample pool, serve it on 127.0.0.1, run pipelines/demo.yaml."""

from __future__ import annotations

HELP = "build the sample pool, serve it on 127.0.0.1 and run the demo pipeline locally"
DESCRIPTION = """The README's first command. Builds (once) a realistic sample web pool from the
installed public sources (data/sample), serves its images on 127.0.0.1 with the failures real
pools have, runs every stage of pipelines/demo.yaml on the local runner, and prints where the
outputs and stats are. Nothing leaves 127.0.0.1."""


def add_arguments(parser) -> None:
    parser.add_argument("--config", default="pipelines/demo.yaml", help="pipeline YAML (default: %(default)s)")
    parser.add_argument("--sample", default=None, help="sample pool folder (default: $CURATE_DATA/sample)")
    parser.add_argument("--size", type=int, default=3000, help="pairs in the sample pool (default: %(default)s)")
    parser.add_argument("--output", default=None, help="override the config's output folder")


def main(args, beam_args) -> int:
    import argparse
    import dataclasses
    import errno
    import time
    from pathlib import Path

    from curate import config as cfg
    from curate import paths, pipeline
    from curate.cli import CurateError
    from curate.commands import export as export_command
    from curate.commands import report as report_command
    from curate.commands.stage import print_summary
    from curate.io import shards
    from curate.sample import SampleServer, build_sample

    sample = Path(args.sample) if args.sample else paths.data_dir() / "sample"
    if not (sample / "pool.parquet").exists() or not (sample / "manifest.json").exists():
        print(f"building a {args.size}-pair sample pool in {sample} ...")
        build_sample(sample, size=args.size)
    config = cfg.load(args.config)
    config = dataclasses.replace(
        config, input=str(sample / "pool.parquet"), output=args.output or config.output
    )
    start = time.monotonic()
    server = SampleServer(sample)
    try:
        server.start()
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        raise CurateError(
            f"port {server.port} on 127.0.0.1 is in use (another `curate serve`, `curate demo` "
            "or benchmark serving the sample?); stop it and run the demo again"
        ) from e
    try:
        print(f"serving the sample images at {server.base_url}")
        stats = pipeline.run(config, beam_args)
    finally:
        server.stop()
    print_summary(stats, config.output)
    export = shards.join(config.output, "export")
    export_command.main(argparse.Namespace(input=config.output, output=export), list(beam_args))
    report = argparse.Namespace(run=config.output, manifest=str(sample / "manifest.parquet"))
    report_command.main(report, [])
    print(
        f"demo finished in {time.monotonic() - start:.0f} s. Results in {config.output}: kept/ and "
        "removed/ (Parquet), stats.json, report.md (the table above), config.yaml, and export/ "
        "(webdataset tars open_clip trains on, Parquet, uids.npy, dataset card)"
    )
    return 0
