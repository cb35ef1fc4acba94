"""Stage `download`: each pair's image fetched by img2dataset inside Beam, in shards.

The pool is split into shards by uid (``int(uid[:15], 16) % num_shards``, the shard count
from the global row count: ``curate.ops.download.num_shards_for``); each shard is one
element handed to ``DownloadShardFn``, which runs img2dataset's downloader on it
(``curate.io.download``). Downloading therefore scales with the runner's workers, and each
worker runs ``thread_count`` download threads.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from curate import progress, schema
from curate.config import DownloadConfig
from curate.io import shards
from curate.ops import download as ops
from curate.transforms.base import CountRows, StageOutput, non_empty


class DownloadShardFn(beam.DoFn):
    """(shard index, [pair batches]) → kept batch, and removed records (tag ``removed``)."""

    REMOVED = "removed"

    def __init__(self, config: DownloadConfig, images_dir: str):
        self.config = config
        self.images_dir = images_dir
        self.downloaded = Metrics.counter(ops.STAGE, "shards_downloaded")
        self.skipped = Metrics.counter(ops.STAGE, "shards_skipped")
        self.seconds = Metrics.distribution(ops.STAGE, "shard_seconds")

    def setup(self):
        from curate.io import download, fetch

        self._download = download
        self.resizer = download.make_resizer(self.config)
        fetch.install_into_img2dataset()

    def process(self, item):
        _, tables = item
        table = schema.concat(tables)
        if table is None or table.num_rows == 0:
            return
        result = self._download.download_shard(table, self.images_dir, self.config, self.resizer)
        (self.skipped if result.skipped else self.downloaded).inc()
        self.seconds.update(int(result.seconds))
        kept, removed = ops.split_results(table, result.results)
        progress.advance(ops.STAGE, table.num_rows)
        if kept.num_rows:
            yield kept
        if removed.num_rows:
            yield beam.pvalue.TaggedOutput(self.REMOVED, removed)


class DownloadImages(beam.PTransform):
    """In: pair batches (uid, url, text). Out: StageOutput.

    Kept: pairs whose image was downloaded, with ``key`` (= uid), ``shard`` (the
    webdataset tar holding ``<key>.<ext>``, ``.txt``, ``.json``), ``status`` ("success"),
    ``width``, ``height``, ``original_width``, ``original_height`` and ``sha256`` (of the
    stored, resized file). Removed: every other pair, with a reason from
    ``curate.ops.download.REASONS`` and img2dataset's error message as detail.

    Tars and per-shard results go to ``images_dir``; a rerun reuses complete shards (same
    uids, same image settings) without downloading. Hosts resolving to non-global
    addresses are refused (``allow_loopback`` allows 127.0.0.1/::1 only).
    """

    def __init__(self, config: DownloadConfig, images_dir: str):
        super().__init__()
        self.config = config
        self.images_dir = images_dir

    def expand(self, batches):
        c = self.config
        num_shards = (
            batches
            | "CountRows" >> CountRows()
            | "NumShards" >> beam.Map(ops.num_shards_for, c.shard_size, c.target_shards)
        )
        results = (
            batches
            | "KeyByShard" >> beam.FlatMap(shards.split_into_shards, beam.pvalue.AsSingleton(num_shards))
            | "GroupShards" >> beam.GroupByKey()
            | "Download"
            >> beam.ParDo(DownloadShardFn(c, self.images_dir)).with_outputs(
                DownloadShardFn.REMOVED, main="kept"
            )
        )
        return StageOutput(results.kept | "NonEmpty" >> beam.Filter(non_empty), results.removed)
