"""Stage `balance`: MetaCLIP balancing by query-list entry (``curate.ops.balance``)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa

from curate import schema
from curate.config import BalanceConfig
from curate.ops import balance as ops
from curate.transforms.base import CountRows, StageOutput

TOP_ENTRIES = 50  # head entries listed by name in the summary


class CountEntriesFn(beam.CombineFn):
    """Pair batches → int64 numpy array of matches per entry id (global)."""

    def create_accumulator(self):
        return np.zeros(0, dtype=np.int64)

    def add_input(self, acc, table):
        return ops.add_counts(acc, ops.count_entries(table["matched_entries"]))

    def merge_accumulators(self, accs):
        out = np.zeros(0, dtype=np.int64)
        for a in accs:
            out = ops.add_counts(out, a)
        return out

    def extract_output(self, acc):
        return acc


class SampleEntriesFn(beam.CombineFn):
    """Pair batches → the entry lists of the `k` pairs with the smallest hash of (uid, seed):
    a deterministic, mergeable uniform sample (used to choose t for a target size)."""

    def __init__(self, k: int, seed: int):
        self.k = k
        self.seed = seed

    def create_accumulator(self):
        return []

    def _trim(self, items):
        items.sort(key=lambda x: x[0])
        return items[: self.k]

    def add_input(self, acc, table):
        h = ops.uniform(table["uid"].to_pylist(), "balance-sample", self.seed)
        entries = table["matched_entries"].to_pylist()
        order = np.argsort(h)[: self.k]
        acc.extend((float(h[i]), entries[i] or []) for i in order)
        return self._trim(acc)

    def merge_accumulators(self, accs):
        return self._trim([x for a in accs for x in a])

    def extract_output(self, acc):
        return [e for _, e in acc]


def _choose(counts: np.ndarray, total: int, sample, config: BalanceConfig) -> dict:
    if config.t > 0:
        t, rule = config.t, "given"
    elif config.target_size > 0:
        t, rule = ops.t_for_target(sample, counts, total, config.target_size), "target_size"
    else:
        t, rule = ops.p_to_t(counts, config.tail_share), "tail_share"
    head_ids, head_p = ops.head_probabilities(counts, t)
    return {"t": int(t), "rule": rule, "head_ids": head_ids, "head_p": head_p}


def _require_entries(table: pa.Table) -> pa.Table:
    if "matched_entries" not in table.column_names:
        raise ValueError("balance needs matched_entries: run the filter stage (with --queries) first")
    return table


class BalanceFn(beam.DoFn):
    REMOVED = "removed"

    def __init__(self, seed: int):
        self.seed = seed

    def process(self, table: pa.Table, choice: dict):
        if table.num_rows == 0:
            return
        p = ops.pair_probabilities(table["matched_entries"], choice["head_ids"], choice["head_p"])
        u = ops.uniform(table["uid"].to_pylist(), ops.STAGE, self.seed)
        keep = u < p
        table = schema.with_column(table, "balance_p", pa.array(p, pa.float32()))
        kept, dropped = schema.split_by_mask(table, pa.array(keep))
        if kept.num_rows:
            yield kept
        if dropped.num_rows:
            gone = p[~keep]
            reasons = ["no_match" if x == 0.0 else "balanced_out" for x in gone]
            details = [f"p={x:.6g}" for x in gone]
            yield beam.pvalue.TaggedOutput(
                self.REMOVED, schema.removed(dropped, ops.STAGE, reasons, details)
            )


def summarise(before: np.ndarray, after: np.ndarray, choice: dict, total: int, entries=None) -> dict:
    """Per-entry counts before/after and head/tail shares, as one JSON-able dict."""
    t = choice["t"]
    n = max(len(before), len(after))
    before = ops.add_counts(np.zeros(n, dtype=np.int64), before)
    after = ops.add_counts(np.zeros(n, dtype=np.int64), after)
    head = before > t
    top = np.argsort(-before, kind="stable")[:TOP_ENTRIES]
    return {
        "t": t,
        "t_rule": choice["rule"],
        "pairs_in": int(total),
        "expected_kept_matches": float(np.minimum(before, t).sum()),
        "entries_matched": int((before > 0).sum()),
        "head_entries": int(head.sum()),
        "matches_before": int(before.sum()),
        "matches_after": int(after.sum()),
        "tail_share_before": ops.tail_share(before, t),
        "head_share_before": 1.0 - ops.tail_share(before, t) if before.sum() else 0.0,
        "tail_share_after": float(after[~head].sum() / after.sum()) if after.sum() else 0.0,
        "top_entries": [
            {
                "id": int(i),
                "entry": entries[i] if entries is not None and i < len(entries) else None,
                "before": int(before[i]),
                "after": int(after[i]),
            }
            for i in top
            if before[i] > 0
        ],
        "counts": {str(int(i)): [int(before[i]), int(after[i])] for i in np.flatnonzero(before)},
    }


def _write_summary(total, before, after, choice, path: str, queries: str | None):
    from curate.io import shards

    entries = None
    if queries:
        from curate.io.queries import load_entries

        entries = load_entries(queries)
    shards.write_json(path, summarise(before, after, choice, total, entries))
    return path


class BalanceByEntry(beam.PTransform):
    """In: pair batches with ``matched_entries``. Out: StageOutput(kept, removed).

    Global per-entry counts come from a combiner; the side input carries only the entries
    above t with their p_e. A pair is kept when ``uniform(uid, "balance", seed) <
    1 - prod(1 - p_e)``, so the same pairs are kept on every run and runner. Kept pairs
    carry ``balance_p``; removed ones reason ``balanced_out`` (or ``no_match`` for a pair
    without entries) with ``p=...`` as detail. With ``summary_path`` the counts per entry
    before and after, t and head/tail shares are written there as JSON."""

    def __init__(
        self,
        config: BalanceConfig = BalanceConfig(),
        seed: int = 0,
        summary_path: str | None = None,
        queries: str | None = None,
    ):
        super().__init__()
        self.config = config
        self.seed = seed
        self.summary_path = summary_path
        self.queries = queries

    def expand(self, batches):
        c = self.config
        batches = batches | "RequireEntries" >> beam.Map(_require_entries)
        counts = batches | "CountEntries" >> beam.CombineGlobally(CountEntriesFn())
        total = batches | "CountRows" >> CountRows()
        if c.t == 0 and c.target_size > 0:
            sample = batches | "Sample" >> beam.CombineGlobally(SampleEntriesFn(c.sample_rows, self.seed))
        else:
            sample = batches.pipeline | "NoSample" >> beam.Create([[]])
        choice = counts | "ChooseT" >> beam.Map(
            _choose,
            beam.pvalue.AsSingleton(total),
            beam.pvalue.AsSingleton(sample),
            c,
        )
        out = batches | "Balance" >> beam.ParDo(
            BalanceFn(self.seed), beam.pvalue.AsSingleton(choice)
        ).with_outputs(BalanceFn.REMOVED, main="kept")
        if self.summary_path:
            after = out.kept | "CountKept" >> beam.CombineGlobally(CountEntriesFn())
            total | "WriteSummary" >> beam.Map(
                _write_summary,
                beam.pvalue.AsSingleton(counts),
                beam.pvalue.AsSingleton(after),
                beam.pvalue.AsSingleton(choice),
                self.summary_path,
                self.queries,
            )
        return StageOutput(out.kept, out.removed)
