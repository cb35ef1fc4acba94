"""Composition: the ordered stages, a pipeline built from a PipelineConfig, its outputs.

Output folder layout (same for ``curate run`` and every single-stage command)::

    <output>/kept/part-SSSSS-of-NNNNN.parquet      pairs that survived every stage
    <output>/removed/part-SSSSS-of-NNNNN.parquet   removed records of every stage
    <output>/stats.json                            per-stage funnel: in, kept, removed by reason
    <output>/config.yaml                           the resolved config of the run
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import apache_beam as beam

from curate import config as cfg
from curate import schema
from curate.io import shards
from curate.io.pool import ReadPool
from curate.transforms.base import Funnel, StageOutput


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

    return DedupByMinHash(c, run.seed)


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


# Run order. Each stage module adds its entry here; `curate run` runs the ones its config names.
STAGES: list[StageSpec] = [
    StageSpec("ingest", _ingest, "read a raw pool, give uids, drop malformed rows and exact duplicates"),
    StageSpec("filter", _filter, "text rules (DataComp basic), language id, MetaCLIP substring matching against the query list"),
    StageSpec("dedup_text", _dedup_text, "MinHash LSH clusters of near-duplicate alt-texts (text_cluster); only spam-size clusters are capped"),
    StageSpec("balance", _balance, "MetaCLIP balancing: cap each query-list entry at t matches"),
    StageSpec("download", _download, "fetch images with img2dataset in shards: webdataset tars, status per pair, unsafe addresses refused"),
    StageSpec("dedup_images", _dedup_images, "duplicate pairs: the same image (pixel sha256 or pHash) with a near-duplicate caption, or the same pixels under any caption"),
    StageSpec("embed", _embed, "open_clip image embeddings through RunInference"),
    StageSpec("decontaminate", _decontaminate, "remove near-copies of an evaluation set (eval_overlap)"),
    StageSpec("semdedup", _semdedup, "SemDeDup: k-means on embeddings, near-duplicates within clusters"),
    StageSpec("capfilt", _capfilt, "CapFilt: CoCa synthetic captions, CLIP scores of web and synthetic captions, global threshold"),
    StageSpec("retrieve", _retrieve, "DINOv2 retrieval: keep each seed image's nearest pool images by embedding"),
]
STAGE_NAMES = [s.name for s in STAGES]


def _order(names) -> list[StageSpec]:
    unknown = sorted(set(names) - set(STAGE_NAMES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; stages are {STAGE_NAMES}")
    return [s for s in STAGES if s.name in names]


def _write_stats(stats: list[dict], path: str, order: list[str]) -> str:
    stats = sorted(stats, key=lambda s: order.index(s["stage"]))
    doc = {
        "stages": stats,
        "input": stats[0]["in"] if stats else 0,
        "kept": stats[-1]["kept"] if stats else 0,
        "removed": sum(s["removed"] for s in stats),
    }
    shards.write_json(path, doc)
    return path


def build(p: beam.Pipeline, config: cfg.PipelineConfig) -> dict[str, beam.PCollection]:
    """Add the configured stages to pipeline `p`; returns the final kept and removed batches,
    and the paths written (kept shards, removed shards, stats file)."""
    specs = _order(config.stages)
    if specs and specs[0].name == "ingest":
        batches = p | "ReadPool" >> ReadPool(config.input, config.stages["ingest"].batch_rows)
    else:
        batches = p | "ReadShards" >> shards.ReadShards(config.input)
    removed, stats = [], []
    for spec in specs:
        stage = spec.build(config.stages[spec.name], config)
        out: StageOutput = batches | spec.name.title().replace("_", "") >> stage
        stats.append((batches, out) | f"Funnel{spec.name.title().replace('_', '')}" >> Funnel(spec.name))
        removed.append(out.removed)
        batches = out.kept
    all_removed = tuple(removed) | "AllRemoved" >> beam.Flatten()
    kept_paths = batches | "WriteKept" >> shards.WriteShards(
        shards.join(config.output, "kept", "part"), schema.PAIR_SCHEMA, config.rows_per_shard
    )
    removed_paths = all_removed | "WriteRemoved" >> shards.WriteShards(
        shards.join(config.output, "removed", "part"),
        schema.REMOVED_SCHEMA,
        config.rows_per_shard,
        sort_by=("stage", "uid", "source", "source_row", "reason"),
    )
    stats_path = (
        tuple(stats)
        | "AllStats" >> beam.Flatten()
        | "StatsList" >> beam.combiners.ToList()
        | "WriteStats"
        >> beam.Map(_write_stats, shards.join(config.output, "stats.json"), [s.name for s in specs])
    )
    return {
        "kept": batches,
        "removed": all_removed,
        "kept_paths": kept_paths,
        "removed_paths": removed_paths,
        "stats_path": stats_path,
    }


def run(config: cfg.PipelineConfig, beam_args: list[str] | None = None) -> dict:
    """Run `config` to completion; returns the stats written to <output>/stats.json."""
    from curate.runner import pipeline_options

    shards.makedirs(config.output)
    shards.write_bytes(shards.join(config.output, "config.yaml"), cfg.dump(config).encode())
    with beam.Pipeline(options=pipeline_options(beam_args or [])) as p:
        build(p, config)
    return shards.read_json(shards.join(config.output, "stats.json"))
