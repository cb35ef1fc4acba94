"""Stage `decontaminate`: remove near-copies of an evaluation set (reason eval_overlap)."""

from __future__ import annotations

import apache_beam as beam

from curate.config import DecontaminateConfig, EmbedConfig
from curate.ops import decontaminate as ops
from curate.transforms.base import StageOutput, non_empty


def _features(_, config: DecontaminateConfig, embed_config: EmbedConfig | None):
    from curate.io.evalset import load_eval_images

    items = load_eval_images(config.eval_images)
    from curate.models.clip import stage_model

    embed = None
    model, pretrained = stage_model(config.model, config.pretrained, embed_config)
    if config.min_cosine <= 1.0 and model:
        from curate.models.clip import embed_images, load_open_clip

        loaded = load_open_clip(model, pretrained, config.device)
        batch = embed_config.batch_size if embed_config else 64

        def embed(images):
            return embed_images(loaded, images, batch)

    return ops.eval_features(items, embed)


class _CheckFn(beam.DoFn):
    def __init__(self, config: DecontaminateConfig):
        self.config = config

    def process(self, table, feats):
        kept, removed = ops.decontaminate_batch(
            table, feats, self.config.max_distance, self.config.min_cosine
        )
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput("removed", removed)


class Decontaminate(beam.PTransform):
    """In: pair batches (with pixel_sha256/phash from dedup_images and/or embedding from
    embed). Out: StageOutput. Removed: ``eval_overlap`` for pairs whose image is an exact,
    pHash (<= max_distance) or embedding (cosine > min_cosine) near-copy of an eval image.
    The eval features are computed once (one worker) and shared as a side input."""

    def __init__(self, config: DecontaminateConfig = DecontaminateConfig(), embed_config=None):
        super().__init__()
        self.config = config
        self.embed_config = embed_config

    def expand(self, pairs):
        feats = (
            pairs.pipeline
            | "One" >> beam.Create([None])
            | "EvalFeatures" >> beam.Map(_features, self.config, self.embed_config)
        )
        out = pairs | "Check" >> beam.ParDo(
            _CheckFn(self.config), beam.pvalue.AsSingleton(feats)
        ).with_outputs("removed", main="kept")
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
