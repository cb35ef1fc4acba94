"""FilterText in a pipeline: reasons per rule, added columns, matched entry ids."""

import pytest

from curate.config import FilterConfig
from curate.transforms.filter import FilterText
from tests.transforms.text_stage_helpers import pairs, run_stages, write_queries

ENTRIES = ["red car", "car", "sale", "St. Louis", "dog", "Dog", "park", "car park", "dog"]


@pytest.fixture
def queries(tmp_path):
    return write_queries(tmp_path / "queries", ENTRIES)


TEXTS = [
    "a red car, for sale",  # red car, car, sale
    "two words",  # too_few_words
    "a b c",  # too_short (5 chars)
    "der schwarze Hund läuft schnell durch den großen Park",  # language (de)
    "a picture of the sea at night",  # no_match
    "my dog in the car park.",  # dog x2 ids, car, park, car park
    "Dog park in St. Louis",  # Dog, park; "St. Louis" can never match (spacing)
]


def test_filter_reasons_and_matches(tmp_path, queries, beam_args):
    kept, removed, stats = run_stages(
        tmp_path, pairs(TEXTS), {"filter": FilterConfig()}, beam_args, queries
    )
    (s,) = stats["stages"]
    assert (s["in"], s["kept"], s["removed"]) == (7, 3, 4)
    assert s["removed_by_reason"] == {"too_few_words": 1, "too_short": 1, "language": 1, "no_match": 1}
    by_text = {r["text"]: r for r in kept.to_pylist()}
    assert sorted(by_text) == sorted([TEXTS[0], TEXTS[5], TEXTS[6]])
    assert by_text[TEXTS[0]]["matched_entries"] == [0, 1, 2]
    assert by_text[TEXTS[5]]["matched_entries"] == [1, 4, 6, 7, 8]
    assert by_text[TEXTS[6]]["matched_entries"] == [5, 6]
    assert by_text[TEXTS[0]]["lang"] == "en" and by_text[TEXTS[0]]["num_words"] == 5
    reasons = {r["text"]: (r["reason"], r["detail"]) for r in removed.to_pylist()}
    assert reasons[TEXTS[1]][0] == "too_few_words"
    assert reasons[TEXTS[2]][0] == "too_short"
    assert reasons[TEXTS[3]][0] == "language" and reasons[TEXTS[3]][1].startswith("lang=de ")
    assert reasons[TEXTS[4]] == ("no_match", None)
    assert set(removed["stage"].to_pylist()) == {"filter"}


def test_filter_with_py3langid(tmp_path, queries, beam_args):
    """filter.language_model py3langid (the default before lid176): the same reasons on the
    same captions (the German one removed as lang=de), kept rows carry its language and score."""
    kept, removed, stats = run_stages(
        tmp_path, pairs(TEXTS), {"filter": FilterConfig(language_model="py3langid", min_lang_score=0.5)}, beam_args, queries
    )
    (s,) = stats["stages"]
    assert s["removed_by_reason"] == {"too_few_words": 1, "too_short": 1, "language": 1, "no_match": 1}
    reasons = {r["text"]: (r["reason"], r["detail"]) for r in removed.to_pylist()}
    assert reasons[TEXTS[3]][0] == "language" and reasons[TEXTS[3]][1].startswith("lang=de ")
    by_text = {r["text"]: r for r in kept.to_pylist()}
    assert sorted(by_text) == sorted([TEXTS[0], TEXTS[5], TEXTS[6]])
    # kept: English, or another language below the threshold ("Dog park in St. Louis": af)
    assert all(r["lang"] == "en" or r["lang_score"] < 0.5 for r in by_text.values())
    assert by_text[TEXTS[0]]["lang"] == "en"


def test_fasttext_language_id_labels_and_blanks():
    from curate.ops import text_filter as ops

    texts = ["ein roter Hund läuft durch den Park", "une robe noire pour femme", None, "  ",
             "black ankle boots for women - free shipping", "line one\nline two of an English caption"]
    langs, scores = ops.language_identifier("lid176").classify(texts)
    assert langs[:2] == ["de", "fr"] and langs[4:] == ["en", "en"]
    assert langs[2] is None and langs[3] is None
    assert scores[2] != scores[2] and scores[3] != scores[3]  # NaN: nothing to classify
    assert all(0.5 < scores[i] <= 1.0 for i in (0, 1, 4, 5))


def test_unknown_language_model_is_refused():
    with pytest.raises(ValueError, match="filter.language_model must be one of lid176, py3langid, got 'cld3'"):
        FilterConfig(language_model="cld3")


def test_filter_without_language_or_matching(tmp_path, beam_args):
    config = FilterConfig(languages=(), match=False, min_words=1, min_chars=1)
    kept, removed, _ = run_stages(tmp_path, pairs(TEXTS), {"filter": config}, beam_args)
    assert kept.num_rows == len(TEXTS) and removed.num_rows == 0
    assert kept["matched_entries"].null_count == len(TEXTS)


def test_filter_needs_queries_to_match():
    with pytest.raises(ValueError, match="queries"):
        FilterText(FilterConfig(), None)


def test_filter_batches_equal_the_per_row_rules(tmp_path):
    """FilterTextFn on ~3,000 rows in chunked, sliced batches (real captions, generated
    adversarial ones, nulls), with language id on: each row's outcome is the per-row rule
    applied in order (text rule, language, MetaCLIP's naive substring rule), and the kept
    rows carry exactly the naive rule's entry ids."""
    import random

    import pyarrow as pa

    from curate.ops import text_filter as ops
    from curate.transforms.filter import FilterTextFn
    from tests.unit.test_match import ADVERSARIAL_ENTRIES, _generated, _sample_texts

    rng = random.Random(7)
    sample = _sample_texts()[:2000]
    words = sorted({w for t in sample for w in t.split()})
    entries = ADVERSARIAL_ENTRIES + rng.sample(words, min(800, len(words))) + ["dog", "dog"]
    texts = sample + _generated(1000, rng) + [None, "", "dog dog dog dog"]
    config = FilterConfig(min_words=2, min_chars=4)
    fn = FilterTextFn(config, write_queries(tmp_path / "q", entries))
    fn.setup()
    table = pairs(texts)
    kept, removed = [], []
    for start, size in [(0, 1), (1, 999), (1000, 1500), (2500, len(texts))]:
        part = table.slice(start, size)
        part = pa.Table.from_batches(part.to_batches(max_chunksize=333))  # chunked columns
        for out in fn.process(part):
            (removed if hasattr(out, "tag") else kept).append(out.value if hasattr(out, "tag") else out)
    kept = pa.concat_tables(kept).to_pylist()
    removed = pa.concat_tables(removed).to_pylist()
    assert len(kept) + len(removed) == len(texts)
    langs, scores = ops.language_identifier(config.language_model).classify(texts)
    outcome = {}
    for i, t in enumerate(texts):
        words_n = len(t.split()) if t else 0
        if words_n < config.min_words:
            outcome[i] = ("too_few_words", None)
        elif len(t) < config.min_chars:
            outcome[i] = ("too_short", None)
        elif langs[i] is not None and langs[i] not in config.languages and scores[i] >= config.min_lang_score:
            outcome[i] = ("language", None)
        elif not ops.naive_match(t, entries):
            outcome[i] = ("no_match", None)
        else:
            outcome[i] = (None, ops.naive_match(t, entries))
    got = {r["source_row"]: (None, r["matched_entries"]) for r in kept}
    got.update({r["source_row"]: (r["reason"], None) for r in removed})
    assert got == outcome
    assert sum(r is None for r, _ in outcome.values()) > 500
    assert {r for r, _ in outcome.values()} == {None, "too_few_words", "too_short", "language", "no_match"}
