"""The sample pool written as a WARC: extract gives back its pairs and each edge case's reason."""

from __future__ import annotations

import pyarrow as pa

from curate.config import ExtractConfig
from curate.io.crawl import read_records
from curate.ops.extract import extract_file
from curate.sample.crawl import EDGE_PAGES, write_pool_warc


def test_sample_pool_warc_round_trips_through_extract(tmp_path):
    urls = [f"http://127.0.0.1:8000/img/{i}.jpg" for i in range(20)] + ["http://h/x.jpg", None, "http://h/y.jpg"]
    texts = [f"a photo of thing {i} & \"more\" <b>" for i in range(20)] + ["two  spaces", "no url", ""]
    pool = pa.table({"url": urls, "text": texts})
    path = tmp_path / "pool.warc.gz"
    counts = write_pool_warc(pool, path)
    assert counts == {"pages": 3 + len(EDGE_PAGES), "rows_left_out": 3}
    first = path.read_bytes()
    write_pool_warc(pool, path)
    assert path.read_bytes() == first  # deterministic
    kept, _, stats = extract_file(read_records(str(path)), str(path), ExtractConfig())
    pairs = set(zip(kept["url"].to_pylist(), kept["text"].to_pylist(), strict=True))
    want = {(u, t) for u, t in zip(urls[:20], texts[:20], strict=True)}
    edge_kept = {p for p in pairs if "crawl.sample.invalid" in p[0]}
    assert pairs - edge_kept == want
    assert len(edge_kept) == sum(k for *_, k in EDGE_PAGES)
    expected = {}
    for *_, reasons, _ in EDGE_PAGES:
        for r, n in reasons.items():
            expected[r] = expected.get(r, 0) + n
    assert stats["removed_by_reason"] == expected
