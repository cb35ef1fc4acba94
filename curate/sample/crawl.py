"""The sample pool as crawl files: HTML pages holding its pairs as <img> tags, in a WARC,
plus pages with extraction's edge cases, so a demo can start from crawl files
(``curate extract`` → ``curate ingest`` → the rest).

Each pool row whose text can live in an ``alt`` attribute becomes one ``<img src=url
alt=text>`` (``ROWS_PER_PAGE`` to a page, in pool order, absolute URLs). Rows that cannot
(no text, no URL, text with white space that HTML would collapse differently, an
undecodable text) are left out and counted. Then ``EDGE_PAGES``: one page per edge case, each
removed by extract with the reason it names, or kept where the case is a URL form.
"""

from __future__ import annotations

import html
import io

ROWS_PER_PAGE = 8
SITE = "http://crawl.sample.invalid"
DATE = "2024-01-01T00:00:00Z"

# (page path, html, {reason: count removed by extract}, pairs kept)
EDGE_PAGES = [
    ("edge/pixel.html", '<img src="/t.gif" width="1" height="1" alt="tracking pixel">', {"tracking_pixel": 1}, 0),
    ("edge/data.html", '<img src="data:image/png;base64,iVBOR" alt="inline image">', {"data_url": 1}, 0),
    ("edge/noalt.html", '<img src="/no-alt.jpg"><img src="/blank.jpg" alt="  ">', {"missing_text": 2}, 0),
    ("edge/noai.html", '<meta name="robots" content="noai, noimageai"><img src="/mine.jpg" alt="my art">', {"noai": 1}, 0),
    ("edge/js.html", '<img src="javascript:void(0)" alt="script">', {"bad_url_scheme": 1}, 0),
    ("edge/forms/page.html", '<BASE HREF="/edge/assets/"><IMG SRC="rel.jpg" ALT="relative &amp; based"><img data-src="lazy.jpg" alt="lazy loaded"><img srcset="set-1x.jpg 1x, set-2x.jpg 2x" alt="from srcset">', {}, 3),
]


def _usable(url, text) -> bool:
    if not url or text is None or not isinstance(text, str):
        return False
    return bool(text.strip()) and " ".join(text.split()) == text


def pages_of(urls: list, texts: list) -> tuple[list[tuple[str, str]], int]:
    """(page url, html) pairs for the pool rows and the edge cases, and the rows left out."""
    imgs = [(u, t) for u, t in zip(urls, texts, strict=True) if _usable(u, t)]
    pages = []
    for start in range(0, len(imgs), ROWS_PER_PAGE):
        body = "".join(
            f'<img src="{html.escape(u, quote=True)}" alt="{html.escape(t, quote=True)}">\n'
            for u, t in imgs[start : start + ROWS_PER_PAGE]
        )
        pages.append((f"{SITE}/pool/{start // ROWS_PER_PAGE:05d}.html", f"<html><body>\n{body}</body></html>"))
    for path, page, _, _ in EDGE_PAGES:
        pages.append((f"{SITE}/{path}", f"<html><head></head><body>{page}</body></html>"))
    return pages, len(urls) - len(imgs)


def write_warc(path, pages: list[tuple[str, str]]) -> None:
    """Pages as gzipped WARC response records (one gzip member each), byte-stable."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, (url, page) in enumerate(pages):
            body = page.encode("utf-8")
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": DATE, "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"},
            )
            writer.write_record(record)


def write_pool_warc(pool, path) -> dict:
    """The pool table (``url``, ``text``) as a WARC at `path`; returns counts."""
    texts = [_as_text(t) for t in pool["text"].to_pylist()]
    pages, left_out = pages_of(pool["url"].to_pylist(), texts)
    write_warc(path, pages)
    return {"pages": len(pages), "rows_left_out": left_out}


def _as_text(value):
    """A pool text as str; None for bytes that are not UTF-8 (they cannot be an alt)."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
