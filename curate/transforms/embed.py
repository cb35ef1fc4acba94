"""Stage `embed`: open_clip image embeddings through Beam's RunInference."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from curate import progress
from curate.config import EmbedConfig
from curate.models.clip import OpenClipImageEmbedder
from curate.ops import embed as ops
from curate.ops.model_batches import take_images
from curate.transforms.base import ModelBatches, StageOutput, non_empty


def _split(result):
    table, out = take_images(result.example)[0], result.inference
    kept, removed = ops.attach(table, out.ok, out.embeddings, out.errors)
    progress.advance("embed", table.num_rows)
    if kept.num_rows:
        yield kept
    if removed.num_rows:
        yield beam.pvalue.TaggedOutput("removed", removed)


class EmbedImages(beam.PTransform):
    """In: pair batches with ``shard`` and ``key``. Out: StageOutput.

    Kept: every pair whose image decodes, with ``embedding``: the L2-normalised image
    embedding as float16, in batches of at most ``batch_size`` rows. Removed: only
    ``decode_error``. The model is loaded once per worker (RunInference), runs on the GPU
    when ``device`` is auto and one is visible.

    Deterministic: the model runs on ``ModelBatches`` (rows of one tar, uid order, chunks of
    ``batch_size``), so which images share a forward pass, and so every float of the output,
    depends on the data and the config (model, device, batch_size), never on how the runner
    batched or distributed the input."""

    def __init__(self, config: EmbedConfig = EmbedConfig(), read_images=None):
        super().__init__()
        self.config = config
        self.read_images = read_images
        self.handler = OpenClipImageEmbedder(
            config.model, config.pretrained, config.device, config.batch_size, config.max_pixels, read_images
        )

    def expand(self, pairs):
        out = (
            pairs
            | "ModelBatches" >> ModelBatches(self.config.batch_size, self.read_images)
            | "RunInference" >> RunInference(self.handler)
            | "Attach" >> beam.FlatMap(_split).with_outputs("removed", main="kept")
        )
        return StageOutput(out.kept | "NonEmpty" >> beam.Filter(non_empty), out.removed)
