"""The model stages' path before batches were fixed by the data, for benchmarks to time
against: ``ModelBatches`` replaced by a pass-through, so the model runs on whatever pair
batches the runner delivers (the old behaviour, whose floats depended on those batches)."""

from __future__ import annotations

import contextlib
from unittest import mock

import apache_beam as beam


class RunnerBatches(beam.PTransform):
    """Pass-through with ModelBatches' signature."""

    def __init__(self, batch_size: int = 0, read_images=None):
        super().__init__()

    def expand(self, pairs):
        return pairs


@contextlib.contextmanager
def runner_batches(fixed: bool):
    """Inside: stages embed and capfilt built on the runner's batches unless ``fixed``."""
    if fixed:
        yield
        return
    from curate.transforms import capfilt, embed

    with mock.patch.object(embed, "ModelBatches", RunnerBatches), mock.patch.object(capfilt, "ModelBatches", RunnerBatches):
        yield
