"""Stage `filter`: DataComp's basic text rule, language id and MetaCLIP substring matching,
in one pass over each batch (the cheap checks first, the automaton only on what is left)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schema
from curate.config import FilterConfig
from curate.ops import text_filter as ops


class FilterTextFn(beam.DoFn):
    """Batch → kept batch (with num_words, lang, lang_score, matched_entries) and removed
    records. The language model and the automaton are built once per worker."""

    REMOVED = "removed"

    def __init__(self, config: FilterConfig, queries: str | None):
        from apache_beam.utils import shared

        self.config = config
        self.queries = queries
        # One automaton per worker process, whatever the number of DoFn instances (threads)
        # in it: with the full list it is the largest object of the stage.
        self.shared_matcher = shared.Shared()

    def setup(self):
        self.langid = ops.language_identifier(self.config.language_model) if self.config.languages else None
        self.matcher = None
        if self.config.match:
            from curate.io.queries import load_entries

            queries = self.queries
            self.matcher = self.shared_matcher.acquire(lambda: ops.Matcher(load_entries(queries)))

    def process(self, table: pa.Table):
        c = self.config
        n = table.num_rows
        if n == 0:
            return
        texts = table["text"]
        num_words = ops.word_counts(texts)
        reasons = np.array(ops.text_rule_reasons(texts, num_words, c.min_words, c.min_chars), dtype=object)
        details = np.full(n, None, dtype=object)
        todo = np.equal(reasons, None)
        lang_column = pa.nulls(n, pa.string())
        scores = np.full(n, np.nan, dtype=np.float32)
        if self.langid is not None and todo.any():
            idx = np.flatnonzero(todo)
            sub_langs, sub_scores = self.langid.classify_array(texts.take(pa.array(idx)))
            langs = np.full(n, None, dtype=object)
            langs[idx] = sub_langs
            scores[idx] = sub_scores
            sub_reasons = ops.language_reasons(sub_langs, sub_scores, c.languages, c.min_lang_score)
            for k in np.flatnonzero(np.not_equal(np.array(sub_reasons, dtype=object), None)):
                i = idx[k]
                reasons[i] = sub_reasons[k]
                details[i] = f"lang={sub_langs[k]} score={sub_scores[k]:.3f}"
                todo[i] = False
            lang_column = pa.array(langs, pa.string())
        columns = {
            "num_words": pa.array(num_words, pa.int32()),
            "lang": lang_column,
            "lang_score": pa.array(scores, pa.float32(), mask=np.isnan(scores)),
        }
        if self.matcher is not None:
            idx = np.flatnonzero(todo)
            if idx.size == n:
                matched = self.matcher.match_array(texts)
                counts = pc.list_value_length(matched).to_numpy()
            else:  # rows removed before matching get an empty list
                sub = self.matcher.match_array(texts.take(pa.array(idx)))
                counts = np.zeros(n, dtype=np.int64)
                counts[idx] = pc.list_value_length(sub).to_numpy()
                offsets = np.zeros(n + 1, dtype=np.int32)
                np.cumsum(counts, out=offsets[1:])
                matched = pa.ListArray.from_arrays(pa.array(offsets), sub.flatten())
            reasons[idx[counts[idx] == 0]] = "no_match"
            columns["matched_entries"] = matched
        for name, col in columns.items():
            table = schema.with_column(table, name, col)
        keep = np.equal(reasons, None)
        kept, dropped = schema.split_by_mask(table, pa.array(keep))
        if kept.num_rows:
            yield kept
        if dropped.num_rows:
            gone = ~keep
            yield beam.pvalue.TaggedOutput(
                self.REMOVED,
                schema.removed(dropped, ops.STAGE, reasons[gone].tolist(), details[gone].tolist()),
            )


class FilterText(beam.PTransform):
    """In: pair batches. Out: StageOutput(kept, removed).

    Kept pairs passed every check and carry ``num_words``, ``lang``, ``lang_score`` and
    (with matching on) ``matched_entries``: the sorted ids of the query-list entries that
    occur in the text under MetaCLIP's rule. Removed records carry the first failed check
    as reason (``too_few_words``, ``too_short``, ``language``, ``no_match``; see
    ``curate.ops.text_filter``). One output row per input row; deterministic."""

    def __init__(self, config: FilterConfig = FilterConfig(), queries: str | None = None):
        super().__init__()
        if config.match and not queries:
            raise ValueError("filter.match needs a query list: pass --queries FOLDER (or set match: false)")
        self.config = config
        self.queries = queries

    def expand(self, batches):
        from curate.transforms.base import StageOutput

        out = batches | "FilterText" >> beam.ParDo(
            FilterTextFn(self.config, self.queries)
        ).with_outputs(FilterTextFn.REMOVED, main="kept")
        return StageOutput(out.kept, out.removed)
