"""Extraction rules as pure functions: crawl records (HTML pages, WAT metadata) → (image URL,
alt-text) rows of a raw pool, or removed records with a reason.

A crawl record reaches these functions already read (``curate.io.crawl`` reads WARC/WAT
files): an HTML page as bytes with its HTTP headers, a WAT record as its JSON bytes, or a
record the reader could not read. Every image found on a page, and every record skipped,
is one row: kept, or removed with stage ``extract`` and one of these reasons:

- ``broken_file``: the file breaks here (a truncated gzip member, a malformed WARC header);
  the records before the break are extracted, the rest of the file cannot be read
- ``undecodable_html``: the page's bytes are not valid in its declared charset (UTF-8 when
  none is declared)
- ``bad_wat_json``: a WAT record whose JSON does not parse or lacks the envelope
- ``noai``: the page says ``noai`` or ``noimageai`` in a robots meta tag or an
  ``X-Robots-Tag`` header: none of its images is used
- ``missing_url``: an ``<img>`` without src, data-src or srcset
- ``data_url``: the image is inline (``data:``)
- ``bad_url_scheme``: the resolved URL is not http(s) (``javascript:``, ``ftp:``...)
- ``bad_url``: no host, a bad port
- ``url_too_long``: over ``max_url_chars``
- ``tracking_pixel``: ``width`` and ``height`` attributes both at most 1
- ``missing_text``: none of ``text_attributes`` is present and non-empty
- ``text_too_long``: over ``max_text_chars``
- ``duplicate_pair``: the same (normalised URL, text) as a kept row of any file (ingest's
  rule: ``schema.make_uid``; the first in (source, source_row) order is kept)

Which URL an ``<img>`` gives: a lazy-loading ``data-src`` (or ``data-lazy-src``,
``data-original``) when ``src`` is missing or an inline placeholder, else ``src``, else the
first candidate of ``srcset`` / ``data-srcset``. It is resolved against the page URL and the
page's first ``<base href>``. The text is the first of ``text_attributes`` that is present
and not blank (MetaCLIP reads ``alt``: the default), with white space collapsed; entities
are decoded by the HTML parser.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import numpy as np
import pyarrow as pa

from curate import schema
from curate.config import ExtractConfig

STAGE = "extract"
BROKEN_FILE = "broken_file"
LAZY_SRC = ("data-src", "data-lazy-src", "data-original")
SRCSET = ("srcset", "data-srcset")
NOAI = ("noai", "noimageai")
WAT_IMG_PATH = "IMG@/src"
_SPACE = re.compile(r"\s")
# A relative src that urljoin + normalise_url would only append to the base (no scheme,
# no "//" (a host, or empty segments urljoin drops), no dot segments, no empty query): resolved by concatenation, which is
# ~3x cheaper; tests/extract check it equals the slow path on random URLs.
_FAST_SRC = re.compile(r"[A-Za-z0-9_\-.~%/+,]+(?:\?[A-Za-z0-9_\-.~%/+,=&;]+)?")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_NETLOC_END = re.compile(r"[/?#]")
_PATH_END = re.compile(r"[?#]")
# WAT link keys for the HTML attributes a user may ask for.
WAT_TEXT_KEYS = {"alt": "alt", "title": "title"}

# Columns of an extracted row, in order (the pool readers take url/text/uid; the rest is
# provenance for whoever reads the pool itself).
ROW_COLUMNS = ("uid", "url", "text", "title", "page_url", "crawl_time", "source", "source_row")
REMOVED_COLUMNS = ("url", "text", "source", "source_row")  # what a removed record keeps
TITLE_ATTRIBUTES = ("title", "data-image-title")


@dataclass
class Page:
    """What extraction needs of one page, whichever file it came from."""

    url: str
    crawl_time: str | None
    base_href: str | None = None
    robots: list[str] = field(default_factory=list)  # meta robots contents + X-Robots-Tag
    images: list[dict] = field(default_factory=list)  # attribute name (lower case) -> value


@dataclass
class Record:
    """One record as read from a crawl file. kind: "html" (body: the HTTP payload), "wat"
    (body: the JSON), or "skip" (reason, detail: why the reader could not read it)."""

    kind: str
    url: str | None = None
    crawl_time: str | None = None
    body: bytes = b""
    content_type: str | None = None
    x_robots: str | None = None
    reason: str | None = None
    detail: str | None = None


# --- HTML ------------------------------------------------------------------------------------


def charset_of(content_type: str | None) -> str:
    """The charset a Content-Type header declares, if Python knows it; else utf-8."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'")
            try:
                return codecs.lookup(name).name
            except LookupError:
                return "utf-8"
    return "utf-8"


def _parse_selectolax(html: str):
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    # tags(): lexbor's by-name element collections, measured faster than css() selectors
    base = next((n.attributes.get("href") for n in tree.tags("base") if n.attributes.get("href") is not None), None)
    robots = [
        m.attributes.get("content") or ""
        for m in tree.tags("meta")
        if (m.attributes.get("name") or "").strip().lower() == "robots"
    ]
    images = [n.attributes for n in tree.tags("img")]
    return base, robots, images


def _parse_lxml(html: str):
    from lxml import etree

    root = etree.fromstring(html, etree.HTMLParser()) if html.strip() else None
    if root is None:
        return None, [], []
    base, robots, images = None, [], []
    for el in root.iter("img", "base", "meta"):
        attrs = {k.lower(): v for k, v in el.attrib.items()}
        if el.tag == "img":
            images.append(attrs)
        elif el.tag == "base":
            if base is None and "href" in attrs:
                base = attrs["href"]
        elif (attrs.get("name") or "").strip().lower() == "robots":
            robots.append(attrs.get("content") or "")
    return base, robots, images


PARSERS = {"selectolax": _parse_selectolax, "lxml": _parse_lxml}


def page_from_html(record: Record, parser: str) -> Page:
    """An HTML record → Page. Raises UnicodeDecodeError for bytes invalid in the charset."""
    html = record.body.decode(charset_of(record.content_type))
    base, robots, images = PARSERS[parser](html)
    if record.x_robots:
        robots.append(record.x_robots)
    return Page(record.url or "", record.crawl_time, base, robots, images)


# --- WAT -------------------------------------------------------------------------------------


def page_from_wat(record: Record) -> Page | None:
    """A WAT record → Page, or None for a record that is not an HTML response (request
    and metadata envelopes). Raises ValueError for JSON that does not parse or has no
    envelope."""
    doc = json.loads(record.body)
    env = doc.get("Envelope") if isinstance(doc, dict) else None
    if not isinstance(env, dict):
        raise ValueError("no Envelope")
    header = env.get("WARC-Header-Metadata") or {}
    if header.get("WARC-Type") != "response":
        return None
    html = ((env.get("Payload-Metadata") or {}).get("HTTP-Response-Metadata") or {}).get(
        "HTML-Metadata"
    )
    if not isinstance(html, dict):
        return None
    head = html.get("Head") or {}
    robots = [
        m.get("content") or ""
        for m in head.get("Metas") or []
        if isinstance(m, dict) and (m.get("name") or "").strip().lower() == "robots"
    ]
    images = []
    for link in html.get("Links") or []:
        if isinstance(link, dict) and link.get("path") == WAT_IMG_PATH:
            attrs = {"src": link.get("url")}
            for attr, key in WAT_TEXT_KEYS.items():
                value = link.get(key)
                if value is not None:
                    attrs[attr] = value
            images.append(attrs)
    url = header.get("WARC-Target-URI") or record.url or ""
    return Page(url, header.get("WARC-Date") or record.crawl_time, head.get("Base"), robots, images)


# --- one image -------------------------------------------------------------------------------


def pick_src(attrs: dict) -> str | None:
    """The image URL an <img> gives (see the module doc), unresolved; None if none."""
    src = (attrs.get("src") or "").strip()
    if not src or src.lower().startswith("data:"):
        for key in LAZY_SRC:
            lazy = (attrs.get(key) or "").strip()
            if lazy:
                return lazy
    if src:
        return src
    for key in SRCSET:
        first = (attrs.get(key) or "").strip().split(",")[0].split()
        if first:
            return first[0]
    return None


def pick_text(attrs: dict, text_attributes: tuple[str, ...]) -> str | None:
    for name in text_attributes:
        value = attrs.get(name)
        if value is not None and value.strip():
            return " ".join(value.split())
    return None


def _is_pixel(value) -> bool:
    if value is None:
        return False
    try:
        return float(str(value).strip().removesuffix("px")) <= 1
    except ValueError:
        return False


def is_noai(robots: Iterable[str]) -> bool:
    return any(tok.strip().lower() in NOAI for content in robots for tok in content.split(","))


@functools.lru_cache(maxsize=4096)
def _origin(scheme_netloc: str) -> str | None:
    """The normalised ``scheme://netloc`` of an http(s) origin, or None when
    ``schema.normalise_url`` rejects it: a page's origin is shared by its site's pages."""
    try:
        parts = urlsplit(schema.normalise_url(scheme_netloc + "/"))
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def fast_base(page_base: str) -> tuple[str, str] | None:
    """(normalised origin, directory of the normalised path) of a page base that
    ``resolve`` may append to, or None (then every image takes urljoin + normalise_url).

    Split as urlsplit splits an http(s) URL without white space (netloc up to the first
    ``/?#``, path up to the first ``?#``); the origin is normalised once per site
    (``_origin``). tests/extract check it equals normalising the whole URL."""
    if not page_base[:8].lower().startswith(("http://", "https://")) or _SPACE.search(page_base):
        return None
    start = page_base.index("//") + 2
    m = _NETLOC_END.search(page_base, start)
    end = m.start() if m else len(page_base)
    origin = _origin(page_base[:end])
    if origin is None:
        return None
    path = _PATH_END.split(page_base[end:], 1)[0] or "/"
    if _DOT_SEGMENT.search(path) or "//" in path:  # urljoin would rewrite them
        return None
    return origin, path[: path.rfind("/") + 1]


def resolve(page_base: str, fast: tuple[str, str] | None, src: str) -> tuple[str, str | None]:
    """(absolute URL, its normalised form when the fast path applies, else None)."""
    if (
        fast is not None
        and "//" not in src
        and _FAST_SRC.fullmatch(src)
        and not _DOT_SEGMENT.search(src.split("?", 1)[0])
    ):
        norm = fast[0] + (src if src[0] == "/" else fast[1] + src)
        return norm, norm
    return urljoin(page_base, src), None


def check_image(attrs: dict, page_base: str, noai: bool, config: ExtractConfig, fast=None):
    """(absolute url, normalised url, text, None) for an image kept, or (url or None, None,
    text or None, (reason, detail)). `fast`: ``fast_base(page_base)``."""
    text = pick_text(attrs, config.text_attributes)
    src = pick_src(attrs)
    if noai:
        return src, None, text, ("noai", "robots: noai/noimageai")
    if src is None:
        return None, None, text, ("missing_url", None)
    if src[:5].lower() == "data:":
        return src[:64], None, text, ("data_url", None)
    url, norm = resolve(page_base, fast, src)
    head = url[:8].lower()
    if not (head.startswith("http://") or head == "https://"):
        scheme = urlsplit(url).scheme.lower() if ":" in url else ""
        return url, None, text, ("bad_url_scheme", scheme or "(none)")
    if len(url) > config.max_url_chars:
        return url[: config.max_url_chars], None, text, (
            "url_too_long", f"{len(url)} chars > {config.max_url_chars}"
        )
    if norm is None:  # (the fast path's URLs have no white space: fast_base, _FAST_SRC)
        try:
            norm = schema.normalise_url(url)
        except ValueError as e:
            return url, None, text, ("bad_url", str(e)[:200])
        if _SPACE.search(norm):
            return url, None, text, ("bad_url", "white space inside the URL")
    if config.skip_tracking_pixels and _is_pixel(attrs.get("width")) and _is_pixel(attrs.get("height")):
        return url, None, text, ("tracking_pixel", f"{attrs.get('width')}x{attrs.get('height')}")
    if text is None:
        return url, None, None, ("missing_text", None)
    if len(text) > config.max_text_chars:
        return url, None, text, ("text_too_long", f"{len(text)} chars > {config.max_text_chars}")
    return url, norm, text, None


# --- one file --------------------------------------------------------------------------------


def _page_base(page: Page) -> str:
    base = (page.base_href or "").strip()
    return urljoin(page.url, base) if base else page.url


def extract_records(records: Iterable[Record], source: str, config: ExtractConfig) -> Iterator[tuple]:
    """One file's records → ("kept", row) / ("removed", row, reason, detail) / ("page", None)
    in file order: a kept row is a tuple in ``ROW_COLUMNS`` order, a removed one
    ``REMOVED_COLUMNS``. ``source_row`` counts the rows (kept and removed) of the file."""
    n = 0
    for record in records:
        if record.kind == "skip":
            yield "removed", (record.url, None, source, n), record.reason, record.detail
            n += 1
            continue
        try:
            page = page_from_html(record, config.parser) if record.kind == "html" else page_from_wat(record)
        except UnicodeDecodeError as e:
            detail = f"{e.encoding}: {e.reason} at byte {e.start}"
            yield "removed", (record.url, None, source, n), "undecodable_html", detail
            n += 1
            continue
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            yield "removed", (record.url, None, source, n), "bad_wat_json", str(e)[:200]
            n += 1
            continue
        if page is None:
            continue
        yield "page", None
        page_base = _page_base(page)
        fast = fast_base(page_base)
        noai = config.respect_noai and is_noai(page.robots)
        for attrs in page.images:
            url, norm, text, problem = check_image(attrs, page_base, noai, config, fast)
            if problem is None:
                title = pick_text(attrs, TITLE_ATTRIBUTES)
                yield "kept", (schema.make_uid(norm, text), norm, text, title, page.url, page.crawl_time, source, n)
            else:
                yield "removed", (url, text, source, n), *problem
            n += 1


def pick_first(rows: list[dict]) -> tuple[dict, list[dict]]:
    """Rows sharing one uid → (kept, duplicates): ingest's rule, the first in (source,
    source_row) order."""
    from curate.ops.ingest import pick_exact_duplicate

    return pick_exact_duplicate(rows)


# --- tables ----------------------------------------------------------------------------------

POOL_SCHEMA = pa.schema(
    [
        pa.field("uid", pa.string()),  # make_uid(normalised url, text): ingest's source_uid
        pa.field("url", pa.string()),  # absolute image URL, normalised (schema.normalise_url)
        pa.field("text", pa.string()),
        pa.field("title", pa.string()),  # title / data-image-title, when present
        pa.field("page_url", pa.string()),
        pa.field("crawl_time", pa.string()),  # WARC-Date of the page
        pa.field("source", pa.string()),  # crawl file
        pa.field("source_row", pa.int64()),  # row index inside that file's extraction
    ]
)


def _from_rows(rows: list[tuple], table_schema: pa.Schema) -> pa.Table:
    """Row tuples in `table_schema`'s column order → a table, built column by column."""
    if not rows:
        return table_schema.empty_table()
    columns = zip(*rows, strict=True)
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, table_schema, strict=True)], schema=table_schema)


def extract_file(records: Iterable[Record], source: str, config: ExtractConfig):
    """One file → (kept POOL_SCHEMA table, removed records table, file stats). The kept rows
    are not yet deduplicated across files."""
    kept, removed, reasons, details = [], [], [], []
    pages = 0
    for item in extract_records(records, source, config):
        if item[0] == "page":
            pages += 1
        elif item[0] == "kept":
            kept.append(item[1])
        else:
            removed.append(item[1])
            reasons.append(item[2])
            details.append(item[3])
    removed_table = schema.removed(
        _from_rows(removed, pa.schema([schema.REMOVED_SCHEMA.field(n) for n in REMOVED_COLUMNS])), STAGE, reasons, details
    )
    by_reason: dict[str, int] = {}
    for r in reasons:
        by_reason[r] = by_reason.get(r, 0) + 1
    stats = {
        "pages": pages,
        "in": len(kept) + len(removed),
        "extracted": len(kept),
        "removed_by_reason": dict(sorted(by_reason.items())),
    }
    return _from_rows(kept, POOL_SCHEMA), removed_table, stats


def dedup_rows(rows: list[dict]) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Rows of any files → (kept rows, [(duplicate row, detail)]): one row per uid, ingest's
    choice (the first in (source, source_row) order). Output sorted by uid."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["uid"], []).append(r)
    kept, dups = [], []
    for uid in sorted(groups):
        first, rest = pick_first(groups[uid])
        kept.append(first)
        dups.extend((d, f"same url and text as {first['source']}:{first['source_row']}") for d in rest)
    return kept, dups


def pack(table: pa.Table) -> bytes:
    """A table as Arrow IPC bytes with zstd-compressed buffers: what moves between workers.
    Crawl rows repeat their page URL, crawl time and file name, so this is ~5x smaller
    than the pickled table (measured: benchmarks/results/extract_2026-11-30.md), and a
    runner copies every byte it moves several times."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def unpack(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def uid_bytes(uids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The uids as a numpy bytes array (equal uids, equal elements): zero-copy from Arrow's
    buffer when every uid is 32 ASCII characters (``schema.make_uid``), else row by row."""
    arr = uids.combine_chunks() if isinstance(uids, pa.ChunkedArray) else uids
    chars = schema.uid_chars(arr)
    if chars is not None:
        return chars.reshape(-1).view("S32")
    return np.array([u.encode() for u in arr.to_pylist()], dtype=object)


_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _HEX[ord(chr(_c).upper())] = _i


def uid_prefix_ints(uids: pa.ChunkedArray | pa.Array, digits: int) -> np.ndarray:
    """``int(uid[:digits], 16)`` of every uid (digits <= 15, so it fits an int64),
    vectorised over the hex characters of 32-character uids; row by row for any other."""
    raw = uid_bytes(uids)
    if raw.dtype == np.dtype("S32"):
        vals = _HEX[raw.view(np.uint8).reshape(-1, 32)[:, :digits]]
        if not (vals == 255).any():
            return vals.astype(np.int64) @ (np.int64(16) ** np.arange(digits - 1, -1, -1, dtype=np.int64))
    return np.fromiter((int(u[:digits], 16) for u in raw), np.int64, len(raw))


def key_groups(keys: np.ndarray, within: np.ndarray | None = None) -> list[tuple[int, np.ndarray]]:
    """(key, indices of the rows with that key) for each distinct key, keys ascending; the
    indices of a key in the order of `within` (a permutation of the rows; default:
    ascending)."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable") if within is None else within[np.argsort(keys[within], kind="stable")]
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    return [(int(ordered[s]), order[s:e]) for s, e in zip(starts, ends, strict=True)]


def uid_buckets(kept: pa.Table, buckets: int) -> list[tuple[int, np.ndarray]]:
    """(bucket, the uids of `kept` in it as ``uid_bytes``) by the uid's first 8 hex digits
    modulo `buckets`: the pieces whose distinct uids, counted per bucket, give the pool's
    row count before any row is moved."""
    raw = uid_bytes(kept["uid"])
    return [(k, raw[idx]) for k, idx in key_groups(uid_prefix_ints(kept["uid"], 8) % buckets)]


def count_distinct(pieces: Iterable[np.ndarray]) -> int:
    pieces = list(pieces)
    return int(len(np.unique(np.concatenate(pieces)))) if pieces else 0


def shard_pieces(kept: pa.Table, num_shards: int) -> list[tuple[int, pa.Table]]:
    """(pool shard, its rows of `kept`, sorted by uid): ``curate.io.shards``' rule (the
    uid's first 15 hex digits modulo the shard count), so every copy of a pair meets in one
    shard. Sorted, a shard's pieces are runs that ``dedup_table``'s sort merges. Each piece
    owns its buffers (a slice would carry, and pickle, the whole table's)."""
    ids = uid_prefix_ints(kept["uid"], 15) % num_shards
    by_uid = np.argsort(uid_bytes(kept["uid"]), kind="stable")
    return [(k, kept.take(pa.array(idx))) for k, idx in key_groups(ids, by_uid)]


def dedup_table(table: pa.Table) -> tuple[pa.Table, pa.Table, list[str]]:
    """``dedup_rows`` on a POOL_SCHEMA table, in Arrow: (kept sorted by uid, duplicates in
    (uid, source, source_row) order, one detail per duplicate). Same rows as ``dedup_rows``
    (tests/extract check it). Rows are ordered by uid alone; only the uids seen more than
    once are ordered by (source, source_row) as well."""
    import pyarrow.compute as pc

    t = table.combine_chunks()  # one copy: take over many chunks is ~5x slower (measured)
    uids = uid_bytes(t["uid"])
    order = np.argsort(uids, kind="stable")  # timsort: uid-sorted pieces are merged
    ordered = uids[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(order)])
    kept_idx = order[starts]
    multi = np.flatnonzero(lengths > 1)  # runs of one uid, in uid order
    if not len(multi):
        return t.take(pa.array(kept_idx)), t.schema.empty_table(), []
    rows = order[np.repeat(lengths > 1, lengths)]
    sub = t.select(["uid", "source", "source_row"]).take(pa.array(rows))
    by = pc.sort_indices(sub, [("uid", "ascending"), ("source", "ascending"), ("source_row", "ascending")]).to_numpy()
    rows, sub = rows[by], sub.take(pa.array(by))
    sub_uids = uid_bytes(sub["uid"])
    first = np.r_[True, sub_uids[1:] != sub_uids[:-1]]
    kept_idx[multi] = rows[first]
    owner = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
    dup = np.flatnonzero(~first)
    sources, source_rows = sub["source"].to_pylist(), sub["source_row"].to_pylist()
    details = [f"same url and text as {sources[owner[i]]}:{source_rows[owner[i]]}" for i in dup]
    return t.take(pa.array(kept_idx)), t.take(pa.array(rows[dup])), details
