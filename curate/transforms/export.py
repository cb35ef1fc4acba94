"""Export a finished run's kept pairs: webdataset tars, Parquet shards, the DataComp uid array.

In: pair batches (the run's ``kept`` shards). Out: one summary dict (tar sizes, missing
images, uid count, Parquet paths). Tars are keyed like ``WriteShards``: a pair goes to tar
``int(uid[:15], 16) % num_tars`` with ``num_tars`` from the global row count, members sorted
by uid, so reruns on any runner give byte-identical tars.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from curate import schema
from curate.io import export as io_export
from curate.io import shards
from curate.ops import export as ops
from curate.transforms.base import CountRows


class WriteTarFn(beam.DoFn):
    """(tar index, [batches]) → (tar name, samples written, rows without an image)."""

    def __init__(self, folder: str, prefix: str):
        self.folder = folder
        self.prefix = prefix
        self.samples = Metrics.counter("export", "samples")
        self.missing = Metrics.counter("export", "missing_image")

    def process(self, item):
        index, tables = item
        table = schema.concat(tables)
        samples, missing = io_export.table_samples(table)
        name = f"{self.prefix}{index:05d}.tar"
        io_export.write_tar(shards.join(self.folder, name), samples)
        self.samples.inc(len(samples))
        self.missing.inc(missing)
        yield name, len(samples), missing


def _uids(table: pa.Table) -> list[str]:
    return table["uid"].to_pylist()


def _concat_lists(lists) -> list:
    out = []
    for x in lists:
        out.extend(x)
    return out


def _write_uids(uids: list[str], path: str) -> int:
    return io_export.write_uids(path, uids)


def _summary(tars: list, uid_count: int, parquet_paths: list) -> dict:
    tars = sorted(tars)
    return {
        "sizes": {name: n for name, n, _ in tars},
        "missing_image": sum(m for _, _, m in tars),
        "samples": sum(n for _, n, _ in tars),
        "tar_shards": len(tars),
        "uids": uid_count,
        "parquet_shards": sorted(parquet_paths),
    }


class ExportDataset(beam.PTransform):
    """Kept pair batches → tars in <output>/tars, Parquet in <output>/parquet, uids.npy."""

    def __init__(self, config: ops.ExportConfig, output: str, rows_per_parquet: int):
        super().__init__()
        self.config = config
        self.output = output
        self.rows_per_parquet = rows_per_parquet

    def expand(self, batches):
        c = self.config
        tar_folder = shards.join(self.output, "tars")
        total = batches | "CountRows" >> CountRows()
        n_tars = beam.pvalue.AsSingleton(total | "NumTars" >> beam.Map(ops.num_shards, c.samples_per_tar))
        if c.tars:
            tars = (
                batches
                | "KeyByTar" >> beam.FlatMap(shards.split_into_shards, n_tars)
                | "GroupTars" >> beam.GroupByKey()
                | "WriteTars" >> beam.ParDo(WriteTarFn(tar_folder, f"{c.name}-"))
                | "TarList" >> beam.combiners.ToList()
            )
        else:
            tars = batches.pipeline | "NoTars" >> beam.Create([[]])
        if c.parquet:
            parquet = (
                batches
                | "WriteParquet"
                >> shards.WriteShards(
                    shards.join(self.output, "parquet", c.name),
                    schema.PAIR_SCHEMA,
                    self.rows_per_parquet,
                    row_group_rows=c.row_group_rows,
                )
                | "ParquetList" >> beam.combiners.ToList()
            )
        else:
            parquet = batches.pipeline | "NoParquet" >> beam.Create([[]])
        uid_count = (
            batches
            | "Uids" >> beam.Map(_uids)
            | "AllUids" >> beam.CombineGlobally(_concat_lists)
            | "WriteUids" >> beam.Map(_write_uids, shards.join(self.output, "uids.npy"))
        )
        return (
            tars
            | "Summary"
            >> beam.Map(
                _summary,
                beam.pvalue.AsSingleton(uid_count),
                beam.pvalue.AsSingleton(parquet),
            )
        )
