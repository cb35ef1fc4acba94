"""WARC and WAT files written with warcio from hand-written pages, for the extract tests."""

from __future__ import annotations

import io
import json

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

DATE = "2024-05-01T12:00:00Z"


def write_warc(path, pages, gzip=True):
    """pages: (url, html bytes or str, extra http headers) triples."""
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gzip)
        for url, html, *extra in pages:
            body = html.encode("utf-8") if isinstance(html, str) else html
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
            headers += list(extra[0]) if extra else []
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": DATE})
            w.write_record(rec)
    return path


def wat_json(url, links, base=None, metas=()):
    head = {"Metas": list(metas)}
    if base:
        head["Base"] = base
    return {
        "Envelope": {
            "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": url, "WARC-Date": DATE},
            "Payload-Metadata": {"HTTP-Response-Metadata": {"HTML-Metadata": {"Head": head, "Links": links}}},
        }
    }


def write_wat(path, docs, gzip=True):
    """docs: JSON-able dicts, or raw bytes (a broken record)."""
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gzip)
        for doc in docs:
            body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            url = doc["Envelope"]["WARC-Header-Metadata"]["WARC-Target-URI"] if isinstance(doc, dict) else "http://broken.example/"
            rec = w.create_warc_record(url, "metadata", payload=io.BytesIO(body),
                                       warc_headers_dict={"Content-Type": "application/json", "WARC-Date": DATE})
            w.write_record(rec)
    return path


PAGE_A = """<!doctype html><html><head><title>A</title></head><body>
<img src="/img/cat.jpg" alt="A cat">
<IMG SRC="dog.png" ALT="Dog &amp; ball" TITLE="Rex">
<img src="data:image/gif;base64,R0lGOD" data-src="lazy/fox.jpg" alt="a fox">
<img srcset="owl-1x.jpg 1x, owl-2x.jpg 2x" alt="an owl">
<img src="pixel.gif" width="1" height="1" alt="tracker">
<img src="data:image/png;base64,iVBOR" alt="inline">
<img src="nolabel.jpg">
<img src="blank.jpg" alt="   ">
<img src="javascript:void(0)" alt="js">
<img src="https://cdn.example.org/shared.jpg" alt="shared logo" data-image-title="Logo">
</body></html>"""

PAGE_B = """<html><head><base href="https://static.example.net/assets/"></head><body>
<img src="bird.jpg" alt="a bird">
<img src="https://cdn.example.org/shared.jpg" alt="shared logo">
<img src="https://cdn.example.org/shared.jpg" alt="another text">
</body></html>"""

PAGE_NOAI = """<html><head><meta name="robots" content="index, noai"></head><body>
<img src="secret.jpg" alt="do not use"></body></html>"""

PAGES = [
    ("http://example.com/a/page.html", PAGE_A),
    ("http://example.com/b/", PAGE_B),
    ("http://example.com/noai", PAGE_NOAI),
]

# (url, text) kept from PAGES, in any order
EXPECTED = {
    ("http://example.com/img/cat.jpg", "A cat"),
    ("http://example.com/a/dog.png", "Dog & ball"),
    ("http://example.com/a/lazy/fox.jpg", "a fox"),
    ("http://example.com/a/owl-1x.jpg", "an owl"),
    ("https://cdn.example.org/shared.jpg", "shared logo"),
    ("https://static.example.net/assets/bird.jpg", "a bird"),
    ("https://cdn.example.org/shared.jpg", "another text"),
}
EXPECTED_REMOVED = {
    "tracking_pixel": 1,
    "data_url": 1,
    "missing_text": 2,
    "bad_url_scheme": 1,
    "noai": 1,
    "duplicate_pair": 1,
}
