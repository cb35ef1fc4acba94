"""Readers of the query list's raw inputs: MediaWiki XML dumps, Wikimedia hourly page-view
files, and precomputed unigram-count files. Everything goes through Beam's FileSystems, so
gs://, s3:// etc. work as well as local paths.

A dump that cannot be read to its end (corrupt or truncated .bz2, malformed XML) raises
``DumpError`` naming the file: a silent partial list would be worse than no list.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_CHUNK = 1 << 20


class DumpError(ValueError):
    """A dump file that cannot be read completely; the message names the file."""


def _open_raw(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _open_decompressed(path: str):
    raw = _open_raw(path)
    if path.endswith(".bz2"):
        return bz2.BZ2File(raw)  # reads multistream files (concatenated streams) to the end
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    return raw


def sha256_of(path: str) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file's raw bytes."""
    h = hashlib.sha256()
    size = 0
    with _open_raw(path) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_articles(path: str) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of every main-namespace, non-redirect page of a pages-articles dump
    (.xml, .xml.bz2 incl. multistream). Raises DumpError naming `path` on a corrupt or
    truncated file or malformed XML."""
    try:
        with _open_decompressed(path) as f:
            seen_root = False
            for event, elem in ET.iterparse(f, events=("start", "end")):
                name = _local(elem.tag)
                if event == "start":
                    if not seen_root:
                        if name != "mediawiki":
                            raise DumpError(f"{path}: not a MediaWiki XML dump (root <{name}>)")
                        seen_root = True
                    continue
                if name != "page":
                    continue
                ns = redirect = title = text = None
                for child in elem:
                    cname = _local(child.tag)
                    if cname == "ns":
                        ns = (child.text or "").strip()
                    elif cname == "redirect":
                        redirect = True
                    elif cname == "title":
                        title = child.text or ""
                    elif cname == "revision":
                        for r in child:
                            if _local(r.tag) == "text":
                                text = r.text or ""
                elem.clear()
                if ns == "0" and not redirect and text is not None:
                    yield title, text
    except DumpError:
        raise
    except ET.ParseError as e:
        raise DumpError(f"{path}: malformed XML ({e})") from e
    except EOFError as e:
        raise DumpError(f"{path}: truncated compressed stream ({e})") from e
    except OSError as e:
        raise DumpError(f"{path}: corrupt compressed stream ({e})") from e


def article_batches(path: str, max_chars: int = 2_000_000) -> Iterator[list[str]]:
    """Wikitexts of a dump's articles in batches of about `max_chars` characters."""
    batch: list[str] = []
    size = 0
    for _title, text in iter_articles(path):
        batch.append(text)
        size += len(text)
        if size >= max_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def iter_lines(path: str) -> Iterator[bytes]:
    """Raw lines of a (possibly .gz/.bz2) text file, with a clear error naming a broken file."""
    try:
        with _open_decompressed(path) as f:
            yield from f
    except EOFError as e:
        raise DumpError(f"{path}: truncated compressed stream ({e})") from e
    except (OSError, gzip.BadGzipFile) as e:
        raise DumpError(f"{path}: corrupt compressed stream ({e})") from e


def iter_text_lines(path: str) -> Iterator[str]:
    for line in iter_lines(path):
        yield line.decode("utf-8", "replace")


def open_text(path: str):
    return io.TextIOWrapper(_open_decompressed(path), encoding="utf-8")
