"""What every stage transform shares: its output shape, the funnel count, re-batching.

A stage is a ``beam.PTransform`` from a PCollection of pair batches (``pyarrow.Table``) to a
``StageOutput(kept, removed)``: kept pair batches and removed-record batches
(``schema.REMOVED_SCHEMA``). ``Funnel`` turns a stage's input and outputs into one stats dict
and Beam counters (namespace = stage, names ``in``, ``kept``, ``removed_<reason>``), and
checks ``in == kept + removed``.
"""

from __future__ import annotations

import typing
from collections import Counter

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from curate import schema


class StageOutput(typing.NamedTuple):
    kept: beam.PCollection
    removed: beam.PCollection


class FunnelError(RuntimeError):
    """A stage's counts do not add up: in != kept + removed."""


def _count_rows(table: pa.Table, stage: str, name: str):
    Metrics.counter(stage, name).inc(table.num_rows)
    yield name, table.num_rows


def _count_reasons(table: pa.Table, stage: str):
    for reason, n in Counter(table["reason"].to_pylist()).items():
        Metrics.counter(stage, f"removed_{reason}").inc(n)
        yield f"removed_{reason}", n


def _stats(counts: dict[str, int], stage: str, check: bool) -> dict:
    counts = dict(counts)
    n_in, n_kept = counts.pop("in", 0), counts.pop("kept", 0)
    removed = {k[len("removed_") :]: v for k, v in sorted(counts.items())}
    total_removed = sum(removed.values())
    if check and n_in != n_kept + total_removed:
        raise FunnelError(
            f"stage {stage!r}: in={n_in} but kept={n_kept} + removed={total_removed}"
        )
    return {
        "stage": stage,
        "in": n_in,
        "kept": n_kept,
        "removed": total_removed,
        "removed_by_reason": removed,
    }


class Funnel(beam.PTransform):
    """In: (input batches, StageOutput). Out: one dict of this stage's counts.

    With ``check=True`` (the default) a stage whose counts do not add up fails the
    pipeline: nothing is lost silently. Stages whose kept output is not one-to-one with
    input rows (none so far) pass ``check=False``.
    """

    def __init__(self, stage: str, check: bool = True):
        super().__init__()
        self.stage = stage
        self.check = check

    def expand(self, pcolls):
        inputs, out = pcolls
        stage = self.stage
        counted = (
            inputs | "CountIn" >> beam.FlatMap(_count_rows, stage, "in"),
            out.kept | "CountKept" >> beam.FlatMap(_count_rows, stage, "kept"),
            out.removed | "CountRemoved" >> beam.FlatMap(_count_reasons, stage),
        )
        return (
            counted
            | "FlattenCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "ToDict" >> beam.combiners.ToDict()
            | "Stats" >> beam.Map(_stats, stage, self.check)
        )


def _num_rows(table: pa.Table) -> int:
    return table.num_rows


class CountRows(beam.PTransform):
    """In: batches. Out: one int, the total row count (a combiner: the whole pool's count,
    whichever worker sees which batch)."""

    def expand(self, batches):
        return batches | "Rows" >> beam.Map(_num_rows) | "Total" >> beam.CombineGlobally(sum)


def _explode(table: pa.Table, key_column: str):
    for row in table.to_pylist():
        yield row[key_column], row


class Rebatch(beam.PTransform):
    """PCollection of row dicts → PCollection of pyarrow.Table batches of `schema`.

    Uses Beam's BatchElements so batch sizes adapt between `min_size` and `max_size`.
    """

    def __init__(self, table_schema: pa.Schema = schema.PAIR_SCHEMA, min_size=256, max_size=4096):
        super().__init__()
        self.schema = table_schema
        self.min_size = min_size
        self.max_size = max_size

    def expand(self, rows):
        return (
            rows
            | "Batch" >> beam.BatchElements(min_batch_size=self.min_size, max_batch_size=self.max_size)
            | "ToTable" >> beam.Map(rows_to_table, self.schema)
        )


def rows_to_table(rows: list[dict], table_schema: pa.Schema = schema.PAIR_SCHEMA) -> pa.Table:
    """Row dicts → a table with the columns of `table_schema` that the rows carry."""
    names = set()
    for row in rows:
        names.update(row)
    fields = [f for f in table_schema if f.name in names]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def explode(table: pa.Table, key_column: str = "uid"):
    """A batch → (key, row dict) pairs, for keyed steps (GroupByKey, CoGroupByKey)."""
    return _explode(table, key_column)


def non_empty(table: pa.Table) -> bool:
    return table.num_rows > 0


class PartitionedTablesFn(beam.DoFn):
    """Base of DoFns that cut pair batches into (partition, table) pieces for a GroupByKey.

    Cutting every batch into every partition it touches makes batches x partitions pieces,
    and both grow with the pool: the shuffle's element count grows with its square, and
    pieces shrink to a few rows, each carrying a table's fixed costs (schema, buffers, one
    gRPC message on a portable runner). Pieces are gathered per partition across a bundle
    instead and emitted when the gathered tables pass ``flush_bytes`` or the bundle ends, so
    a piece is as large as a bundle allows. The grouped result is the same, only cut fewer
    times. Subclasses implement ``pieces(element, *side)`` -> (partition, table)."""

    flush_bytes = 64 << 20

    def pieces(self, element, *side):
        raise NotImplementedError

    def start_bundle(self):
        self._gathered: dict[int, list[pa.Table]] = {}
        self._bytes = 0

    def process(self, element, *side):
        for part, table in self.pieces(element, *side):
            self._gathered.setdefault(part, []).append(table)
            self._bytes += table.nbytes
        if self._bytes >= self.flush_bytes:
            yield from self._drain()

    def finish_bundle(self):
        for item in self._drain():
            yield beam.transforms.window.GlobalWindows.windowed_value(item)

    def _drain(self):
        gathered, self._gathered, self._bytes = self._gathered, {}, 0
        for part in sorted(gathered):
            tables = gathered[part]
            yield part, tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")


class MergePartialsFn(beam.CombineFn):
    """A combiner whose inputs are already partial results (a sample, neighbour lists):
    adding one is merging it. Subclasses define ``merge(partials)`` for non-empty lists of
    non-None partials; None stands for nothing seen."""

    def merge(self, partials: list):
        raise NotImplementedError

    def create_accumulator(self):
        return None

    def add_input(self, acc, item):
        return self.merge_accumulators([acc, item])

    def merge_accumulators(self, accs):
        accs = [a for a in accs if a is not None]
        return self.merge(accs) if accs else None

    def extract_output(self, acc):
        return acc


def _by_shard(table: pa.Table):
    from curate.ops import model_batches as mb

    elsewhere, groups = mb.by_shard(table)
    yield from groups
    if elsewhere.num_rows:  # no image to read: never reaches a model, needs no regrouping
        yield beam.pvalue.TaggedOutput(ModelBatches.NO_IMAGE, mb.with_images(elsewhere, [None] * elsewhere.num_rows))


def _model_batches(item, batch_size: int, read_images):
    from curate.io import tars
    from curate.ops import model_batches as mb

    _, tables = item
    table = mb.sort_by_uid(schema.concat(tables))
    yield from mb.chunks(mb.with_images(table, tars.read_pair_images(table, read_images)), batch_size)


class ModelBatches(beam.PTransform):
    """In: pair batches with ``uid``, ``shard``, ``key``. Out: model batches: the rows of one
    image tar in uid order, cut into chunks of at most ``batch_size`` rows, each carrying its
    rows' image bytes (``ops.model_batches.IMAGE_COLUMN``, read once per tar after the
    shuffle). Which rows share a chunk depends on the data alone, never on bundles, input
    batch sizes, worker count or runner (see ``curate.ops.model_batches``); rows without an
    image location pass through with no bytes. Standard primitives only (a GroupByKey on the
    tar path), so it runs the same on Flink and Dataflow.

    ``read_images(table) -> list[bytes | None]`` replaces reading the tars (tests, benchmarks)."""

    NO_IMAGE = "no_image"

    def __init__(self, batch_size: int, read_images=None):
        super().__init__()
        self.batch_size = batch_size
        self.read_images = read_images

    def expand(self, pairs):
        split = pairs | "ByShard" >> beam.FlatMap(_by_shard).with_outputs(self.NO_IMAGE, main="grouped")
        batches = (
            split.grouped
            | "GroupByShard" >> beam.GroupByKey()
            | "Chunks" >> beam.FlatMap(_model_batches, self.batch_size, self.read_images)
        )
        return (batches, split[self.NO_IMAGE]) | "Flatten" >> beam.Flatten()
