"""`curate demo`: the whole mission on the sample pool, locally, with no downloaded weights."""

from __future__ import annotations

HELP = "build and serve the sample pool, run the whole mission on it locally, export, report, smoke-compare"
DESCRIPTION = """The README's first command. Builds (once) a realistic sample web pool from the
installed public sources (data/sample), serves its images on 127.0.0.1 with the failures real
pools have, and runs the whole mission of pipelines/demo.yaml on the local runner:

  1. the stages that need no model (ingest ... dedup_images)      -> <output>/first_pass
  2. `curate train-filter`: CLIP filters trained from scratch on those pairs, cross-fitted
                                                                  -> <output>/filter
  3. the model stages with them (embed with the first filter's image tower, decontaminate,
     semdedup, capfilt, retrieve from seed images), continuing pass 1  -> <output>
  4. `curate export` (webdataset tars, Parquet, uids)             -> <output>/export
  5. the report, scored against the sample's ground truth         -> <output>/report.*
  6. a short `curate compare` (a smoke run; the full benchmark command is printed)
     against ingest + download of the whole pool                  -> <output>/pool, compare

Settings: pipelines/demo.yaml (stages) and pipelines/demo_validate.yaml (filters, seeds,
comparison), each with the reason for it. Nothing leaves 127.0.0.1."""

FULL_BENCHMARK = ".venv/bin/python benchmarks/compare_sample.py --retrieve-seeds 1000"


def add_arguments(parser) -> None:
    parser.add_argument("--config", default="pipelines/demo.yaml", help="pipeline YAML (default: %(default)s)")
    parser.add_argument("--validate-config", default="pipelines/demo_validate.yaml",
                        help="settings of train-filter, the retrieval seeds and the comparison (default: %(default)s)")
    parser.add_argument("--sample", default=None, help="sample pool folder (default: $CURATE_DATA/sample)")
    parser.add_argument("--size", type=int, default=3000, help="pairs in the sample pool (default: %(default)s)")
    parser.add_argument("--output", default=None, help="override the config's output folder")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the smoke comparison (and the whole-pool download it needs)")


def first_pass_config(config):
    """`config` cut before its first stage that needs a model: what runs before the filters
    are trained."""
    import dataclasses

    from curate.pipeline import STAGE_NAMES

    cut = STAGE_NAMES.index("embed")
    stages = {k: v for k, v in config.stages.items() if STAGE_NAMES.index(k) < cut}
    return dataclasses.replace(config, stages=stages)


def with_bootstrap_paths(config, output: str):
    """`config` with the bootstrapped models and seeds under `output` (demo.yaml names them
    under out/demo)."""
    import dataclasses
    import os

    from curate.validate.bootstrap import filter_paths

    paths = filter_paths(os.path.join(output, "filter"))
    moved = {
        "embed": {"pretrained": paths["tower"]},
        "capfilt": {"filter_pretrained": paths["filters"]},
        "retrieve": {"seed_images": os.path.join(output, "seeds")},
    }
    stages = dict(config.stages)
    for name, fields in moved.items():
        if name in stages:
            stages[name] = dataclasses.replace(stages[name], **fields)
    return dataclasses.replace(config, stages=stages)


def report_argv(run: str, manifest: str) -> list[str]:
    """`curate report` arguments for `run`: with --html <run>/report.html where the report
    command has that flag, the Markdown report alone where it has not."""
    from curate import cli

    parser = cli.build_parser("report")
    sub = next(a for a in parser._actions if a.dest == "command").choices["report"]
    options = {o for a in sub._actions for o in a.option_strings}
    argv = ["report", "--run", run] if "--run" in options else ["report", run]
    argv += ["--manifest", manifest]
    if "--html" in options:
        argv += ["--html", f"{run.rstrip('/')}/report.html"]
    return argv


def main(args, beam_args) -> int:
    import argparse
    import errno
    import os
    import time
    from pathlib import Path

    import yaml

    from curate import cli, paths, pipeline
    from curate import config as cfg
    from curate.commands import export as export_command
    from curate.commands.stage import print_summary
    from curate.errors import CurateError
    from curate.sample import SampleServer, build_sample
    from curate.validate.bootstrap import write_seed_images
    from curate.validate.compare import CompareConfig, run_compare
    from curate.validate.crossfit import FilterTrainConfig, train_filters

    def log(line: str) -> None:
        print(line, flush=True)

    sample = Path(args.sample) if args.sample else paths.data_dir() / "sample"
    if not (sample / "pool.parquet").exists() or not (sample / "manifest.json").exists():
        log(f"building a {args.size}-pair sample pool in {sample} ...")
        build_sample(sample, size=args.size)
    settings = yaml.safe_load(Path(args.validate_config).read_text()) or {}
    config = cfg.load(args.config)
    output = args.output or config.output
    config = with_bootstrap_paths(
        cfg.from_dict({**cfg.to_dict(config), "input": str(sample / "pool.parquet"), "output": output}), output
    )
    first = first_pass_config(config)
    first = cfg.from_dict({**cfg.to_dict(first), "output": os.path.join(output, "first_pass")})
    start = time.monotonic()
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> None:
        timings[name] = time.monotonic() - t0
        log(f"[demo] {name} done in {timings[name]:.0f} s")

    port = (yaml.safe_load((sample / "manifest.json").read_text()) or {}).get("port")
    server = SampleServer(sample, port=port) if port else SampleServer(sample)
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
        log(f"serving the sample images at {server.base_url}")
        log(f"[demo] 1/6 stages without a model: {', '.join(first.stages)}")
        t = time.monotonic()
        print_summary(pipeline.run(first, beam_args), first.output)
        step("first pass", t)
        if args.compare:
            log("[demo] the whole pool, downloaded, for the comparison: ingest, download")
            t = time.monotonic()
            pool = cfg.from_dict({
                "input": str(sample / "pool.parquet"), "output": os.path.join(output, "pool"),
                "seed": config.seed,
                "stages": {"ingest": cfg.to_dict(config)["stages"]["ingest"],
                           "download": cfg.to_dict(config)["stages"]["download"]},
            })
            print_summary(pipeline.run(pool, beam_args), pool.output)
            step("pool download", t)
    finally:
        server.stop()
    log("[demo] 2/6 train-filter: CLIP filters trained from scratch on pass 1's pairs, cross-fitted")
    t = time.monotonic()
    train_filters(
        FilterTrainConfig(input=first.output, output=os.path.join(output, "filter"), **settings.get("train_filter", {})),
        log=log,
    )
    step("train-filter", t)
    if "retrieve" in config.stages:
        write_seed_images(sample, config.stages["retrieve"].seed_images, int(settings.get("retrieve_seeds", 1000)))
    rest = [n for n in config.stages if n not in first.stages]
    log(f"[demo] 3/6 model stages, continuing pass 1: {', '.join(rest)}")
    t = time.monotonic()
    stats = pipeline.run(config, beam_args, resume_from=first.output)
    print_summary(stats, output)
    step("model stages", t)
    log("[demo] 4/6 export")
    t = time.monotonic()
    export = os.path.join(output, "export")
    export_command.main(argparse.Namespace(input=output, output=export), list(beam_args))
    step("export", t)
    log("[demo] 5/6 report")
    argv = report_argv(output, str(sample / "manifest.parquet"))
    cli.main(argv)
    compare = CompareConfig(
        curated=output, pool=os.path.join(output, "pool"), output=os.path.join(output, "compare"),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.get("compare", {}).items()},
    )
    if args.compare and stats["kept"] < compare.batch_size:
        log(f"[demo] 6/6 compare skipped: the curated set has {stats['kept']} pairs, fewer than one "
            f"training batch ({compare.batch_size}). The full benchmark: {FULL_BENCHMARK}")
    elif args.compare:
        seeds = f"{len(compare.seeds)} seed{'s' if len(compare.seeds) != 1 else ''}"
        length = (f"{compare.samples_seen // compare.batch_size} steps of {compare.batch_size}" if compare.samples_seen
                  else f"{compare.epochs} epochs")
        log(f"[demo] 6/6 compare: a SMOKE RUN ({seeds}, {length}): it shows the "
            f"protocol, it is not a verdict. The full benchmark (5 seeds, 400 steps of 64, ~15 min): {FULL_BENCHMARK}")
        t = time.monotonic()
        results = run_compare(compare, log=log)
        log(results["table_markdown"])
        step("compare", t)
    log(
        f"demo finished in {time.monotonic() - start:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}). Results in {output}: kept/ "
        "and removed/ (Parquet, every stage), stats.json, config.yaml, first_pass/ (with the "
        "images), filter/ (the bootstrapped models), export/ (webdataset tars open_clip trains "
        "on, Parquet, uids.npy, dataset card)" + (", compare/ (table.md, plot.png)" if args.compare else "")
    )
    html = f"{output.rstrip('/')}/report.html"
    report = html if "--html" in argv else f"{output.rstrip('/')}/report.md"
    log(f"report: {report}")
    return 0
