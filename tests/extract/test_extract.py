"""curate extract: WARC/WAT files written with warcio from hand-written pages give exactly
the expected pairs; damaged files are read up to (and, gzipped, past) the damage."""

from __future__ import annotations

import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline

from curate.cli import main
from curate.config import ExtractConfig
from curate.io.crawl import read_records
from curate.io.shards import read_table
from curate.ops.extract import extract_file
from curate.runner import pipeline_options
from curate.transforms.extract import ExtractPairs
from tests.extract.crawlfiles import (
    EXPECTED,
    EXPECTED_REMOVED,
    PAGES,
    wat_json,
    write_warc,
    write_wat,
)

WAT_DOCS = [
    wat_json(
        "http://example.com/a/page.html",
        [
            {"path": "IMG@/src", "url": "/img/cat.jpg", "alt": "A cat"},
            {"path": "IMG@/src", "url": "dog.png", "alt": "Dog & ball", "title": "Rex"},
            {"path": "A@/href", "url": "/elsewhere", "text": "a link"},
            {"path": "IMG@/src", "url": "data:image/png;base64,iVBOR", "alt": "inline"},
            {"path": "IMG@/src", "url": "nolabel.jpg"},
        ],
    ),
    wat_json("http://example.com/b/", [{"path": "IMG@/src", "url": "bird.jpg", "alt": "a bird"}],
             base="https://static.example.net/assets/"),
    wat_json("http://example.com/noai", [{"path": "IMG@/src", "url": "x.jpg", "alt": "x"}],
             metas=[{"name": "robots", "content": "noimageai"}]),
    {"Envelope": {"WARC-Header-Metadata": {"WARC-Type": "request", "WARC-Target-URI": "http://example.com/"}}},
]
WAT_EXPECTED = {
    ("http://example.com/img/cat.jpg", "A cat"),
    ("http://example.com/a/dog.png", "Dog & ball"),
    ("https://static.example.net/assets/bird.jpg", "a bird"),
}


def _pairs(table):
    return set(zip(table["url"].to_pylist(), table["text"].to_pylist(), strict=True))


@pytest.mark.parametrize("parser", ["selectolax", "lxml"])
@pytest.mark.parametrize("gz", [True, False])
def test_warc_pages_give_exactly_the_expected_pairs(tmp_path, parser, gz):
    path = write_warc(tmp_path / ("a.warc.gz" if gz else "a.warc"), PAGES, gzip=gz)
    kept, removed, stats = extract_file(read_records(str(path)), str(path), ExtractConfig(parser=parser))
    assert _pairs(kept) == EXPECTED  # the shared logo is kept twice here: dedup is across files
    assert kept.num_rows == len(EXPECTED) + 1
    want = {k: v for k, v in EXPECTED_REMOVED.items() if k != "duplicate_pair"}
    assert stats["removed_by_reason"] == want and stats["pages"] == 3
    assert stats["in"] == kept.num_rows + removed.num_rows
    rows = {(r["url"], r["text"]): r for r in kept.to_pylist()}
    assert rows[("http://example.com/a/dog.png", "Dog & ball")]["title"] == "Rex"
    assert rows[("http://example.com/a/dog.png", "Dog & ball")]["crawl_time"] == "2024-05-01T12:00:00Z"
    assert rows[("http://example.com/a/dog.png", "Dog & ball")]["page_url"] == "http://example.com/a/page.html"
    assert set(removed["stage"].to_pylist()) == {"extract"}


def test_text_attributes_are_configurable(tmp_path):
    path = write_warc(tmp_path / "a.warc.gz", PAGES)
    kept, _, stats = extract_file(read_records(str(path)), str(path), ExtractConfig(text_attributes=("title", "alt")))
    assert ("http://example.com/a/dog.png", "Rex") in _pairs(kept)
    off, _, _ = extract_file(read_records(str(path)), str(path), ExtractConfig(skip_tracking_pixels=False, respect_noai=False))
    assert {("http://example.com/a/pixel.gif", "tracker"), ("http://example.com/secret.jpg", "do not use")} <= _pairs(off)


def test_x_robots_tag_noai_removes_the_page(tmp_path):
    path = write_warc(tmp_path / "a.warc.gz", [("http://e.com/", '<img src="a.jpg" alt="a">', [("X-Robots-Tag", "noimageai")])])
    kept, _, stats = extract_file(read_records(str(path)), str(path), ExtractConfig())
    assert kept.num_rows == 0 and stats["removed_by_reason"] == {"noai": 1}


def test_wat_records_give_the_img_links(tmp_path):
    path = write_wat(tmp_path / "a.wat.gz", [*WAT_DOCS, b"{not json", b'["no envelope"]'])
    kept, removed, stats = extract_file(read_records(str(path)), str(path), ExtractConfig())
    assert _pairs(kept) == WAT_EXPECTED
    assert kept.to_pylist()[1]["title"] == "Rex"
    assert stats["removed_by_reason"] == {"bad_wat_json": 2, "data_url": 1, "missing_text": 1, "noai": 1}
    assert stats["pages"] == 3 and stats["in"] == kept.num_rows + removed.num_rows


def test_non_utf8_page_is_skipped_and_the_file_continues(tmp_path):
    pages = [("http://e.com/1", b'<img src="x.jpg" alt="caf\xe9">'), ("http://e.com/2", '<img src="y.jpg" alt="ok">')]
    path = write_warc(tmp_path / "a.warc.gz", pages)
    kept, removed, stats = extract_file(read_records(str(path)), str(path), ExtractConfig())
    assert _pairs(kept) == {("http://e.com/y.jpg", "ok")}
    assert stats["removed_by_reason"] == {"undecodable_html": 1}
    assert removed.to_pylist()[0]["url"] == "http://e.com/1"


def _members(path):
    """Byte ranges of the gzip members of a warcio-written file (one per record)."""
    data = path.read_bytes()
    starts = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08", i)]
    out = []
    for s in starts:  # keep only real member starts: those that decompress
        try:
            gzip.decompress(data[s:])
            out.append(s)
        except Exception:
            continue
    return data, out


def test_truncated_file_is_read_up_to_the_cut(tmp_path):
    pages = [(f"http://e.com/{i}", f'<img src="{i}.jpg" alt="image {i}">') for i in range(6)]
    path = write_warc(tmp_path / "a.warc.gz", pages)
    data, starts = _members(path)
    assert len(starts) == 6
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: starts[4] + 40])  # records 0-3 whole, record 4 cut off
    kept, removed, stats = extract_file(read_records(str(cut)), str(cut), ExtractConfig())
    assert _pairs(kept) == {(f"http://e.com/{i}.jpg", f"image {i}") for i in range(4)}
    assert stats["removed_by_reason"] == {"broken_file": 1}
    assert "cut off" in removed["detail"][0].as_py()


def test_corrupted_record_is_skipped_and_the_file_continues(tmp_path):
    pages = [(f"http://e.com/{i}", f'<img src="{i}.jpg" alt="image {i}">') for i in range(6)]
    path = write_warc(tmp_path / "a.warc.gz", pages)
    data, starts = _members(path)
    bad = bytearray(data)
    mid = (starts[2] + starts[3]) // 2
    bad[mid : mid + 20] = b"\x00" * 20  # record 2's deflate data
    # record 4: a malformed WARC header inside a valid gzip member
    header = gzip.compress(b"WARX/9.9\r\nWARC-Type: response\r\n\r\n")
    damaged = bytes(bad[: starts[4]]) + header + bytes(bad[starts[5] :])
    corrupt = tmp_path / "corrupt.warc.gz"
    corrupt.write_bytes(damaged)
    kept, removed, stats = extract_file(read_records(str(corrupt)), str(corrupt), ExtractConfig())
    assert _pairs(kept) == {(f"http://e.com/{i}.jpg", f"image {i}") for i in (0, 1, 3, 5)}
    assert stats["removed_by_reason"] == {"broken_record": 2}


def test_uncompressed_file_with_a_malformed_header_stops_there(tmp_path):
    pages = [(f"http://e.com/{i}", f'<img src="{i}.jpg" alt="image {i}">') for i in range(3)]
    path = write_warc(tmp_path / "a.warc", pages, gzip=False)
    data = path.read_bytes()
    second = data.index(b"WARC/1.0", 10)
    path.write_bytes(data[:second] + b"WARX/9.9" + data[second + 8 :])
    kept, _, stats = extract_file(read_records(str(path)), str(path), ExtractConfig())
    assert _pairs(kept) == {("http://e.com/0.jpg", "image 0")}
    assert stats["removed_by_reason"] == {"broken_file": 1}


def test_pipeline_dedups_across_files_by_ingests_rule(tmp_path):
    a = write_warc(tmp_path / "a.warc.gz", PAGES)
    b = write_wat(tmp_path / "b.wat.gz", WAT_DOCS)
    with test_pipeline.TestPipeline(options=pipeline_options(["--runner=DirectRunner"])) as p:
        out = p | beam.Create([str(a), str(b)]) | ExtractPairs(ExtractConfig(dedup_buckets=4))
        _ = out["kept"] | beam.Map(lambda t: t.to_pylist()) | beam.FlatMap(lambda r: r) | beam.combiners.ToList() | beam.Map(_check_kept, str(a))


def _check_kept(rows, first_file):
    pairs = {(r["url"], r["text"]) for r in rows}
    assert pairs == EXPECTED | WAT_EXPECTED
    assert len(rows) == len(pairs)
    cat = next(r for r in rows if r["text"] == "A cat")
    assert cat["source"] == first_file  # the first in (source, source_row) order


def test_cli_extract_then_ingest(tmp_path, beam_args, capsys):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_warc(crawl / "a.warc.gz", PAGES)
    write_wat(crawl / "b.wat.gz", [*WAT_DOCS, b"{broken"])
    out = tmp_path / "extracted"
    assert main(["extract", "--input", str(crawl), "--output", str(out), *beam_args]) == 0
    stats = json.loads((out / "stats.json").read_text())
    s = stats["stages"][0]
    assert s["stage"] == "extract" and s["in"] == s["kept"] + s["removed"]
    assert s["kept"] == len(EXPECTED | WAT_EXPECTED)
    # within the WARC: one duplicate; the WAT repeats cat, dog, bird of the WARC
    assert s["removed_by_reason"]["duplicate_pair"] == 1 + 3
    assert s["removed_by_reason"]["bad_wat_json"] == 1
    assert set(stats["files"]) == {str(crawl / "a.warc.gz"), str(crawl / "b.wat.gz")}
    assert stats["files"][str(crawl / "a.warc.gz")]["extracted"] == len(EXPECTED) + 1
    pool = read_table(str(out / "pool"))
    assert _pairs(pool) == EXPECTED | WAT_EXPECTED
    removed = read_table(str(out / "removed"))
    assert removed.num_rows == s["removed"]
    ingested = tmp_path / "ingested"
    assert main(["ingest", "--input", str(out / "pool"), "--output", str(ingested), *beam_args]) == 0
    ing = json.loads((ingested / "stats.json").read_text())["stages"][0]
    assert ing["in"] == s["kept"] and ing["kept"] == s["kept"]
    kept = read_table(str(ingested / "kept"))
    assert sorted(kept["uid"].to_pylist()) == sorted(pool["uid"].to_pylist())  # same uid rule
    assert "extract" in capsys.readouterr().out


@pytest.mark.parametrize(
    "values, field",
    [({"parser": "html5lib"}, "extract.parser"), ({"text_attributes": ()}, "extract.text_attributes"),
     ({"max_url_chars": 5}, "extract.max_url_chars"), ({"dedup_buckets": 0}, "extract.dedup_buckets")],
)
def test_config_errors_name_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        ExtractConfig(**values)


def test_output_does_not_depend_on_bucketing_or_workers(tmp_path):
    import hashlib

    import apache_beam as beam

    from curate.runner import in_process_args
    from curate.transforms.extract import ExtractToPool

    crawl = [str(write_warc(tmp_path / "a.warc.gz", PAGES)), str(write_wat(tmp_path / "b.wat.gz", WAT_DOCS))]
    digests = []
    for buckets, workers in ((1, 1), (7, 2)):
        out = tmp_path / f"out-{buckets}"
        with beam.Pipeline(options=pipeline_options(in_process_args(workers))) as p:
            _ = p | ExtractToPool(crawl, str(out), ExtractConfig(dedup_buckets=buckets))
        digests.append({f.relative_to(out).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
                        for f in sorted(out.rglob("*.parquet"))})
    assert digests[0] == digests[1] and len(digests[0]) == 2


def test_fast_url_resolution_equals_urljoin_then_normalise():
    import random
    from urllib.parse import urljoin

    from curate import schema
    from curate.ops.extract import fast_base, resolve

    rng = random.Random(0)
    bases = ["http://Example.COM", "http://example.com/", "https://h.org:443/a/b/c.html?q=1#f",
             "http://h.org:8080/a/", "http://u:p@h.org/x/y", "http://h.org/a/../b/", "http://[::1]/a/b",
             "HTTP://h.org/a%20b/c", "http://h.org/a/./b", "http://h.org/a//b/"]
    pieces = ["a", "B", "img", ".", "..", "", "%20", "x.jpg", "-", "~", "+", ",", "?", "q=1", "&", "#", ":", "//", "/"]
    checked = fast_hits = 0
    for _ in range(20000):
        base = rng.choice(bases)
        src = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        if not src.strip():
            continue
        joined = urljoin(base, src)
        try:
            want = schema.normalise_url(joined)
        except ValueError:
            continue
        url, norm = resolve(base, fast_base(base), src)
        got = norm if norm is not None else schema.normalise_url(url)
        assert got == want, (base, src)
        checked += 1
        fast_hits += norm is not None
    assert checked > 15000 and fast_hits > 2000


def test_arrow_dedup_equals_the_row_reference():
    import random

    import pyarrow as pa

    from curate.ops.extract import POOL_SCHEMA, dedup_rows, dedup_table

    rng = random.Random(0)
    rows = [{"uid": f"{rng.randrange(50):032x}", "url": f"http://h/{i}", "text": "t", "title": None,
             "page_url": None, "crawl_time": None, "source": rng.choice(["b.wat", "a.warc", "c"]),
             "source_row": rng.randrange(1000)} for i in range(400)]
    kept, dups, details = dedup_table(pa.Table.from_pylist(rows, schema=POOL_SCHEMA))
    ref_kept, ref_dups = dedup_rows(rows)
    assert kept.to_pylist() == ref_kept
    key = lambda r: (r["uid"], r["source"], r["source_row"], r["url"])  # noqa: E731
    got = sorted(zip(dups.to_pylist(), details, strict=True), key=lambda x: key(x[0]))
    assert got == sorted(ref_dups, key=lambda x: key(x[0]))
    assert kept.num_rows == 50 and dups.num_rows == 350


def _fast_base_reference(page_base):
    """fast_base as first written: normalise the whole URL, split it again."""
    import re
    from urllib.parse import urlsplit

    from curate import schema

    if not page_base[:8].lower().startswith(("http://", "https://")) or re.search(r"\s", page_base):
        return None
    try:
        parts = urlsplit(schema.normalise_url(page_base))
    except ValueError:
        return None
    if re.search(r"(?:^|/)\.\.?(?:/|$)", parts.path) or "//" in parts.path:
        return None
    return f"{parts.scheme}://{parts.netloc}", parts.path[: parts.path.rfind("/") + 1]


def test_fast_base_equals_normalising_the_whole_url():
    import random

    from curate.ops.extract import fast_base

    rng = random.Random(1)
    origins = ["http://Example.COM", "https://h.org:443", "http://h.org:8080", "http://u:p@H.org", "http://[::1]",
               "HTTP://h.org", "http://h.org:80", "http://h.org:bad", "http://[::1", "https://", "http://h.org:",
               "http://@h.org", "https://ü.example"]
    pieces = ["/", "a", "B", ".", "..", "//", "?", "q=1", "#", "f", "%20", "x.html", ":", "@", ";"]
    checked = fast = 0
    for _ in range(20000):
        base = rng.choice(origins) + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        got, want = fast_base(base), _fast_base_reference(base)
        assert got == want, base
        checked += 1
        fast += got is not None
    assert checked == 20000 and 5000 < fast < 19000


def test_uid_prefix_ints_and_shard_pieces_follow_the_shard_writers_rule():
    import random

    import pyarrow as pa

    from curate.io.shards import shard_ids, split_into_shards
    from curate.ops.extract import (
        POOL_SCHEMA,
        count_distinct,
        pack,
        shard_pieces,
        uid_buckets,
        uid_prefix_ints,
        unpack,
    )

    rng = random.Random(2)
    uids = [f"{rng.getrandbits(128):032x}" for _ in range(3000)] + ["ABCDEF0123456789abcdef0123456789", "12ab"]
    uids += uids[:500]  # repeats
    table = pa.Table.from_pylist([{"uid": u, "url": f"http://h/{i}", "text": "t", "source": "s", "source_row": i}
                                  for i, u in enumerate(uids)], schema=POOL_SCHEMA)
    for digits in (8, 15):
        assert uid_prefix_ints(table["uid"], digits).tolist() == [int(u[:digits], 16) for u in uids]
    assert uid_prefix_ints(table["uid"][:3000], 15).tolist() == [int(u[:15], 16) for u in uids[:3000]]  # vectorised path
    for n in (1, 7, 64):
        by_uid = lambda r: (r["uid"], r["source_row"])  # noqa: E731  (uid order, then row order)
        want = {k: sorted(t.to_pylist(), key=by_uid) for k, t in split_into_shards(table, n)}
        got = {k: t.to_pylist() for k, t in shard_pieces(table, n)}
        assert got == want and set(got) == set(shard_ids(table, n).tolist())
        pieces = uid_buckets(table, n)
        assert sum(len(p) for _, p in pieces) == len(uids)
        assert count_distinct(p for _, p in pieces) == len(set(uids))
        for k, p in pieces:
            assert {int(u[:8], 16) % n for u in p} == {k}
    assert unpack(pack(table)).equals(table)


def test_dedup_at_the_pool_writer_equals_a_slow_reference(tmp_path):
    """Duplicates across and within files, pool split in several shards: the pool's files
    hold exactly the reference's rows (ingest's rule: the first in (source, source_row)
    order, over all files at once), and the removed records say which row each repeats."""
    import random

    import apache_beam as beam

    from curate.io.shards import shard_ids
    from curate.ops.extract import dedup_rows
    from curate.runner import in_process_args
    from curate.transforms.extract import ExtractToPool

    rng = random.Random(3)
    paths = []
    for f in range(4):
        pages = []
        for i in range(30):
            imgs = "".join(f'<img src="/i{rng.randrange(40)}.jpg" alt="{rng.choice(["a", "b", "c"])}">' for _ in range(6))
            pages.append((f"http://h{rng.randrange(3)}.example/p/{f}-{i}.html", f"<html><body>{imgs}</body></html>"))
        paths.append(str(write_warc(tmp_path / f"c{f}.warc.gz", pages)))
    rows = []
    for p in paths:
        kept, _, _ = extract_file(read_records(p), p, ExtractConfig())
        rows += kept.to_pylist()
    ref_kept, ref_dups = dedup_rows(rows)
    assert len(ref_dups) > 100 and len({r["source"] for r, _ in ref_dups}) == 4
    out = tmp_path / "out"
    with beam.Pipeline(options=pipeline_options(in_process_args(2))) as p:
        _ = p | ExtractToPool(paths, str(out), ExtractConfig(dedup_buckets=5), rows_per_shard=50)
    n_shards = -(-len(ref_kept) // 50)
    assert n_shards > 3
    ids = shard_ids(pa_table(ref_kept), n_shards).tolist()
    for shard in range(n_shards):
        f = out / "pool" / f"part-{shard:05d}-of-{n_shards:05d}.parquet"
        want = sorted((r for r, s in zip(ref_kept, ids, strict=True) if s == shard), key=lambda r: r["uid"])
        assert read_table(str(f)).to_pylist() == want
    removed = read_table(str(out / "removed"))
    dups = [r for r in removed.to_pylist() if r["reason"] == "duplicate_pair"]
    assert sorted((r["uid"], r["source"], r["source_row"], r["detail"]) for r in dups) == sorted(
        (r["uid"], r["source"], r["source_row"], d) for r, d in ref_dups
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == len(ref_kept) and stats["stages"][0]["removed_by_reason"]["duplicate_pair"] == len(ref_dups)


def pa_table(rows):
    import pyarrow as pa

    from curate.ops.extract import POOL_SCHEMA

    return pa.Table.from_pylist(rows, schema=POOL_SCHEMA)


def test_a_run_without_pairs_writes_one_empty_pool_shard(tmp_path):
    import apache_beam as beam
    import pyarrow.parquet as pq

    from curate.ops.extract import POOL_SCHEMA
    from curate.runner import in_process_args
    from curate.transforms.extract import ExtractToPool

    crawl = str(write_wat(tmp_path / "b.wat.gz", [b"{broken", WAT_DOCS[2]]))  # bad JSON, a noai page
    out = tmp_path / "out"
    with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
        _ = p | ExtractToPool([crawl], str(out))
    assert sorted(f.name for f in (out / "pool").iterdir()) == ["part-00000-of-00001.parquet"]
    pool = pq.read_table(out / "pool" / "part-00000-of-00001.parquet")
    assert pool.num_rows == 0 and pool.schema.equals(POOL_SCHEMA)
    s = json.loads((out / "stats.json").read_text())["stages"][0]
    assert (s["in"], s["kept"], s["removed_by_reason"]) == (2, 0, {"bad_wat_json": 1, "noai": 1})


def test_a_run_without_removed_records_writes_one_empty_removed_shard(tmp_path):
    import apache_beam as beam
    import pyarrow.parquet as pq

    from curate import schema
    from curate.runner import in_process_args
    from curate.transforms.extract import ExtractToPool

    crawl = str(write_wat(tmp_path / "b.wat.gz", [WAT_DOCS[1]]))  # one page, one good image
    out = tmp_path / "out"
    with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
        _ = p | ExtractToPool([crawl], str(out))
    assert sorted(f.name for f in (out / "removed").iterdir()) == ["part-00000-of-00001.parquet"]
    removed = pq.read_table(out / "removed" / "part-00000-of-00001.parquet")
    assert removed.num_rows == 0 and removed.schema.equals(schema.REMOVED_SCHEMA)
    assert _pairs(read_table(str(out / "pool"))) == {("https://static.example.net/assets/bird.jpg", "a bird")}


def test_extraction_makes_no_reference_cycles(tmp_path):
    """ExtractFileFn pauses the cyclic GC while it extracts a file: safe only while
    extraction leaves nothing that reference counting cannot free (bad records included)."""
    import gc

    warc = str(write_warc(tmp_path / "a.warc.gz", PAGES))
    wat = str(write_wat(tmp_path / "b.wat.gz", [*WAT_DOCS, b"{broken"]))
    for path in (warc, wat):
        extract_file(read_records(path), path, ExtractConfig())  # first call: imports, caches
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for path in (warc, wat, warc):
            kept, _, _ = extract_file(read_records(path), path, ExtractConfig())
            assert kept.num_rows
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()


def _records_per_member_reference(path):
    """The reader as it was: warcio's ArchiveIterator set up afresh for every gzip member."""
    import io

    from curate.io import crawl

    with open(path, "rb") as f:
        for i, member in enumerate(crawl.gzip_members(f)):
            if isinstance(member, EOFError):
                yield ("skip", crawl.BROKEN_FILE, i)
            elif isinstance(member, Exception):
                yield ("skip", crawl.BROKEN_RECORD, i)
            else:
                try:
                    yield from list(crawl._iterate(io.BytesIO(member)))
                except Exception:
                    yield ("skip", crawl.BROKEN_RECORD, i)


def _records_now(path):
    for r in read_records(str(path)):
        yield ("skip", r.reason, int(r.detail.split()[2].rstrip(":"))) if r.kind == "skip" else r


def test_reused_record_loader_reads_what_a_fresh_iterator_per_member_reads(tmp_path):
    """The reader parses a one-record member with one reused warcio loader and leaves every
    other member (two records in one member, a bad header, blank lines first, a payload cut
    short) to ArchiveIterator: the records equal the per-member iterator's, member by member."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def plain(url, body, rec_type="response", declared=None):
        buf = io.BytesIO()
        w = WARCWriter(buf, gzip=False)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                           ("Content-Length", str(declared or len(body)))], protocol="HTTP/1.1")
        kw = {"http_headers": http} if rec_type == "response" else {}
        w.write_record(w.create_warc_record(url, rec_type, payload=io.BytesIO(body), **kw))
        return buf.getvalue()

    pages = [(f"http://e.com/{i}", f'<img src="{i}.jpg" alt="image {i}">') for i in range(5)]
    warc = write_warc(tmp_path / "a.warc.gz", pages).read_bytes()
    wat = write_wat(tmp_path / "a.wat.gz", WAT_DOCS + [b"{not json"]).read_bytes()
    two = plain("http://e.com/two-a", b'<img src="a.jpg" alt="a">') + plain("http://e.com/two-b", b'<img src="b.jpg" alt="b">')
    members = [
        gzip.compress(two),  # two records in one member
        gzip.compress(b"\r\n\r\n" + plain("http://e.com/blank", b'<img src="c.jpg" alt="c">')),
        gzip.compress(b"WARX/9.9\r\nWARC-Type: response\r\n\r\n"),  # malformed header
        gzip.compress(plain("http://e.com/short", b"<img src=d.jpg alt=d>", declared=500)),  # payload cut short
        gzip.compress(plain("http://e.com/req", b"GET / HTTP/1.1\r\n\r\n", rec_type="request")),
        gzip.compress(b""),
    ]
    mixed = tmp_path / "mixed.warc.gz"
    mixed.write_bytes(warc + b"".join(members) + wat + warc[: len(warc) // 2])
    got, want = list(_records_now(mixed)), list(_records_per_member_reference(mixed))
    assert got == want
    kinds = [r[0] if isinstance(r, tuple) else r.kind for r in got]
    # 5 pages, the two-record member's 2 (the blank-first member gives none, either way),
    # the WAT file's 5 metadata records, half the WARC again up to its cut
    assert kinds == ["html"] * 7 + ["skip"] * 2 + ["wat"] * 5 + ["html"] * 2 + ["skip"]
    assert [r[1:] for r in got if isinstance(r, tuple)] == [("broken_record", 7), ("broken_record", 8), ("broken_file", 18)]
    # and the one-record members did take the reused loader
    from warcio.recordloader import ArcWarcRecordLoader

    from curate.io import crawl

    one = gzip.decompress(warc[: _members(tmp_path / "a.warc.gz")[1][1]])
    assert crawl._single_record(one, ArcWarcRecordLoader()) == got[0]
    assert crawl._single_record(two, ArcWarcRecordLoader()) is crawl._NOT_SINGLE
