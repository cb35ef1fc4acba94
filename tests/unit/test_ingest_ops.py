import pyarrow as pa
import pytest

from curate import schema
from curate.config import IngestConfig
from curate.ops import ingest

CFG = IngestConfig(max_text_chars=20, max_url_chars=40)


@pytest.mark.parametrize(
    "url, text, parse_error, reason",
    [
        ("http://x.org/a.jpg", b"a cat", None, None),
        ("HTTP://X.org:80/a.jpg", "caf\u00e9".encode(), None, None),
        (None, b"text", "json: bad line", "malformed_row"),
        (None, b"text", None, "missing_url"),
        ("   ", b"text", None, "missing_url"),
        ("http://x.org/a.jpg", None, None, "missing_text"),
        ("ftp://x.org/a.jpg", b"text", None, "bad_url_scheme"),
        ("data:image/png;base64,AAAA", b"text", None, "bad_url_scheme"),
        ("x.org/a.jpg", b"text", None, "bad_url_scheme"),
        ("http:///a.jpg", b"text", None, "bad_url"),
        ("http://x.org/a b.jpg", b"text", None, "bad_url"),
        ("http://x.org/" + "a" * 40, b"text", None, "url_too_long"),
        ("http://x.org/a.jpg", b"\xff\xfe bad", None, "undecodable_text"),
        ("http://x.org/a.jpg", b"x" * 21, None, "text_too_long"),
        ("http://x.org/a.jpg", b"", None, None),  # empty alt-text is the text filter's job
    ],
)
def test_check_row(url, text, parse_error, reason):
    norm, decoded, problem = ingest.check_row(url, text, parse_error, CFG)
    if reason is None:
        assert problem is None and norm.startswith("http") and decoded == text.decode()
    else:
        assert problem[0] == reason and norm is None


def test_ingest_batch_splits_and_gives_uids():
    raw = pa.Table.from_pylist(
        [
            {"url": "http://x.org/1", "text": b"one", "source": "p", "source_row": 0},
            {"url": None, "text": b"two", "source": "p", "source_row": 1},
            {"url": "http://X.org/1#f", "text": b"one", "source": "p", "source_row": 2},
        ],
        schema=schema.RAW_SCHEMA,
    )
    kept, removed = ingest.ingest_batch(raw, CFG)
    assert kept.num_rows == 2 and removed.num_rows == 1
    # same normalised URL and text -> same uid (ingest's duplicate step removes one)
    assert kept["uid"][0] == kept["uid"][1]
    assert kept["url"].to_pylist() == ["http://x.org/1", "http://x.org/1"]
    assert removed.to_pylist()[0]["reason"] == "missing_url"
    assert removed.to_pylist()[0]["source_row"] == 1


def test_pick_exact_duplicate_is_order_independent():
    rows = [
        {"uid": "u", "source": "b.parquet", "source_row": 0},
        {"uid": "u", "source": "a.parquet", "source_row": 7},
        {"uid": "u", "source": "a.parquet", "source_row": 3},
    ]
    for order in (rows, rows[::-1], rows[1:] + rows[:1]):
        kept, dups = ingest.pick_exact_duplicate(order)
        assert (kept["source"], kept["source_row"]) == ("a.parquet", 3)
        assert len(dups) == 2
