"""Pure functions of the query-list builder (MetaCLIP ``build_metadata.py``, CLIP paper).

Tokenisation follows MetaCLIP's Wikipedia n-gram builder (``metaclip/metadata/build_ngram.py``)
for space-separated languages: every ASCII punctuation character (plus a few CJK ones) and
every CJK/Thai/Lao/Burmese/Khmer/Tibetan character is a token of its own, everything else
splits on whitespace; case is kept. Punctuation tokens are not counted and break bigrams.
Bigram PMI is NLTK's ``BigramAssocMeasures.pmi``: log2(c(xy) * N) - log2(c(x) * c(y)), N the
number of unigram tokens.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable

# Sources in MetaCLIP's order; an entry's `sources` list keeps this order.
SOURCES = ("wordnet", "wiki_unigram", "wiki_bigram", "wiki_title", "numbers")

# MetaCLIP Table 1 / build_metadata.py thresholds.
MIN_UNIGRAM_COUNT = 100
MIN_PMI = 30.0
MIN_HOURLY_VIEWS = 50  # an hourly row counts only with >= 50 views (int(count / 50) > 0)
MIN_TITLE_VIEWS = 70

_EXTRA_PUNCT = "，。、；：？¿！“”‘’（）【】《》〈〉「」『』～—"
PUNCTUATION = frozenset(string.punctuation + _EXTRA_PUNCT)
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF),
    (0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF),
    (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x0F00, 0x0FFF),
)
_PUNCT_CLASS = "".join(re.escape(c) for c in sorted(PUNCTUATION))
_CJK_CLASS = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _CJK_RANGES)
# Punctuation breaks bigram runs; inside a run, CJK chars are single tokens, other text
# splits on whitespace (re's \s is str.isspace, as in MetaCLIP's char loop).
_PUNCT_RE = re.compile(f"[{_PUNCT_CLASS}]")
_TOKEN_RE = re.compile(f"[{_CJK_CLASS}]|[^\\s{_CJK_CLASS}]+")

# Characters MetaCLIP's matching normalisation splits off in the text: an entry containing one
# can never match under the exact rule ("St. Louis").
METACLIP_SPLIT_PUNCT = frozenset(",.;:?!`")


def tokenize(text: str) -> list[str]:
    """All tokens of `text` in order, punctuation tokens included (MetaCLIP's simple_tokenizer)."""
    out: list[str] = []
    pos = 0
    for m in _PUNCT_RE.finditer(text):
        out += _TOKEN_RE.findall(text, pos, m.start())
        out.append(m.group())
        pos = m.end()
    out += _TOKEN_RE.findall(text, pos)
    return out


def count_text(text: str, unigrams: Counter, bigrams: Counter) -> int:
    """Add `text`'s unigram and bigram counts (bigram keys are (x, y) tuples); returns the
    number of counted tokens."""
    n = 0
    for run in _PUNCT_RE.split(text):
        tokens = _TOKEN_RE.findall(run)
        if tokens:
            n += len(tokens)
            unigrams.update(tokens)
            if len(tokens) > 1:
                bigrams.update(zip(tokens, tokens[1:], strict=False))
    return n


def count_texts(texts: Iterable[str]) -> tuple[Counter, Counter, int]:
    """Unigram and bigram counters and the token total of a batch of texts."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    n = 0
    for text in texts:
        n += count_text(text, unigrams, bigrams)
    return unigrams, bigrams, n


def bucket_of(key: str, num_buckets: int) -> int:
    """A stable bucket for a word (Python's hash() is salted per process)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % num_buckets


def split_counts(unigrams: Counter, bigrams: Counter, num_buckets: int):
    """(bucket, ("uni", {word: count})) and (bucket, ("bi", {(x, y): count})) pieces, a bigram
    in the bucket of its first word so the PMI join finds c(x) in the same bucket."""
    bucket = {w: bucket_of(w, num_buckets) for w in unigrams}
    uni: dict[int, dict] = {}
    for w, c in unigrams.items():
        uni.setdefault(bucket[w], {})[w] = c
    bi: dict[int, dict] = {}
    for k, c in bigrams.items():
        bi.setdefault(bucket[k[0]], {})[k] = c
    return uni, bi


def merge_counts(dicts: Iterable[dict]) -> Counter:
    total: Counter = Counter()
    for d in dicts:
        total.update(d)
    return total


def pmi(c_xy: int, c_x: int, c_y: int, n: int) -> float:
    """NLTK's BigramAssocMeasures.pmi, computed the same way (bit-identical floats)."""
    return math.log2(c_xy * n) - math.log2(c_x * c_y)


def is_punctuation_only(entry: str) -> bool:
    """True for entries made only of punctuation (and whitespace); MetaCLIP drops
    single-character string.punctuation entries, this generalises it."""
    return all(
        c in PUNCTUATION or c.isspace() or unicodedata.category(c).startswith("P") for c in entry
    )


def drop_reason(entry: str) -> str | None:
    """Why an entry is not admitted to the list, or None."""
    if not entry.strip():
        return "empty"
    if "\n" in entry or "\r" in entry:
        return "newline"
    if is_punctuation_only(entry):
        return "punctuation_only"
    return None


def has_split_punctuation(entry: str) -> bool:
    return any(c in METACLIP_SPLIT_PUNCT for c in entry)


def numbers() -> list[str]:
    """CLIP/MetaCLIP add "0".."99"."""
    return [str(i) for i in range(100)]


# ---------------------------------------------------------------------------- page views


def parse_pageview_line(line: bytes, domains: frozenset[str]):
    """One line of a Wikimedia hourly pageviews file.

    Returns ("row", title, views) for a row of one of `domains`, ("other", None, None) for
    a well-formed row of another project, or ("malformed", reason, None)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "malformed", "not_utf8", None
    fields = text.rstrip("\r\n").split(" ")
    if len(fields) != 4:
        return "malformed", "field_count", None
    domain, title, views, _size = fields
    if not views.isdigit():  # ascii digits only; negative or text counts are malformed
        return "malformed", "bad_count", None
    if not title:
        return "malformed", "empty_title", None
    if domain not in domains:
        return "other", None, None
    return "row", title, int(views)


def title_entry(title: str) -> str | None:
    """A page-view title as an entry: "_" -> " "; titles with ":" (namespaces such as
    Special:, File:, and titles MetaCLIP drops alike) give None."""
    if ":" in title:
        return None
    return title.strip().replace("_", " ")


def domain_codes(projects: Iterable[str]) -> frozenset[str]:
    """Wikimedia domain codes of the chosen projects. Wikipedia's code has no project suffix
    ("en" is en.wikipedia desktop, "en.m" its mobile site), so "en.wikipedia" means "en"."""
    out = set()
    for p in projects:
        p = p.strip()
        if p.endswith(".wikipedia"):
            p = p[: -len(".wikipedia")]
        elif p.endswith(".wikipedia.org"):
            p = p[: -len(".wikipedia.org")]
        if not p:
            raise ValueError("pageview project must not be empty (e.g. en)")
        out.add(p)
    return frozenset(out)


def count_pageviews(lines: Iterable[bytes], domains: frozenset[str], min_hourly: int):
    """Sum of hourly views >= `min_hourly` per title (":" titles dropped) and malformed-line
    counts by reason, over one file's lines."""
    views: Counter = Counter()
    malformed: Counter = Counter()
    for line in lines:
        kind, a, b = parse_pageview_line(line, domains)
        if kind == "row":
            if b >= min_hourly:
                entry = title_entry(a)
                if entry is not None:
                    views[entry] += b
        elif kind == "malformed":
            malformed[a] += 1
    return views, malformed


# ---------------------------------------------------------------------- precomputed counts


def parse_count_line(line: str):
    """``word<TAB>count`` or pywordfreq's ``word;count`` -> (word, count), or (None, reason).
    The separator is the last tab, else the last ";" (a word may contain ";")."""
    line = line.rstrip("\r\n")
    if not line:
        return None, "empty_line"
    sep = "\t" if "\t" in line else ";"
    word, found, count = line.rpartition(sep)
    if not found:
        return None, "no_separator"
    count = count.strip()
    if not count.isdigit():
        return None, "bad_count"
    return word.strip(), int(count)


# ------------------------------------------------------------------------- the final list


def finalize(merged: dict) -> tuple[list[dict], Counter]:
    """{entry: {"sources": set, field: value}} -> rows sorted by entry (code-point order; an
    entry's id is its position) and the count of dropped entries by reason."""
    dropped: Counter = Counter()
    rows = []
    for entry in sorted(merged):
        reason = drop_reason(entry)
        if reason is not None:
            dropped[reason] += 1
            continue
        rec = merged[entry]
        rows.append({
            "entry": entry,
            "sources": [s for s in SOURCES if s in rec["sources"]],
            "unigram_count": rec.get("unigram_count"),
            "pmi": rec.get("pmi"),
            "views": rec.get("views"),
        })
    return rows, dropped


def source_counts(rows: list[dict]) -> dict[str, int]:
    counts = Counter(s for r in rows for s in r["sources"])
    return {s: counts.get(s, 0) for s in SOURCES}


def overlaps(rows: list[dict]) -> dict[tuple[str, str], int]:
    """Entries shared by each pair of sources (diagonal: entries of the source)."""
    out: Counter = Counter()
    for r in rows:
        ss = r["sources"]
        for i, a in enumerate(ss):
            for b in ss[i:]:
                out[(a, b)] += 1
    return {(a, b): out.get((a, b), 0) for i, a in enumerate(SOURCES) for b in SOURCES[i:]}


def only_counts(rows: list[dict]) -> dict[str, int]:
    """Entries that come from one source only, per source."""
    counts = Counter(r["sources"][0] for r in rows if len(r["sources"]) == 1)
    return {s: counts.get(s, 0) for s in SOURCES}


def provenance_markdown(name: str, rows: list[dict], facts: dict) -> str:
    """PROVENANCE.md: inputs with checksums, thresholds, counts per source, drops, versions.
    Contains nothing that varies between reruns (no dates, hosts or absolute paths)."""
    lines = [f"# Query list `{name}`", "", f"{len(rows)} entries (entry id = line number - 1 in entries.txt).", ""]
    lines += ["## Inputs", "", "| kind | file | bytes | sha256 |", "|---|---|---|---|"]
    for kind, fname, size, digest in facts["inputs"]:
        lines.append(f"| {kind} | {fname} | {size} | {digest} |")
    if facts.get("wordnet") is not None:
        lines.append(f"| wordnet | NLTK WordNet {facts['wordnet']['version']} | {facts['wordnet']['synsets']} synsets | {facts['wordnet']['sha256']} |")
    lines += ["", "## Thresholds", ""]
    for k, v in facts["thresholds"].items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Entries per source", "", "| source | entries | only this source |", "|---|---|---|"]
    only = only_counts(rows)
    for s, n in source_counts(rows).items():
        lines.append(f"| {s} | {n} | {only[s]} |")
    lines += ["", "## Counting", ""]
    if facts.get("tokens") is not None:
        lines.append(f"- Wikipedia tokens counted (N for PMI): {facts['tokens']}")
    lines.append(f"- dropped entries: {dict(sorted(facts['dropped'].items())) or 'none'}")
    lines.append(f"- malformed page-view lines skipped: {dict(sorted(facts['malformed'].items())) or 'none'}")
    split = sum(1 for r in rows if has_split_punctuation(r["entry"]))
    lines += [
        f"- entries containing a character MetaCLIP's matching splits off (`, . ; : ? ! \\``): "
        f"{split} — under the exact MetaCLIP rule these can never match (e.g. \"St. Louis\").",
        "",
        "## Versions",
        "",
    ]
    for k, v in facts["versions"].items():
        lines.append(f"- {k} {v}")
    lines += [
        "",
        "## Rules",
        "",
        "- Wikipedia: main-namespace (ns 0) non-redirect pages; wikitext to plain text with "
        "mwparserfromhell `strip_code`; MetaCLIP's tokeniser (punctuation and CJK characters are "
        "tokens, punctuation is not counted and breaks bigrams), case kept.",
        "- PMI: NLTK's log2(c(xy) * N) - log2(c(x) * c(y)).",
        "- Titles: rows of the chosen domain codes whose hourly views reach the hourly minimum, "
        "summed over files; titles with \":\" dropped; \"_\" -> \" \".",
        "- WordNet: each synset's name before the first \".\", \"_\" -> \" \".",
        "- \"0\"..\"99\" added; empty and punctuation-only entries dropped; sorted by code point.",
        "",
    ]
    return "\n".join(lines)
