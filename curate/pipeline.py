"""Composition: the ordered stages, a pipeline built from a PipelineConfig, its outputs.

Output folder layout (same for ``curate run`` and every single-stage command)::

    <output>/kept/part-SSSSS-of-NNNNN.parquet      pairs that survived every stage
    <output>/removed/part-SSSSS-of-NNNNN.parquet   removed records of every stage
    <output>/stats.json                            per-stage funnel: in, kept, removed by reason
    <output>/config.yaml                           the resolved config of the run
    <output>/.exchange/                            while a run works: data too large for the
                                                   runner's shuffle (dedup_text's band rows,
                                                   the rows on their way to their shard)

stats.json is written after every shard, so its presence means the run finished. Before a
run starts, ``preflight`` turns what would fail later into one clear error: an output folder
holding another run's config, a missing query list or checkpoint, and (in ``ReadPool``) an
input file that cannot be read at all. A rerun into the same folder with the same config
(after a crash or a kill) first removes the earlier attempt's shards and stats.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import apache_beam as beam
import yaml

from curate import config as cfg
from curate import schema
from curate.errors import CurateError, find_user_error
from curate.io import shards
from curate.io.pool import ReadPool
from curate.transforms.base import Funnel, FunnelError, StageOutput


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """A stage in run order. `build(stage_config, run_config)` returns its PTransform:
    pair batches (raw batches for ingest) → StageOutput."""

    name: str
    build: Callable[[object, cfg.PipelineConfig], beam.PTransform]
    summary: str


def _ingest(c, run):
    from curate.transforms.ingest import IngestPool

    return IngestPool(c)


def _filter(c, run):
    from curate.transforms.filter import FilterText

    return FilterText(c, run.queries)


def _dedup_text(c, run):
    from curate.transforms.dedup_text import DedupByMinHash

    return DedupByMinHash(c, run.seed, exchange_folder(run.output))


def exchange_folder(output: str) -> str:
    """Where stages put data too large for the runner's shuffle (dedup_text's band rows, the
    rows on their way to the kept and removed shards):
    files in the run's output folder, which every worker reaches; removed when a run ends
    (and before it starts: what a killed attempt left)."""
    return shards.join(output, ".exchange")


def _balance(c, run):
    from curate.transforms.balance import BalanceByEntry

    return BalanceByEntry(c, run.seed, shards.join(run.output, "balance.json"), run.queries)


def _download(c, run):
    from curate.transforms.download import DownloadImages

    return DownloadImages(c, shards.join(run.output, "images"))


def _dedup_images(c, run):
    from curate.transforms.dedup_images import DedupImages

    return DedupImages(c)


def _embed(c, run):
    from curate.transforms.embed import EmbedImages

    return EmbedImages(c)


def _decontaminate(c, run):
    from curate.transforms.decontaminate import Decontaminate

    return Decontaminate(c, run.stages.get("embed"))


def _semdedup(c, run):
    from curate.transforms.semdedup import DedupByEmbedding

    return DedupByEmbedding(c, run.seed)


def _capfilt(c, run):
    from curate.transforms.capfilt import CaptionAndFilter

    return CaptionAndFilter(c, run.seed, shards.join(run.output, "capfilt.json"))


def _retrieve(c, run):
    from curate.transforms.retrieve import RetrieveBySeeds

    return RetrieveBySeeds(c, run.stages.get("embed"))


def _balance_clusters(c, run):
    from curate.transforms.balance_clusters import BalanceByClusters

    return BalanceByClusters(c, run.seed, shards.join(run.output, "balance_clusters.json"))


# Run order. Each stage module adds its entry here; `curate run` runs the ones its config names.
STAGES: list[StageSpec] = [
    StageSpec(name, build, cfg.STAGE_SUMMARIES[name])
    for name, build in [
        ("ingest", _ingest),
        ("filter", _filter),
        ("dedup_text", _dedup_text),
        ("balance", _balance),
        ("download", _download),
        ("dedup_images", _dedup_images),
        ("embed", _embed),
        ("decontaminate", _decontaminate),
        ("semdedup", _semdedup),
        ("capfilt", _capfilt),
        ("retrieve", _retrieve),
        ("balance_clusters", _balance_clusters),
    ]
]
STAGE_NAMES = [s.name for s in STAGES]


def _order(names) -> list[StageSpec]:
    unknown = sorted(set(names) - set(STAGE_NAMES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; stages are {STAGE_NAMES}")
    return [s for s in STAGES if s.name in names]


def check_written(doc: dict, kept_paths, removed_paths) -> None:
    """The shards hold what the funnel counted: as many kept rows as the last stage kept and
    one removed record per removed row. The funnel counts each stage's outputs where they
    are made; the writers get them through the runner once more, and a runner that drops
    part of a bundle's input (Beam 2.77's local data plane did: docs/RUNNERS.md) would
    otherwise leave shards short of their stats."""
    for what, paths, expected in (("kept", kept_paths, doc["kept"]), ("removed", removed_paths, doc["removed"])):
        written = shards.shard_rows(paths)
        if written != expected:
            raise FunnelError(f"{what}/ shards hold {written} rows but the funnel counted {expected}")


def _write_stats(
    stats: list[dict], path: str, order: list[str], files: dict | None = None, broken=(), kept_paths=(), removed_paths=()
) -> str:
    """Writes stats.json, once the shards hold what it says (``check_written``). `files`: the
    input files of a run that starts with ingest (``in``, ``read``, ``skipped`` and the
    skipped files' reasons); `broken`: the ``broken_file`` records (files read up to a
    break); `kept_paths`, `removed_paths`: the shards written."""
    stats = sorted(stats, key=lambda s: order.index(s["stage"]))
    doc = {
        "stages": stats,
        "input": stats[0]["in"] if stats else 0,
        "kept": stats[-1]["kept"] if stats else 0,
        "removed": sum(s["removed"] for s in stats),
    }
    check_written(doc, kept_paths, removed_paths)
    if files is not None:
        ingest = next(s for s in stats if s["stage"] == "ingest")
        ingest["files"] = {"in": files["in"], "read": files["in"] - len(files["skipped"]), "skipped": len(files["skipped"])}
        doc["bad_files"] = sorted(
            [{"path": f["path"], "problem": "skipped", "reason": f["reason"]} for f in files["skipped"]]
            + [{"path": p, "problem": "broken", "reason": d} for p, d in broken]
        , key=lambda f: f["path"])
    shards.write_json(path, doc)
    return path


def _broken_files(table):
    """(source, detail) of each `broken_file` record of a removed batch."""
    if "broken_file" not in set(table["reason"].to_pylist()):
        return
    for row in table.select(["source", "reason", "detail"]).to_pylist():
        if row["reason"] == "broken_file":
            yield row["source"], row["detail"]


def build(
    p: beam.Pipeline, config: cfg.PipelineConfig, resume_from: str | None = None
) -> dict[str, beam.PCollection]:
    """Add the configured stages to pipeline `p`; returns the final kept and removed batches,
    and the paths written (kept shards, removed shards, stats file).

    `resume_from`: a finished run of the first stages of `config` (see ``resume_point``):
    the remaining stages read its kept/ shards, and its removed records and funnel join
    this run's, so the outputs equal those of running every stage at once."""
    specs = _order(config.stages)
    files = None
    removed, stats = [], []
    if resume_from:
        done, prior = resume_point(config, resume_from)
        specs = specs[len(done):]
        batches = p | "ReadShards" >> shards.ReadShards(shards.join(resume_from, "kept"))
        removed.append(p | "ReadRemoved" >> shards.ReadShards(shards.join(resume_from, "removed")))
        stats.append(p | "PriorStats" >> beam.Create(prior["stages"]))
        if done[0] == "ingest":
            ingest = next(s for s in prior["stages"] if s["stage"] == "ingest")
            skipped = [
                {"path": f["path"], "reason": f["reason"]}
                for f in prior.get("bad_files", [])
                if f["problem"] == "skipped"
            ]
            files = {"in": ingest["files"]["in"], "skipped": skipped}
        order = done + [s.name for s in specs]
    elif specs and specs[0].name == "ingest":
        ingest = config.stages["ingest"]
        read = ReadPool(shards.resolve_input(config.input), ingest.batch_rows, ingest.skip_bad_files)
        files = {"in": read.files_in, "skipped": read.skipped}
        batches = p | "ReadPool" >> read
        order = [s.name for s in specs]
    else:
        batches = p | "ReadShards" >> shards.ReadShards(shards.resolve_input(config.input))
        order = [s.name for s in specs]
    for spec in specs:
        stage = spec.build(config.stages[spec.name], config)
        out: StageOutput = batches | spec.name.title().replace("_", "") >> stage
        stats.append((batches, out) | f"Funnel{spec.name.title().replace('_', '')}" >> Funnel(spec.name))
        removed.append(out.removed)
        batches = out.kept
    all_removed = tuple(removed) | "AllRemoved" >> beam.Flatten()
    exchange = exchange_folder(config.output)
    kept_paths = batches | "WriteKept" >> shards.WriteShards(
        shards.join(config.output, "kept", "part"), schema.PAIR_SCHEMA, config.rows_per_shard, exchange=exchange
    )
    removed_paths = all_removed | "WriteRemoved" >> shards.WriteShards(
        shards.join(config.output, "removed", "part"),
        schema.REMOVED_SCHEMA,
        config.rows_per_shard,
        sort_by=("stage", "uid", "source", "source_row", "reason"),
        exchange=exchange,
    )
    broken = all_removed | "BrokenFiles" >> beam.FlatMap(_broken_files)
    stats_path = (
        tuple(stats)
        | "AllStats" >> beam.Flatten()
        | "StatsList" >> beam.combiners.ToList()
        | "WriteStats"
        >> beam.Map(
            _write_stats,
            shards.join(config.output, "stats.json"),
            order,
            files,
            beam.pvalue.AsList(broken),
            beam.pvalue.AsList(kept_paths),
            beam.pvalue.AsList(removed_paths),
        )
    )
    return {
        "kept": batches,
        "removed": all_removed,
        "kept_paths": kept_paths,
        "removed_paths": removed_paths,
        "stats_path": stats_path,
    }


# Small side files a stage writes next to its shards; a resumed run copies the earlier
# run's (the images/ folder stays where it is: kept pairs name their tars by full path).
SIDE_FILES = ("balance.json", "capfilt.json")


def resume_point(config: cfg.PipelineConfig, run_folder: str) -> tuple[list[str], dict]:
    """(stages done, their stats) of `run_folder`, a finished run whose stages are the first
    stages of `config` with the same settings; ``CurateError`` saying what differs if not."""
    stats_path = shards.join(run_folder, "stats.json")
    config_path = shards.join(run_folder, "config.yaml")
    if not shards.exists(stats_path) or not shards.exists(config_path):
        raise CurateError(
            f"--resume-from {run_folder}: no stats.json and config.yaml there, so not a "
            "finished run (rerun it, or start from the beginning)"
        )
    if run_folder.rstrip("/") == config.output.rstrip("/"):
        raise CurateError(
            f"--resume-from {run_folder} is the output folder: a run replaces its output's "
            "shards, so continue into another --output"
        )
    earlier = cfg.from_dict(yaml.safe_load(shards.read_bytes(config_path)) or {})
    done = [s.name for s in _order(earlier.stages)]
    wanted = [s.name for s in _order(config.stages)]
    if not done or wanted[: len(done)] != done:
        raise CurateError(
            f"--resume-from {run_folder} ran stages {done}, which are not the first stages "
            f"of this config ({wanted})"
        )
    if len(done) == len(wanted):
        raise CurateError(f"--resume-from {run_folder} already ran every stage of this config ({wanted})")
    same = {k: v for k, v in cfg.to_dict(config).items() if k in ("input", "queries", "seed")}
    same["stages"] = {k: v for k, v in cfg.to_dict(config)["stages"].items() if k in done}
    had = {k: v for k, v in cfg.to_dict(earlier).items() if k in ("input", "queries", "seed", "stages")}
    diff = _config_diff(had, same)
    if diff:
        raise CurateError(
            f"--resume-from {run_folder} ran with other settings ({'; '.join(diff[:3])}): "
            "continue a run with the settings it was started with"
        )
    return done, shards.read_json(stats_path)


# Settings that name a file or folder: checked before the run (a missing checkpoint would
# otherwise fail in every worker's setup, after the reading and earlier stages).
PATH_FIELDS = (
    "model", "pretrained", "filter_model", "filter_pretrained", "captioner_model",
    "captioner_pretrained", "eval_images", "seed_images",
)
def _config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new), key=str)
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def preflight(config: cfg.PipelineConfig) -> None:
    """Raise ``CurateError`` for what would make the run fail, or mix runs, later."""
    source = shards.resolve_input(config.input)
    for own in ("kept", "removed"):
        folder = shards.join(config.output, own)
        if source.rstrip("/") == folder or source.startswith(folder + "/"):
            raise CurateError(
                f"--input {config.input} is inside --output {config.output}: a run replaces "
                f"its output's {own}/ shards; write to another --output"
            )
    old_path = shards.join(config.output, "config.yaml")
    if shards.exists(old_path):
        try:
            old = yaml.safe_load(shards.read_bytes(old_path)) or {}
            old = cfg.to_dict(cfg.from_dict(old))  # defaults filled in as the new one's are
        except (yaml.YAMLError, TypeError, ValueError):
            pass  # compared as it stands
        new = cfg.to_dict(config)
        old = old if isinstance(old, dict) else {"config.yaml": old}
        diff = _config_diff(
            {k: v for k, v in old.items() if k != "output"},
            {k: v for k, v in new.items() if k != "output"},
        )
        if diff:
            shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
            raise CurateError(
                f"{config.output} holds a run with other settings ({shown}): give another "
                f"--output, or delete {old_path} to reuse the folder (its kept/, removed/ and "
                "stats.json are replaced)"
            )
    if config.queries and ("balance" in config.stages or getattr(config.stages.get("filter"), "match", False)):
        from curate.io.queries import ENTRIES_PARQUET, ENTRIES_TXT

        if not any(shards.exists(shards.join(config.queries, n)) for n in (ENTRIES_TXT, ENTRIES_PARQUET)):
            raise CurateError(
                f"no query list in {config.queries}: neither {ENTRIES_TXT} nor "
                f"{ENTRIES_PARQUET} exists (build one with `curate queries build`, or give "
                "the folder of one with --queries)"
            )
    for name, stage in config.stages.items():
        for field in PATH_FIELDS:
            cfg.check_named_path(getattr(stage, field, None), f"stages.{name}.{field}")


def run(config: cfg.PipelineConfig, beam_args: list[str] | None = None, resume_from: str | None = None) -> dict:
    """Run `config` to completion; returns the stats written to <output>/stats.json.
    `resume_from`: an earlier run of its first stages to continue from (see ``build``).

    A user error (a bad input file, a missing query list...) raised inside a worker comes
    out as ``CurateError`` with the worker's message, whatever the runner's wrapping."""
    from curate import progress
    from curate.runner import input_bytes, pipeline_options

    preflight(config)
    progress.new_run()
    source = shards.join(resume_from, "kept") if resume_from else shards.resolve_input(config.input)
    p = beam.Pipeline(options=pipeline_options(beam_args or [], input_bytes(source)))
    build(p, config, resume_from)  # planning: its errors (bad values, bad input files) are raised as they are
    shards.makedirs(config.output)
    shards.remove_run_outputs(config.output)
    shards.write_bytes(shards.join(config.output, "config.yaml"), cfg.dump(config).encode())
    for name in SIDE_FILES if resume_from else ():
        if shards.exists(shards.join(resume_from, name)):
            shards.write_bytes(shards.join(config.output, name), shards.read_bytes(shards.join(resume_from, name)))
    shards.remove_folder(exchange_folder(config.output))
    try:
        p.run().wait_until_finish()
    except CurateError:
        raise
    except Exception as e:
        message = find_user_error(e)
        if message is not None:
            raise CurateError(message) from e
        if isinstance(e, (ValueError, OSError)):  # a bug in a worker, not a bad value given
            raise RuntimeError(f"the pipeline failed: {e}") from e
        raise
    finally:
        shards.remove_folder(exchange_folder(config.output))
    return shards.read_json(shards.join(config.output, "stats.json"))
