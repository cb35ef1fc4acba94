"""The query-list builder as Beam transforms (MetaCLIP ``build_metadata.py`` at cluster scale).

Counting never groups raw tokens: each batch of articles is counted into Counters in memory,
split into ``num_buckets`` stable buckets (crc32 of the word; a bigram goes to its first
word's bucket) and merged by ``CombinePerKey`` with a Counter accumulator, so the shuffle
carries ``num_buckets`` partial counters per batch, not one element per token.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from curate.io import wiki
from curate.ops import queries as q

NS = "queries"


@dataclass(frozen=True)
class QueriesConfig:
    min_unigram_count: int = field(default=q.MIN_UNIGRAM_COUNT, metadata={"help": "keep Wikipedia unigrams with at least this count (MetaCLIP: 100)"})
    min_pmi: float = field(default=q.MIN_PMI, metadata={"help": "keep Wikipedia bigrams with PMI >= this (MetaCLIP: 30)"})
    min_bigram_count: int = field(default=1, metadata={"help": "ignore bigrams seen fewer times than this before PMI"})
    min_hourly_views: int = field(default=q.MIN_HOURLY_VIEWS, metadata={"help": "an hourly page-view row counts only with at least this many views (MetaCLIP: 50)"})
    min_title_views: int = field(default=q.MIN_TITLE_VIEWS, metadata={"help": "keep titles whose summed counted views reach this (MetaCLIP: 70)"})
    pageview_projects: tuple[str, ...] = field(default=("en",), metadata={"help": "Wikimedia domain codes of page-view rows to use (en = en.wikipedia desktop)"})
    num_buckets: int = field(default=64, metadata={"help": "partial counters per batch in the counting shuffle"})
    batch_chars: int = field(default=2_000_000, metadata={"help": "wikitext characters per counting batch"})

    def __post_init__(self):
        for name in ("min_unigram_count", "min_bigram_count", "min_hourly_views", "min_title_views", "num_buckets", "batch_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not math.isfinite(self.min_pmi):
            raise ValueError(f"min_pmi must be finite, got {self.min_pmi}")
        q.domain_codes(self.pageview_projects)


class MergeCountsFn(beam.CombineFn):
    """Sum of dict/Counter partial counts."""

    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        first = next(accs)
        for a in accs:
            first.update(a)
        return first

    def extract_output(self, acc):
        return acc


def wikitext_to_text(wikitext: str) -> str:
    """Plain text of an article: mwparserfromhell drops templates, markup and link targets."""
    import mwparserfromhell

    return mwparserfromhell.parse(wikitext).strip_code(normalize=True, collapse=True)


class CountBatchFn(beam.DoFn):
    """A batch of wikitexts -> bucketed partial unigram (main) and bigram ("bi") counters and
    the token total ("tokens")."""

    def __init__(self, num_buckets: int):
        self.num_buckets = num_buckets
        self.articles = Metrics.counter(NS, "articles")
        self.tokens = Metrics.counter(NS, "tokens")

    def process(self, wikitexts) -> Iterator[tuple[int, Any]]:  # plus tagged outputs
        texts = [wikitext_to_text(t) for t in wikitexts]
        uni, bi, n = q.count_texts(texts)
        self.articles.inc(len(texts))
        self.tokens.inc(n)
        ub, bb = q.split_counts(uni, bi, self.num_buckets)
        for b, d in ub.items():
            yield b, d
        for b, d in bb.items():
            yield beam.pvalue.TaggedOutput("bi", (b, d))
        yield beam.pvalue.TaggedOutput("tokens", n)


class CountWikipedia(beam.PTransform):
    """In: pipeline root. Out: dict with "unigrams" and "bigrams" ((bucket, Counter) per
    bucket) and "tokens" (a singleton PCollection of the token total)."""

    def __init__(self, dumps: list[str], config: QueriesConfig):
        super().__init__()
        self.dumps = list(dumps)
        self.config = config

    def expand(self, root):
        counted = (
            root
            | "Dumps" >> beam.Create(self.dumps)
            | "ReadArticles" >> beam.FlatMap(wiki.article_batches, self.config.batch_chars)
            | "Spread" >> beam.Reshuffle()
            | "Count" >> beam.ParDo(CountBatchFn(self.config.num_buckets)).with_outputs("bi", "tokens", main="uni")
        )
        return {
            "unigrams": counted.uni | "MergeUnigrams" >> beam.CombinePerKey(MergeCountsFn()),
            "bigrams": counted.bi | "MergeBigrams" >> beam.CombinePerKey(MergeCountsFn()),
            "tokens": counted.tokens | "TotalTokens" >> beam.CombineGlobally(sum),
        }


def _bigrams_with_cx(item, n_tokens: int, config: QueriesConfig):
    """Join 1: the bigrams of x's bucket with c(x), re-keyed by y's bucket. Pairs whose PMI
    cannot reach the threshold (PMI <= log2(N / c(x)) since c(xy) <= c(y)) are dropped here."""
    _, grouped = item
    uni = grouped["uni"][0] if grouped["uni"] else {}
    bound = math.log2(n_tokens) - config.min_pmi + 1e-9
    out: dict[int, list] = {}
    for bigrams in grouped["bi"]:
        for (x, y), c in bigrams.items():
            if c < config.min_bigram_count:
                continue
            cx = uni[x]
            if math.log2(cx) > bound:
                continue
            out.setdefault(q.bucket_of(y, config.num_buckets), []).append((x, y, c, cx))
    yield from out.items()


def _bigram_entries(item, n_tokens: int, config: QueriesConfig):
    """Join 2: c(y) from y's bucket; PMI; entries at or above the threshold."""
    _, grouped = item
    uni = grouped["uni"][0] if grouped["uni"] else {}
    out = []
    for part in grouped["bi"]:
        for x, y, c, cx in part:
            score = q.pmi(c, cx, uni[y], n_tokens)
            if score >= config.min_pmi:
                out.append((f"{x} {y}", "wiki_bigram", "pmi", score))
    if out:
        yield out


class ScoreBigrams(beam.PTransform):
    """(bucket, Counter) unigrams + bigrams (bucketed by first word) + token total -> lists of
    (entry, "wiki_bigram", "pmi", PMI) for bigrams with PMI >= min_pmi."""

    def __init__(self, config: QueriesConfig):
        super().__init__()
        self.config = config

    def expand(self, counts):
        n = beam.pvalue.AsSingleton(counts["tokens"])
        with_cx = (
            {"uni": counts["unigrams"], "bi": counts["bigrams"]}
            | "JoinFirstWord" >> beam.CoGroupByKey()
            | "AddCountX" >> beam.FlatMap(_bigrams_with_cx, n, self.config)
        )
        return (
            {"uni": counts["unigrams"], "bi": with_cx}
            | "JoinSecondWord" >> beam.CoGroupByKey()
            | "Pmi" >> beam.FlatMap(_bigram_entries, n, self.config)
        )


def _unigram_entries(item, min_count: int):
    _, counts = item
    out = [(w, "wiki_unigram", "unigram_count", c) for w, c in counts.items() if c >= min_count]
    if out:
        yield out


def _count_file_pieces(path: str, num_buckets: int):
    counts: Counter = Counter()
    bad = Metrics.counter(NS, "unigram_count_lines_malformed")
    for line in wiki.iter_text_lines(path):
        word, count = q.parse_count_line(line)
        if word is None:
            bad.inc()
            continue
        counts[word] += count
    pieces: dict[int, dict] = {}
    for w, c in counts.items():
        pieces.setdefault(q.bucket_of(w, num_buckets), {})[w] = c
    yield from pieces.items()


def _pageview_pieces(path: str, config: QueriesConfig) -> Iterator[tuple[int, Any]]:
    views, malformed = q.count_pageviews(
        wiki.iter_lines(path), q.domain_codes(config.pageview_projects), config.min_hourly_views
    )
    for reason, n in malformed.items():
        Metrics.counter(NS, f"pageview_lines_malformed_{reason}").inc(n)
    pieces: dict[int, dict] = {}
    for t, v in views.items():
        pieces.setdefault(q.bucket_of(t, config.num_buckets), {})[t] = v
    yield from pieces.items()
    for reason, n in malformed.items():
        yield beam.pvalue.TaggedOutput("malformed", {reason: n})


def _title_entries(item, min_views: int):
    _, views = item
    out = [(t, "wiki_title", "views", v) for t, v in views.items() if v >= min_views]
    if out:
        yield out


class MergeEntriesFn(beam.CombineFn):
    """Lists of (entry, source, field, value) -> {entry: {"sources": set, field: value}}.
    Unigram counts and views add up across inputs; a bigram has one PMI."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, records):
        for entry, source, fld, value in records:
            rec = acc.get(entry)
            if rec is None:
                rec = acc[entry] = {"sources": set()}
            rec["sources"].add(source)
            if fld is not None:
                rec[fld] = rec.get(fld, 0) + value if fld != "pmi" else value
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            for entry, rec in acc.items():
                mine = out.get(entry)
                if mine is None:
                    out[entry] = rec
                    continue
                mine["sources"] |= rec["sources"]
                for fld, value in rec.items():
                    if fld == "sources":
                        continue
                    mine[fld] = mine.get(fld, 0) + value if fld != "pmi" else value
        return out

    def extract_output(self, acc):
        return acc


@dataclass(frozen=True)
class QueryInputs:
    dumps: tuple[str, ...] = ()
    pageviews: tuple[str, ...] = ()
    unigram_counts: tuple[str, ...] = ()
    wordnet_names: tuple[str, ...] | None = None  # synset names; None: no WordNet source


class BuildQueries(beam.PTransform):
    """In: pipeline root. Out: {"entries": singleton {entry: {"sources": set, field: value}}
    of every source entry before the drop rules, "tokens": singleton Wikipedia token total
    (None without dumps), "malformed": singleton {reason: page-view lines skipped}}."""

    def __init__(self, inputs: QueryInputs, config: QueriesConfig):
        super().__init__()
        self.inputs = inputs
        self.config = config

    def expand(self, root):
        cfg = self.config
        parts = [
            root | "Numbers" >> beam.Create([[(e, "numbers", None, None) for e in q.numbers()]])
        ]
        tokens = None
        if self.inputs.wordnet_names is not None:
            from curate.ops.wordnet import head_name

            heads = sorted({head_name(n) for n in self.inputs.wordnet_names})
            parts.append(root | "WordNet" >> beam.Create([[(h, "wordnet", None, None) for h in heads]]))
        unigram_pieces = []
        if self.inputs.dumps:
            counts = root | "CountWikipedia" >> CountWikipedia(list(self.inputs.dumps), cfg)
            unigram_pieces.append(counts["unigrams"])
            parts.append(counts | "ScoreBigrams" >> ScoreBigrams(cfg))
            tokens = counts["tokens"]
        if self.inputs.unigram_counts:
            unigram_pieces.append(
                root
                | "CountFiles" >> beam.Create(list(self.inputs.unigram_counts))
                | "ReadCounts" >> beam.FlatMap(_count_file_pieces, cfg.num_buckets)
            )
        if unigram_pieces:
            parts.append(
                unigram_pieces
                | "AllUnigrams" >> beam.Flatten()
                | "SumUnigrams" >> beam.CombinePerKey(MergeCountsFn())
                | "Unigrams" >> beam.FlatMap(_unigram_entries, cfg.min_unigram_count)
            )
        malformed = None
        if self.inputs.pageviews:
            views = (
                root
                | "PageviewFiles" >> beam.Create(list(self.inputs.pageviews))
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadViews" >> beam.FlatMap(_pageview_pieces, cfg).with_outputs("malformed", main="views")
            )
            parts.append(
                views.views
                | "SumViews" >> beam.CombinePerKey(MergeCountsFn())
                | "Titles" >> beam.FlatMap(_title_entries, cfg.min_title_views)
            )
            malformed = views.malformed | "Malformed" >> beam.CombineGlobally(MergeCountsFn())
        entries = parts | "AllSources" >> beam.Flatten() | "Merge" >> beam.CombineGlobally(MergeEntriesFn())
        if tokens is None:
            tokens = root | "NoTokens" >> beam.Create([None])
        if malformed is None:
            malformed = root | "NoMalformed" >> beam.Create([{}])
        return {"entries": entries, "tokens": tokens, "malformed": malformed}


def _checksum(item):
    kind, path = item
    digest, size = wiki.sha256_of(path)
    return kind, path.replace("\\", "/").rsplit("/", 1)[-1], size, digest


def _write_list(merged, folder, name, facts, tokens, malformed, inputs):
    from curate.io.queries import write_query_list

    rows, dropped = q.finalize(merged)
    facts = dict(facts, tokens=tokens, malformed=malformed or {}, dropped=dropped, inputs=sorted(inputs))
    write_query_list(folder, rows, q.provenance_markdown(name, rows, facts))
    yield {"entries": len(rows), "sources": q.source_counts(rows), "dropped": dict(dropped),
           "malformed": dict(malformed or {}), "tokens": tokens}


class WriteQueryList(beam.PTransform):
    """In: BuildQueries' output. Writes <folder>/entries.parquet, entries.txt, PROVENANCE.md;
    out: one summary dict."""

    def __init__(self, folder: str, name: str, inputs: QueryInputs, facts: dict):
        super().__init__()
        self.folder = folder
        self.name = name
        self.inputs = inputs
        self.facts = facts

    def expand(self, built):
        entries, tokens, malformed = built["entries"], built["tokens"], built["malformed"]
        root = entries.pipeline
        files = ([("wiki_dump", p) for p in self.inputs.dumps]
                 + [("pageviews", p) for p in self.inputs.pageviews]
                 + [("unigram_counts", p) for p in self.inputs.unigram_counts])
        checksums = (root | "InputFiles" >> beam.Create(files)
                     | "Checksum" >> beam.Map(_checksum)
                     | "AllChecksums" >> beam.combiners.ToList())
        return entries | "Write" >> beam.FlatMap(
            _write_list, self.folder, self.name, self.facts,
            beam.pvalue.AsSingleton(tokens), beam.pvalue.AsSingleton(malformed),
            beam.pvalue.AsSingleton(checksums),
        )
