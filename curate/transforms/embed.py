"""Stage `embed`: open_clip image embeddings through Beam's RunInference."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from curate.config import EmbedConfig
from curate.models.clip import OpenClipImageEmbedder
from curate.ops import embed as ops
from curate.transforms.base import StageOutput, non_empty


def _split(result):
    table, out = result.example, result.inference
    kept, removed = ops.attach(table, out.ok, out.embeddings, out.errors)
    if kept.num_rows:
        yield kept
    if removed.num_rows:
        yield beam.pvalue.TaggedOutput("removed", removed)


class EmbedImages(beam.PTransform):
    """In: pair batches with ``shard`` and ``key``. Out: StageOutput.

    Kept: every pair whose image decodes, with ``embedding``: the L2-normalised image
    embedding as float16 (one batch out per batch in, same row order). Removed: only
    ``decode_error``. The model is loaded once per worker (RunInference), runs on the GPU
    when ``device`` is auto and one is visible."""

    def __init__(self, config: EmbedConfig = EmbedConfig(), read_images=None):
        super().__init__()
        self.config = config
        self.handler = OpenClipImageEmbedder(
            config.model, config.pretrained, config.device, config.batch_size, config.max_pixels, read_images
        )

    def expand(self, pairs):
        out = (
            pairs
            | "RunInference" >> RunInference(self.handler)
            | "Attach" >> beam.FlatMap(_split).with_outputs("removed", main="kept")
        )
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
