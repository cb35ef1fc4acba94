import math
import random
from collections import Counter

import pytest
from nltk.collocations import BigramAssocMeasures, BigramCollocationFinder
from nltk.probability import FreqDist

from curate.ops import queries as q
from curate.ops.wordnet import head_name
from tests.queries_reference import slow_counts, slow_tokens


@pytest.mark.parametrize("text, tokens", [
    ("St. Louis", ["St", ".", "Louis"]),
    ("don't  stop", ["don", "'", "t", "stop"]),
    ("New York\nCity", ["New", "York", "City"]),
    ("東京 tower", ["東", "京", "tower"]),
    ("a—b", ["a", "—", "b"]),
    ("", []),
    ("(x)", ["(", "x", ")"]),
])
def test_tokenize_like_metaclip(text, tokens):
    assert q.tokenize(text) == tokens == slow_tokens(text)


def test_counts_equal_metaclip_char_loop_on_random_text():
    rng = random.Random(0)
    alphabet = list("abcAB ,.;'\n\t東é-—()") + ["  "]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(500)]
    uni, bi, n = q.count_texts(texts)
    ref_uni, ref_bi = slow_counts(texts)
    assert uni == ref_uni and bi == ref_bi and n == sum(ref_uni.values())


def test_pmi_is_nltk_pmi():
    words = "a b a c a b d e f a b".split()
    word_fd, bigram_fd = FreqDist(words), FreqDist(zip(words, words[1:], strict=False))
    finder = BigramCollocationFinder(word_fd, bigram_fd)
    expected = dict(finder.score_ngrams(BigramAssocMeasures.pmi))
    for (x, y), score in expected.items():
        assert q.pmi(bigram_fd[(x, y)], word_fd[x], word_fd[y], word_fd.N()) == score
    assert q.pmi(1, 1, 1, 2**30) == pytest.approx(30.0)


def test_split_counts_puts_bigrams_with_their_first_word():
    uni, bi, _ = q.count_texts(["the cat sat on the mat", "a cat"])
    ub, bb = q.split_counts(uni, bi, 5)
    assert q.merge_counts(ub.values()) == uni and q.merge_counts(bb.values()) == bi
    for b, d in bb.items():
        assert all(x in ub[b] for x, _ in d)


@pytest.mark.parametrize("line, expected", [
    (b"en Main_Page 242332 0\n", ("row", "Main_Page", 242332)),
    (b"en.m Main_Page 5 0\n", ("other", None, None)),
    (b"de Haus 5 0", ("other", None, None)),
    (b"en Main_Page 12\n", ("malformed", "field_count", None)),
    (b"en Main Page 12 0\n", ("malformed", "field_count", None)),
    (b"en Main_Page x 0\n", ("malformed", "bad_count", None)),
    (b"en Main_Page -4 0\n", ("malformed", "bad_count", None)),
    (b"en  4 0\n", ("malformed", "empty_title", None)),
    (b"en \xff\xfe 4 0\n", ("malformed", "not_utf8", None)),
])
def test_parse_pageview_line(line, expected):
    assert q.parse_pageview_line(line, frozenset({"en"})) == expected


def test_count_pageviews_rules():
    lines = [b"en A_b 50 0", b"en A_b 49 0", b"en C 10 0", b"en Talk:A 500 0", b"en.m A_b 900 0",
             b"en A_b 20 0", b"bad", b"en D 70 0"]
    views, malformed = q.count_pageviews(lines, frozenset({"en"}), 50)
    assert views == Counter({"A b": 50, "D": 70}) and malformed == Counter({"field_count": 1})


@pytest.mark.parametrize("projects, codes", [
    (["en"], {"en"}), (["en.wikipedia"], {"en"}), (["en", "en.m"], {"en", "en.m"}),
    (["de.wikipedia.org"], {"de"}),
])
def test_domain_codes(projects, codes):
    assert q.domain_codes(projects) == codes


@pytest.mark.parametrize("line, expected", [
    ("the;123\n", ("the", 123)), ("the\t123", ("the", 123)), ("a;b;7", ("a;b", 7)),
    ("word", (None, "no_separator")), ("w;x", (None, "bad_count")), ("", (None, "empty_line")),
])
def test_parse_count_line(line, expected):
    assert q.parse_count_line(line) == expected


@pytest.mark.parametrize("entry, reason", [
    ("", "empty"), ("  ", "empty"), ("!", "punctuation_only"), ("...", "punctuation_only"),
    ("–", "punctuation_only"), ("a\nb", "newline"), ("C++", None), ("St. Louis", None), ("0", None),
])
def test_drop_reason(entry, reason):
    assert q.drop_reason(entry) == reason


@pytest.mark.parametrize("name, head", [
    ("hot_dog.n.01", "hot dog"), (".22.a.01", ""), ("dog.n.01", "dog"), ("a.d..n.01", "a"),
])
def test_head_name(name, head):
    assert head_name(name) == head


def test_finalize_sorts_merges_and_drops():
    merged = {"b": {"sources": {"numbers", "wordnet"}}, "a b": {"sources": {"wiki_bigram"}, "pmi": 3.5},
              "": {"sources": {"wordnet"}}, "?": {"sources": {"wiki_unigram"}, "unigram_count": 9}}
    rows, dropped = q.finalize(merged)
    assert [r["entry"] for r in rows] == ["a b", "b"]
    assert rows[1]["sources"] == ["wordnet", "numbers"] and rows[0]["pmi"] == 3.5
    assert dropped == Counter({"empty": 1, "punctuation_only": 1})
    assert math.isclose(q.pmi(2, 2, 2, 8), 2.0)
