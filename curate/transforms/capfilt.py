"""Stage `capfilt`: caption, score (RunInference), then apply a global threshold."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference

from curate import progress
from curate.config import CapFiltConfig
from curate.io import shards
from curate.models.capfilt import CapFiltScorer
from curate.ops import capfilt as ops
from curate.ops.model_batches import take_images
from curate.transforms.base import ModelBatches, StageOutput, non_empty


class AttachScoresFn(beam.DoFn):
    """PredictionResult → scored batch (main) and decode errors (``removed``)."""

    def __init__(self):
        self.captioned = Metrics.counter(ops.STAGE, "captioned")
        self.clip_score = Metrics.distribution(ops.STAGE, "clip_score_x1000")
        self.synthetic_score = Metrics.distribution(ops.STAGE, "synthetic_score_x1000")

    def process(self, result):
        out = result.inference
        table = take_images(result.example)[0]
        kept, removed = ops.attach(
            table, out.ok, out.clip_score, out.captions, out.synthetic_score, out.errors
        )
        progress.advance(ops.STAGE, table.num_rows)
        for s in out.clip_score:
            self.clip_score.update(int(round(float(s) * 1000)))
        if out.captions is not None:
            self.captioned.inc(len(out.captions))
            for s in out.synthetic_score:
                self.synthetic_score.update(int(round(float(s) * 1000)))
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput("removed", removed)


def _add_counts(counts):
    """Sum of histograms (numpy arrays); None when there is none (an empty pool)."""
    total = None
    for c in counts:
        total = c if total is None else total + c
    return total


def _threshold(low, plan):
    return ops.threshold_from_counts(plan, low)


def _decide(table, threshold):
    kept, removed = ops.decide(table, threshold)
    if kept.num_rows:
        yield kept
    if removed.num_rows:
        yield beam.pvalue.TaggedOutput("removed", removed)


def _write_threshold(threshold: float, path: str, config: CapFiltConfig) -> str:
    shards.write_json(
        path,
        {"threshold": threshold, "keep_top_percent": config.keep_top_percent, "rule": "removed when clip_score and synthetic_score are both below threshold"},
    )
    return path


class CaptionAndFilter(beam.PTransform):
    """In: pair batches with ``shard``, ``key``, ``uid``, ``text`` (or, with ``score``
    off, batches that already carry ``clip_score``). Out: StageOutput.

    Kept: pairs whose web caption, or failing that whose synthetic caption, reaches the
    threshold, with ``clip_score``, ``synthetic_caption`` and ``synthetic_score`` (the
    last two null without a captioner). Removed: ``decode_error`` (no or a broken image)
    and ``low_clip_score`` (both captions below the threshold; detail: both scores and the
    threshold). The threshold is absolute or the exact percentile of clip_score over the
    whole pool (two global histograms of the scores' bits, combiners: never one worker's
    view, the same on any runner); ``threshold_path``, if given,
    records the value used. Captions are sampled per pair from (uid, "capfilt", seed), and the
    models run on ``ModelBatches`` (rows of one tar, uid order, chunks of ``batch_size``), so
    which pairs share a forward pass, and so every caption and score, depends on the data and
    the config alone: reruns, input batchings, worker counts and runners agree."""

    def __init__(self, config: CapFiltConfig = CapFiltConfig(), seed: int = 0, threshold_path: str | None = None, handler=None, read_images=None):
        super().__init__()
        self.config = config
        self.threshold_path = threshold_path
        self.read_images = read_images
        self.handler = handler or CapFiltScorer(
            config.filter_model,
            config.filter_pretrained,
            config.captioner_model,
            config.captioner_pretrained,
            config.device,
            config.batch_size,
            config.top_p,
            config.max_caption_tokens,
            config.min_caption_tokens,
            seed,
            config.max_pixels,
            read_images,
        )

    def expand(self, pairs):
        c = self.config
        removed = []
        if c.score:
            out = (
                pairs
                | "ModelBatches" >> ModelBatches(c.batch_size, self.read_images)
                | "RunInference" >> RunInference(self.handler)
                | "AttachScores" >> beam.ParDo(AttachScoresFn()).with_outputs("removed", main="kept")
            )
            scored = out.kept
            removed.append(out.removed)
        else:
            scored = pairs
        if c.keep_top_percent > 0:
            keys = scored | "ScoreKeys" >> beam.Map(ops.score_keys)
            plan = (
                keys
                | "HighCounts" >> beam.Map(ops.high_counts)
                | "SumHigh" >> beam.CombineGlobally(_add_counts)
                | "Plan" >> beam.Map(ops.percentile_plan, c.keep_top_percent)
            )
            threshold = (
                keys
                | "LowCounts" >> beam.Map(ops.low_counts, beam.pvalue.AsSingleton(plan))
                | "SumLow" >> beam.CombineGlobally(_add_counts)
                | "Threshold" >> beam.Map(_threshold, beam.pvalue.AsSingleton(plan))
            )
        else:
            threshold = pairs.pipeline | "Threshold" >> beam.Create([c.threshold])
        if self.threshold_path:
            _ = threshold | "WriteThreshold" >> beam.Map(_write_threshold, self.threshold_path, c)
        decided = scored | "Decide" >> beam.FlatMap(
            _decide, beam.pvalue.AsSingleton(threshold)
        ).with_outputs("removed", main="kept")
        removed.append(decided.removed)
        all_removed = tuple(removed) | "AllRemoved" >> beam.Flatten()
        return StageOutput(decided.kept | "NonEmpty" >> beam.Filter(non_empty), all_removed)
