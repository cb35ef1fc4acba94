"""BuildQueries + WriteQueryList on the real gensim enwiki excerpt and the hand-written
page-view files, checked against slow direct computations."""

import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from nltk.collocations import BigramAssocMeasures, BigramCollocationFinder
from nltk.probability import FreqDist

from curate.io import wiki
from curate.io.queries import load_entries, load_table
from curate.runner import in_process_args
from curate.transforms.queries import (
    BuildQueries,
    QueriesConfig,
    QueryInputs,
    WriteQueryList,
    wikitext_to_text,
)
from tests.queries_reference import slow_counts

gensim = pytest.importorskip("gensim")
DUMP = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data",
                    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
PAGEVIEWS = sorted(str(p) for p in Path(__file__).parents[2].joinpath("queries/sources/pageviews").glob("*.gz"))


def build(folder, inputs, config):
    facts = {"thresholds": {}, "wordnet": None, "versions": {}}
    with beam.Pipeline(options=PipelineOptions(in_process_args())) as p:
        built = p | BuildQueries(inputs, config)
        built | WriteQueryList(str(folder), "t", inputs, facts)
    return load_table(str(folder)).to_pylist()


@pytest.fixture(scope="module")
def dump_list(tmp_path_factory):
    config = QueriesConfig(min_unigram_count=50, min_pmi=14.0, min_bigram_count=2, num_buckets=7)
    rows = build(tmp_path_factory.mktemp("q"), QueryInputs(dumps=(DUMP,)), config)
    return rows, config


@pytest.fixture(scope="module")
def reference():
    texts = [wikitext_to_text(t) for _, t in wiki.iter_articles(DUMP)]
    return slow_counts(texts)


@pytest.mark.slow
def test_unigram_counts_equal_direct_count(dump_list, reference):
    rows, config = dump_list
    ref_uni, _ = reference
    got = {r["entry"]: r["unigram_count"] for r in rows if "wiki_unigram" in r["sources"]}
    expected = {w: c for w, c in ref_uni.items() if c >= config.min_unigram_count}
    assert expected.pop("–") == 386  # an en dash: dropped as punctuation-only
    assert got == expected
    for word in ("the", "Anarchism", "Aristotle", "Alabama"):
        assert got[word] == ref_uni[word]
    assert len(got) > 500


@pytest.mark.slow
def test_bigram_pmi_equals_nltk_on_direct_count(dump_list, reference):
    rows, config = dump_list
    ref_uni, ref_bi = reference
    finder = BigramCollocationFinder(FreqDist(ref_uni), FreqDist(ref_bi))
    finder.apply_freq_filter(config.min_bigram_count)
    expected = {f"{x} {y}": s for (x, y), s in finder.score_ngrams(BigramAssocMeasures.pmi)
                if s >= config.min_pmi}
    got = {r["entry"]: r["pmi"] for r in rows if "wiki_bigram" in r["sources"]}
    assert got == expected and len(got) > 100


@pytest.mark.slow
def test_numbers_and_sorting(dump_list):
    rows, _ = dump_list
    entries = [r["entry"] for r in rows]
    assert entries == sorted(entries) and len(set(entries)) == len(entries)
    assert {str(i) for i in range(100)} <= set(entries)


def test_pageview_titles(tmp_path):
    rows = build(tmp_path, QueryInputs(pageviews=tuple(PAGEVIEWS)), QueriesConfig())
    titles = {r["entry"]: r["views"] for r in rows if "wiki_title" in r["sources"]}
    assert titles == {
        "Anarchism": 120, "Autism": 118, "Abraham Lincoln": 500, "Aristotle": 75, "Ayn Rand": 105,
        "Alain Connes": 80, "Algeria": 104, "Apollo 11": 210, "Main Page": 150000,
        "Animal Farm": 119, "Aldous Huxley": 71, "Algae": 120, "Alchemy": 70, "Astronaut": 90,
    }
    provenance = (tmp_path / "PROVENANCE.md").read_text()
    assert "malformed page-view lines skipped: {'bad_count': 2, 'field_count': 2}" in provenance
    assert load_entries(str(tmp_path)) == [r["entry"] for r in rows]


def test_other_project_and_hourly_threshold(tmp_path):
    config = QueriesConfig(pageview_projects=("en.m",), min_hourly_views=1, min_title_views=1)
    rows = build(tmp_path, QueryInputs(pageviews=tuple(PAGEVIEWS)), config)
    assert {r["entry"]: r["views"] for r in rows if r["views"]} == {"Achilles": 400, "Astronaut": 5000}


def test_unigram_counts_file_and_rerun_byte_identical(tmp_path):
    counts = tmp_path / "counts.tsv"
    counts.write_text("cat\t150\ndog;99\nbroken\n!!\t500\ncat\t1\n")
    inputs = QueryInputs(unigram_counts=(str(counts),), pageviews=tuple(PAGEVIEWS))
    a, b = tmp_path / "a", tmp_path / "b"
    rows = build(a, inputs, QueriesConfig(num_buckets=3))
    build(b, inputs, QueriesConfig(num_buckets=11))
    for name in ("entries.txt", "entries.parquet", "PROVENANCE.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    uni = {r["entry"]: r["unigram_count"] for r in rows if "wiki_unigram" in r["sources"]}
    assert uni == {"cat": 151}
    assert "dropped entries: {'punctuation_only': 1}" in (a / "PROVENANCE.md").read_text()
