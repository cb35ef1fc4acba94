"""Stage `retrieve`: keep the pool's nearest neighbours of a curated seed set (DINOv2)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from curate.config import EmbedConfig, RetrieveConfig
from curate.ops import retrieve as ops
from curate.ops.embed import embeddings_of
from curate.transforms.base import MergePartialsFn, StageOutput, non_empty


def load_seeds(config: RetrieveConfig, embed_config: EmbedConfig | None) -> ops.Seeds:
    """The seed images named by the config, embedded with the run's embed model (or the
    stage's own model); images that do not decode are skipped."""
    from curate.io.evalset import load_eval_images
    from curate.models.clip import decode_all, embed_images, load_open_clip, stage_model
    from curate.ops import image_hash

    model, pretrained = stage_model(config.model, config.pretrained, embed_config)
    if not model:
        raise ValueError("retrieve: no model to embed the seeds (set retrieve.model or run the embed stage)")
    items = load_eval_images(config.seed_images, config.seed_limit or None)
    images, ok, _ = decode_all([data for _, data in items], image_hash.DEFAULT_MAX_PIXELS)
    names = [items[i][0] for i in ok]
    if not images:
        raise ValueError(f"retrieve: no seed image in {config.seed_images} decodes")
    loaded = load_open_clip(model, pretrained, config.device)
    batch = embed_config.batch_size if embed_config else 64
    # rounded to float16 like the pool's embeddings: the cosines that decide are exact
    return ops.Seeds(names, ops.normalise(embed_images(loaded, images, batch)).astype(np.float16))


class NeighboursFn(MergePartialsFn):
    """Per seed, the pool-wide best k rows; inputs are per-batch lists."""

    def __init__(self, k: int):
        self.k = k

    def merge(self, partials):
        return ops.merge(partials, self.k)


class _ScoreFn(beam.DoFn):
    """Batch → (batch, nearest seed, its cosine) and, tagged, the seeds' best k among it."""

    LISTS = "lists"

    def __init__(self, k: int):
        self.k = k

    def process(self, table, seeds):
        if table.num_rows:
            lists, nearest, cos = ops.score_batch(seeds, embeddings_of(table), table["uid"].to_pylist(), self.k)
            yield table, nearest, cos
            yield beam.pvalue.TaggedOutput(self.LISTS, lists)


def _ranks(lists):
    return ops.best_ranks(lists) if lists is not None else {}


class _DecideFn(beam.DoFn):
    def __init__(self, config: RetrieveConfig):
        self.config = config

    def process(self, scored, seeds, ranks):
        table, nearest, cos = scored
        kept, removed = ops.retrieve_batch(
            table, nearest, cos, seeds.names, ranks, self.config.neighbours, self.config.min_cosine
        )
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput("removed", removed)


class RetrieveBySeeds(beam.PTransform):
    """In: pair batches with ``embedding`` (stage ``embed``). Out: StageOutput.

    Kept: the pairs some seed ranks among its ``neighbours`` nearest pool images, with
    ``seed_cosine`` and ``seed_rank``. Removed: ``not_retrieved``. The seeds are embedded once
    (one worker) and shared as a side input; each batch's seed x row cosines are computed
    once; the neighbour lists are merged by a combiner, so the result is the same on any
    runner and worker count."""

    def __init__(self, config: RetrieveConfig, embed_config: EmbedConfig | None = None):
        super().__init__()
        self.config = config
        self.embed_config = embed_config

    def expand(self, pairs):
        seeds = beam.pvalue.AsSingleton(
            pairs.pipeline
            | "One" >> beam.Create([None])
            | "EmbedSeeds" >> beam.Map(lambda _, c, e: load_seeds(c, e), self.config, self.embed_config)
        )
        scored = pairs | "Score" >> beam.ParDo(_ScoreFn(self.config.neighbours), seeds).with_outputs(
            _ScoreFn.LISTS, main="scored"
        )
        ranks = (
            scored[_ScoreFn.LISTS]
            | "Neighbours" >> beam.CombineGlobally(NeighboursFn(self.config.neighbours))
            | "Ranks" >> beam.Map(_ranks)
        )
        out = scored.scored | "Decide" >> beam.ParDo(
            _DecideFn(self.config), seeds, beam.pvalue.AsSingleton(ranks)
        ).with_outputs("removed", main="kept")
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
