"""Reading crawl files (WARC with HTML responses, WAT with JSON metadata) with warcio.

warcio streams a file record by record, gzip member by member (Common Crawl writes one
member per record), so a file is never held in memory. ``read_records`` turns a file into
``curate.ops.extract.Record``s: HTML responses, WAT JSON records, and one ``skip`` record
where the file breaks (a truncated gzip member, a malformed WARC header, a payload shorter
than its Content-Length): what came before is extracted, and the break is counted.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

from curate.ops.extract import BROKEN_FILE, Record

HTML_TYPES = ("text/html", "application/xhtml+xml")
CRAWL_SUFFIXES = (".warc", ".warc.gz", ".wat", ".wat.gz", ".arc", ".arc.gz")


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


GZIP_MAGIC = b"\x1f\x8b\x08"
BROKEN_RECORD = "broken_record"


def gzip_members(stream, chunk_size: int = 1 << 20, step: int = 1 << 16) -> Iterator[bytes | Exception]:
    """The decompressed gzip members of `stream`, in order; an exception in place of a
    member that does not decompress (then the next member is found by its magic bytes, so
    the file continues; one exception per damaged stretch) or of one cut off by the end of
    the file. Bytes are fed `step` at a time, so each is copied O(1) times."""
    data, pos = b"", 0
    d, fed, parts, resyncing = None, [], [], False
    while True:
        if pos >= len(data):
            data, pos = stream.read(chunk_size), 0
            if not data:
                if d is not None and not resyncing:
                    yield EOFError(f"gzip member cut off at end of file ({sum(map(len, fed))} bytes read)")
                return
        if d is None:
            d, fed, parts = zlib.decompressobj(31), [], []
        piece = data[pos : pos + step]
        fed.append(piece)
        try:
            parts.append(d.decompress(piece))
        except zlib.error as e:
            if not resyncing:
                yield e
            resyncing = True
            member = b"".join(fed)
            at = member.find(GZIP_MAGIC, 1)
            if at > 0:  # restart at the next candidate member inside what was read
                data, pos = member[at:] + data[pos + len(piece) :], 0
            else:
                pos += len(piece)
            d = None
            continue
        if d.eof:
            yield b"".join(parts)
            pos += len(piece) - len(d.unused_data)
            d, resyncing = None, False
        else:
            pos += len(piece)


def _iterate(stream) -> Iterator[Record]:
    """Records of an uncompressed WARC stream; raises on damage."""
    from warcio.archiveiterator import ArchiveIterator

    for record in ArchiveIterator(stream, check_digests=False):
        out = _record(record)
        if out is not None:
            yield out


def records_of(stream, gzipped: bool) -> Iterator[Record]:
    """Records of one open binary stream; never raises for bad bytes.

    Gzipped (one member per record, as Common Crawl writes): a member that does not
    decompress or whose WARC header is malformed is skipped (``broken_record``) and the
    file continues; a member cut off by the end of the file is ``broken_file``.
    Uncompressed: the first damage ends the file (``broken_file``)."""
    if not gzipped:
        done = 0
        try:
            for out in _iterate(stream):
                done += 1
                yield out
        except Exception as e:  # warcio raises several types on damaged input
            yield Record("skip", reason=BROKEN_FILE, detail=f"{type(e).__name__} after {done} records: {str(e)[:160]}")
        return
    from warcio.recordloader import ArcWarcRecordLoader

    loader = ArcWarcRecordLoader()
    for i, member in enumerate(gzip_members(stream)):
        if isinstance(member, EOFError):
            yield Record("skip", reason=BROKEN_FILE, detail=f"gzip member {i}: {member}")
            continue
        if isinstance(member, Exception):
            yield Record("skip", reason=BROKEN_RECORD, detail=f"gzip member {i}: {type(member).__name__}: {member}")
            continue
        try:
            single = _single_record(member, loader)
        except Exception:  # not one plain record: warcio's iterator decides, as it always did
            single = _NOT_SINGLE
        if single is not _NOT_SINGLE:
            if single is not None:
                yield single
            continue
        try:
            yield from list(_iterate(io.BytesIO(member)))
        except Exception as e:
            yield Record("skip", reason=BROKEN_RECORD, detail=f"gzip member {i}: {type(e).__name__}: {str(e)[:160]}")


_NOT_SINGLE = object()


def _single_record(member: bytes, loader) -> Record | None:
    """The member's record, parsed by one reused warcio loader, when the member is exactly
    one record (as Common Crawl writes); ``_NOT_SINGLE`` (or an exception) otherwise, and
    the caller reads the member with ``ArchiveIterator``, which gives the same record at
    about twice the cost of setting it up per member (benchmarks/bench_extract.py, WAT)."""
    if not member.startswith((b"WARC/", b"warc/")):
        return _NOT_SINGLE  # blank lines first, ARC records: the iterator's business
    stream = io.BytesIO(member)
    record = loader.parse_record_stream(stream, known_format="warc")
    out = _record(record)
    while record.raw_stream.read(1 << 16):  # what _record did not read of the payload
        pass
    if stream.read().strip():  # a second record in the same member
        return _NOT_SINGLE
    return out


def _record(record) -> Record | None:
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI")
    date = headers.get_header("WARC-Date")
    if record.rec_type == "response" and record.http_headers is not None:
        content_type = record.http_headers.get_header("Content-Type")
        if _mime(content_type) not in HTML_TYPES:
            return None
        body = record.content_stream().read()
        declared = record.http_headers.get_header("Content-Length")
        if declared and declared.isdigit() and len(body) < int(declared):
            raise EOFError(f"payload of {url} cut off: {len(body)} of {declared} bytes")
        return Record(
            "html", url, date, body, content_type, record.http_headers.get_header("X-Robots-Tag")
        )
    if record.rec_type == "metadata" and _mime(headers.get_header("Content-Type")) == "application/json":
        return Record("wat", url, date, record.content_stream().read())
    return None


def read_records(path: str) -> Iterator[Record]:
    """Records of the crawl file at `path` (local or any Beam filesystem)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        f = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as e:
        yield Record("skip", reason=BROKEN_FILE, detail=f"cannot open: {str(e)[:200]}")
        return
    with f:
        yield from records_of(f, path.endswith(".gz"))


def crawl_files(pattern: str) -> list[str]:
    """The crawl files a path, folder or glob names (sorted); ValueError when none."""
    from curate.io.pool import match_files

    paths = [p for p in match_files(pattern) if p.endswith(CRAWL_SUFFIXES)]
    if not paths:
        raise ValueError(f"no WARC/WAT files ({', '.join(CRAWL_SUFFIXES)}) match {pattern}")
    return sorted(paths)
