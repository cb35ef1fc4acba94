import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from curate import schema
from curate.config import IngestConfig
from curate.transforms.base import Funnel
from curate.transforms.ingest import IngestPool

RAW = [
    {"url": "http://x.org/1", "text": b"a red car", "source": "a", "source_row": 0},
    {"url": "http://X.org:80/1#top", "text": b"a red car", "source": "a", "source_row": 1},
    {"url": "http://x.org/1", "text": b"a red car", "source": "0-first", "source_row": 9},
    {"url": "http://x.org/2", "text": b"\xffbad", "source": "a", "source_row": 2},
    {"url": None, "text": None, "source": "a", "source_row": 3, "parse_error": "json: boom"},
    {"url": "mailto:x@y.org", "text": b"mail", "source": "a", "source_row": 4},
    {"url": "http://x.org/3", "text": b"a blue boat", "source": "a", "source_row": 5},
]


def _batches():
    t = pa.Table.from_pylist(RAW, schema=schema.RAW_SCHEMA)
    return [t.slice(0, 3), t.slice(3)]  # duplicates straddle batches and sources


def test_ingest_keeps_first_of_duplicates_and_records_every_removal(beam_args):
    p = beam.Pipeline(options=PipelineOptions(beam_args))
    raw = p | beam.Create(_batches())
    out = raw | IngestPool(IngestConfig())
    kept = out.kept | "KeptRows" >> beam.FlatMap(lambda t: [(r["source"], r["source_row"], r["url"]) for r in t.to_pylist()])
    removed = out.removed | "RemovedRows" >> beam.FlatMap(
        lambda t: [(r["source"], r["source_row"], r["stage"], r["reason"]) for r in t.to_pylist()]
    )
    stats = (raw, out) | Funnel("ingest")
    assert_that(kept, equal_to([("0-first", 9, "http://x.org/1"), ("a", 5, "http://x.org/3")]), label="Kept")
    assert_that(
        removed,
        equal_to(
            [
                ("a", 0, "ingest", "duplicate_pair"),
                ("a", 1, "ingest", "duplicate_pair"),
                ("a", 2, "ingest", "undecodable_text"),
                ("a", 3, "ingest", "malformed_row"),
                ("a", 4, "ingest", "bad_url_scheme"),
            ]
        ),
        label="Removed",
    )
    assert_that(
        stats | beam.Map(lambda s: (s["in"], s["kept"], s["removed"])),
        equal_to([(7, 2, 5)]),
        label="Funnel",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("ingest"))["counters"]
    }
    assert counters["in"] == 7 and counters["kept"] == 2
    assert counters["removed_duplicate_pair"] == 2 and counters["removed_malformed_row"] == 1
