"""What every stage transform shares: its output shape, the funnel count, re-batching.

A stage is a ``beam.PTransform`` from a PCollection of pair batches (``pyarrow.Table``) to a
``StageOutput(kept, removed)``: kept pair batches and removed-record batches
(``schema.REMOVED_SCHEMA``). ``Funnel`` turns a stage's input and outputs into one stats dict
and Beam counters (namespace = stage, names ``in``, ``kept``, ``removed_<reason>``), and
checks ``in == kept + removed``.
"""

from __future__ import annotations

import itertools
import os
import typing
from collections import Counter

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from curate import schema
from curate.io import direct


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


class Segment(typing.NamedTuple):
    """Where a partition's piece lies in an exchange file (``PartitionedTablesFn.exchange``):
    one Arrow IPC stream of `size` bytes at `offset`."""

    path: str
    offset: int
    size: int


def read_pieces(pieces) -> list[pa.Table]:
    """A grouped partition's pieces as tables: tables as they are, Segments read from their
    exchange files (each file opened once, read in offset order; local files past the page
    cache, ``curate.io.direct``)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    tables, segments = [], {}
    for piece in pieces:
        if isinstance(piece, Segment):
            segments.setdefault(piece.path, []).append(piece)
        else:
            tables.append(piece)
    for path in sorted(segments):
        ranges = sorted(segments[path])
        if direct.is_local(path):
            data = direct.read_ranges(path, [(seg.offset, seg.size) for seg in ranges])
        else:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = []
                for seg in ranges:
                    f.seek(seg.offset)
                    data.append(pa.py_buffer(f.read(seg.size)))
        tables.extend(pa.ipc.open_stream(d).read_all() for d in data)
    return tables


class PartitionedTablesFn(beam.DoFn):
    """Base of DoFns that cut pair batches into (partition, table) pieces for a GroupByKey.

    Cutting every batch into every partition it touches makes batches x partitions pieces,
    and both grow with the pool: the shuffle's element count grows with its square, and
    pieces shrink to a few rows, each carrying a table's fixed costs (schema, buffers, one
    gRPC message on a portable runner). Pieces are gathered per partition across a bundle
    instead, and emitted only when the bundle ends, in pieces of at most ``piece_bytes``; what
    a bundle gathers beyond ``memory_bytes`` waits in a spill file on the worker's local disk
    (Arrow IPC, removed when the bundle ends). The grouped result is the same, only cut fewer
    times.

    With ``exchange`` (a folder every worker can read: the run's output folder) the pieces go
    to a file there instead and only their ``Segment`` (path, offset, size) is emitted: the
    consumer reads them with ``read_pieces``. That is for stages whose output is many times
    their input (dedup_text's signing writes ~42 band rows per pair): Beam's Flink batch
    translation runs a whole partition as one bundle, and its runner holds a bundle's output
    (at most 100 data messages of ~10 MB) until the SDK has finished the bundle
    (``SdkHarnessClient`` ActiveBundle close waits for the bundle's response before
    ``BeamFnDataInboundObserver.awaitCompletion`` reads the queue), so a bundle that emits
    more stalls the job (docs/RUNNERS.md, "How much a bundle may emit on Flink"). Files of
    a failed bundle are removed with it; the run removes the folder when it ends
    (``curate.pipeline.run``).
    Subclasses implement ``pieces(element, *side)`` -> (partition, table)."""

    memory_bytes = 64 << 20
    piece_bytes = 4 << 20
    exchange: str | None = None

    def pieces(self, element, *side):
        raise NotImplementedError

    def start_bundle(self):
        self.teardown()  # what a failed bundle left
        self._gathered: dict[int, list[pa.Table]] = {}
        self._bytes = 0
        self._spill: _Spill | None = None

    def process(self, element, *side):
        for part, table in self.pieces(element, *side):
            if table.num_rows:
                self._gathered.setdefault(part, []).append(table)
                self._bytes += table.nbytes
        if self._bytes >= self.memory_bytes:
            self._write_gathered()
        return ()

    def _write_gathered(self):
        if self._spill is None:
            self._spill = _Spill(self.exchange)
        self._spill.write(self._gathered)
        self._gathered, self._bytes = {}, 0

    def finish_bundle(self):
        if self.exchange is not None:
            if self._gathered:
                self._write_gathered()
            spill, self._spill = self._spill, None
            if spill is None:
                return
            spill.finish()
            for part in sorted(spill.segments):
                for offset, size in spill.segments[part]:
                    yield beam.transforms.window.GlobalWindows.windowed_value((part, Segment(spill.path, offset, size)))
            return
        gathered, spill = self._gathered, self._spill
        self._gathered, self._bytes, self._spill = {}, 0, None
        try:
            parts = set(gathered) | (set(spill.segments) if spill else set())
            for part in sorted(parts):
                tables = spill.read(part) if spill else []
                for piece in _cut(itertools.chain(tables, gathered.get(part, [])), self.piece_bytes):
                    yield beam.transforms.window.GlobalWindows.windowed_value((part, piece))
        finally:
            if spill is not None:
                spill.close()

    def teardown(self):
        spill = getattr(self, "_spill", None)
        if spill is not None:  # a bundle that failed: its file goes with it
            spill.close()
            self._spill = None


class _Spill:
    """One bundle's gathered tables in one file, appended to in rounds, each round one Arrow
    IPC stream per partition (its byte range remembered): a local temporary file, or a new
    file in `folder` (any Beam filesystem) that outlives the bundle. Local files are written
    and read past the page cache where the filesystem allows (``curate.io.direct``: they are
    read once), each stream serialized straight into the writer's staging memory."""

    def __init__(self, folder: str | None = None):
        from apache_beam.io.filesystems import FileSystems

        if folder is None:
            import tempfile

            fd, self.path = tempfile.mkstemp(prefix="curate-spill-", suffix=".arrows")
            os.close(fd)
        else:
            import uuid

            self.path = FileSystems.join(folder, f"{uuid.uuid4().hex}.arrows")
        if direct.is_local(self.path):
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)  # as FileSystems.create does
            self.file, self.local = direct.Writer(self.path), True
        else:
            self.file, self.local = FileSystems.create(self.path), False
        self.size = 0
        self.segments: dict[int, list[tuple[int, int]]] = {}
        self.finished = False

    def write(self, gathered: dict[int, list[pa.Table]]) -> None:
        for part in sorted(gathered):
            table = schema.concat(gathered[part])
            if self.local:
                counter = pa.MockOutputStream()
                _write_stream(counter, table)
                size = counter.size()
                with self.file.reserve(size) as view:
                    _write_stream(pa.FixedSizeBufferWriter(pa.py_buffer(view)), table)
            else:
                sink = pa.BufferOutputStream()
                _write_stream(sink, table)
                data = sink.getvalue()
                self.file.write(memoryview(data))
                size = data.size
            self.segments.setdefault(part, []).append((self.size, size))
            self.size += size

    def read(self, part: int) -> list[pa.Table]:
        """The part's tables (the file's writing ends with the first read)."""
        self.finish()
        return read_pieces(Segment(self.path, start, size) for start, size in self.segments.get(part, []))

    def finish(self) -> None:
        """Close the file and keep it (the exchange: read after this bundle)."""
        if not self.finished:
            self.file.close()
            self.finished = True

    def close(self) -> None:
        """Close the file and remove it."""
        self.finish()
        from apache_beam.io.filesystem import BeamIOError
        from apache_beam.io.filesystems import FileSystems

        try:
            FileSystems.delete([self.path])
        except BeamIOError:  # already gone
            pass


def _write_stream(sink, table: pa.Table) -> None:
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _cut(tables, piece_bytes: int):
    """Tables regrouped into pieces of at most ~`piece_bytes` (small tables concatenated,
    large ones sliced by rows; a single row larger than that is a piece of its own)."""
    pending: list[pa.Table] = []
    size = 0
    for table in tables:
        if table.nbytes > piece_bytes and table.num_rows > 1:
            rows = max(1, table.num_rows * piece_bytes // table.nbytes)
            slices = [_copy(table.slice(i, rows)) for i in range(0, table.num_rows, rows)]
        else:
            slices = [table]
        for s in slices:
            if pending and size + s.nbytes > piece_bytes:
                yield schema.concat(pending)
                pending, size = [], 0
            pending.append(s)
            size += s.nbytes
    if pending:
        yield schema.concat(pending)


def _copy(table: pa.Table) -> pa.Table:
    """The rows of a slice in buffers of their own: a slice shares its parent's buffers, and
    pickling it (Beam's coder) would carry them whole."""
    return pa.concat_tables([table, table.schema.empty_table()]).combine_chunks()


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
