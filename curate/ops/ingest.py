"""Ingest rules as pure functions: raw pool rows → pair records or removed records.

Reasons (the ``reason`` column of a removed record):

- ``malformed_row``: the reader could not parse the row (bad JSON line, wrong CSV field count)
- ``broken_file``: one record per file that breaks part-way (a row group that does not
  decode, a gzip stream cut off): the rows before the break are read, the rest cannot be
  counted; ``source_row`` is the first row not read
- ``missing_url`` / ``missing_text``: the field is absent or null
- ``url_too_long`` / ``text_too_long``: over ``max_url_chars`` / ``max_text_chars``
- ``bad_url_scheme``: not one of ``schemes`` (http, https by default)
- ``bad_url``: no host, a bad port, white space inside
- ``undecodable_text``: the text is not valid UTF-8
- ``duplicate_pair``: same normalised URL and text (so the same uid) as a kept pair
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pyarrow as pa

from curate import schema
from curate.config import IngestConfig

STAGE = "ingest"
BROKEN_FILE = "broken_file"  # a reader's parse error "broken_file: <detail>"


def check_row(url: str | None, text: bytes | None, parse_error: str | None, config: IngestConfig):
    """(normalised url, decoded text, None) for a good row, or (None, None, (reason, detail))."""
    if parse_error is not None:
        if parse_error.startswith(BROKEN_FILE + ": "):
            return None, None, (BROKEN_FILE, parse_error[len(BROKEN_FILE) + 2 :])
        return None, None, ("malformed_row", parse_error)
    if url is None or not url.strip():
        return None, None, ("missing_url", None)
    if text is None:
        return None, None, ("missing_text", None)
    if len(url) > config.max_url_chars:
        return None, None, ("url_too_long", f"{len(url)} chars > {config.max_url_chars}")
    stripped = url.strip()
    scheme = urlsplit(stripped).scheme.lower() if ":" in stripped else ""
    if scheme not in config.schemes:
        return None, None, ("bad_url_scheme", scheme or "(none)")
    if any(c.isspace() for c in stripped):
        return None, None, ("bad_url", "white space inside the URL")
    try:
        norm = schema.normalise_url(stripped)
    except ValueError as e:
        return None, None, ("bad_url", str(e)[:200])
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, None, ("undecodable_text", f"{e.reason} at byte {e.start}")
    if len(decoded) > config.max_text_chars:
        return None, None, ("text_too_long", f"{len(decoded)} chars > {config.max_text_chars}")
    return norm, decoded, None


def ingest_batch(raw: pa.Table, config: IngestConfig) -> tuple[pa.Table, pa.Table]:
    """A RAW_SCHEMA batch → (pair records, removed records). Duplicates are not handled here."""
    cols = {name: raw[name].to_pylist() for name in raw.column_names}
    kept_rows, removed_rows, reasons, details = [], [], [], []
    for i in range(raw.num_rows):
        url, text, problem = check_row(cols["url"][i], cols["text"][i], cols["parse_error"][i], config)
        base = {"source": cols["source"][i], "source_row": cols["source_row"][i]}
        if problem is None:
            kept_rows.append(
                {
                    "uid": schema.make_uid(url, text),
                    "url": url,
                    "text": text,
                    **base,
                    "source_uid": cols["source_uid"][i],
                }
            )
        else:
            raw_text = cols["text"][i]
            removed_rows.append(
                {
                    "uid": None,
                    "url": cols["url"][i],
                    "text": raw_text.decode("utf-8", "replace") if raw_text is not None else None,
                    **base,
                }
            )
            reasons.append(problem[0])
            details.append(problem[1])
    kept_schema = pa.schema(
        [schema.PAIR_COLUMNS[n] for n in ("uid", "url", "text", "source", "source_row", "source_uid")]
    )
    kept = pa.Table.from_pylist(kept_rows, schema=kept_schema)
    removed_in = pa.Table.from_pylist(
        removed_rows,
        schema=pa.schema([schema.PAIR_COLUMNS[n] for n in ("uid", "url", "text", "source", "source_row")]),
    )
    return kept, schema.removed(removed_in, STAGE, reasons, details)


def pick_exact_duplicate(rows: list[dict]) -> tuple[dict, list[dict]]:
    """Rows sharing one uid → (the kept row, the duplicates).

    Keeps the first occurrence in (source, source_row) order, so the choice does not depend
    on which worker saw which row first.
    """
    ordered = sorted(rows, key=lambda r: (r.get("source") or "", r.get("source_row") or 0))
    return ordered[0], ordered[1:]
