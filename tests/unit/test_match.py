"""MetaCLIP substring matching: the automaton equals the naive rule on >= 10,000 texts."""

import random

import pyarrow as pa
import pytest

from curate.ops import text_filter as ops

ADVERSARIAL_ENTRIES = [
    "new", "new york", "york", "york city", "new york city", "city", "a", "I", "i",
    "St. Louis", "U.S.", "e.g.", "what?", "C++", "C#", "node.js", "rock 'n' roll",
    "café", "naïve", "東京", "東京 タワー", "😀", "emoji 😀", "ß", "SS", "straße",
    "x  y", " lead", "trail ", "tab\tin", "co-op", "co", "op", "ice cream", "cream",
    "ice", "cream cone", "a b", "b a", "a b a", "new new", "",
]
PIECES = ADVERSARIAL_ENTRIES[:-1] + [
    ",", ".", ";", ":", "?", "!", "`", "\t", "\n", "\r", " ", "  ", "'", '"', "-", "(", ")",
    "New", "YORK", "city.", "cream,", "ice-cream", "newyork", "ÉCOLE", "\u00a0", "x",
]


def _sample_texts():
    try:
        from curate.sample import build

        return [r.text for r in build._assemble(3000, 0) if r.text]
    except (FileNotFoundError, OSError):  # sample sources not installed
        return []


def _generated(n, rng):
    out = []
    for _ in range(n):
        k = rng.randint(0, 9)
        sep = rng.choice([" ", "", "  ", ", ", ".", "\t"])
        out.append(sep.join(rng.choice(PIECES) for _ in range(k)))
    return out


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(4)
    sample = _sample_texts()
    words = sorted({w for t in sample for w in t.split()})
    bigrams = sorted({" ".join(t.split()[i : i + 2]) for t in sample for i in range(len(t.split()) - 1)})
    entries = ADVERSARIAL_ENTRIES + rng.sample(words, min(1500, len(words))) + rng.sample(bigrams, min(500, len(bigrams)))
    entries += ["new york", "dog"]  # duplicate entries: both ids match
    texts = sample + _generated(10_000 - len(sample) + 2000, rng)
    return entries, texts


def test_automaton_equals_naive_rule(corpus):
    entries, texts = corpus
    assert len(texts) >= 10_000
    matcher = ops.Matcher(entries)
    got = matcher.match_array(pa.array(texts)).to_pylist()
    expected = [ops.naive_match(t, entries) for t in texts]
    mismatches = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e]
    assert not mismatches[:5]
    assert sum(bool(e) for e in expected) > 3000  # the test exercises real matches


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a,b", " a , b "),
        ("St. Louis", " St .  Louis "),
        ("tab\there\nnew\rline", " tab here new line "),
        ("what?!", " what ?  !  "),
        ("`x`", "  ` x `  "),
    ],
)
def test_spacing(text, expected):
    assert ops.spacing(text) == expected
    assert ops.spacing_array(pa.array([text])).to_pylist() == [expected]


@pytest.mark.parametrize(
    "text, entries, expected",
    [
        ("red car park", ["red car", "car park"], [0, 1]),  # matches share a padding space
        ("new york city", ["new york city", "york", "new york"], [0, 1, 2]),  # nested
        ("St. Louis", ["St. Louis", "Louis"], [1]),  # punctuation inside an entry never matches
        ("Dog", ["dog"], []),  # case-sensitive
        ("a  b", ["", "a b"], []),  # the empty entry is dropped; double space breaks "a b"
        ("cars", ["car"], []),  # whole-word only
        ("x", ["x", "x"], [0, 1]),  # duplicate entries
    ],
)
def test_match_table(text, entries, expected):
    assert ops.Matcher(entries).match(text) == expected == ops.naive_match(text, entries)


@pytest.mark.parametrize(
    "text, reason",
    [("one two", "too_few_words"), ("a b c", "too_short"), ("a b cd", None), (None, "too_few_words")],
)
def test_text_rules(text, reason):
    texts = pa.array([text], pa.string())
    assert ops.text_rule_reasons(texts, ops.word_counts(texts), 3, 6) == [reason]


WHITE = [chr(c) for c in range(0x110000) if chr(c).isspace()]


def test_word_counts_equal_python_split():
    """The compiled count against ``len(str.split())``: every character Python calls white
    space, alone and between words; characters that share lead bytes with them (U+0080-00BF,
    U+2000-206F, U+3001, U+1681...); random strings of all of those, letters of 1-4 UTF-8
    bytes and emoji; the sample captions; nulls, empty strings, chunked, sliced and large
    string columns."""
    near = [chr(c) for c in (*range(0x80, 0xC0), *range(0x1670, 0x1690), *range(0x2000, 0x2070), *range(0x3000, 0x3010))]
    pieces = WHITE + near + ["a", "é", "東京", "𝔘", "😀", "word", "x"]
    rng = random.Random(7)
    texts = [*WHITE, *near, *(f"a{w}b" for w in WHITE + near), *(f"{w}a{w}{w}b{w}" for w in WHITE)]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    texts += _sample_texts() + ["", None, "  lead and trail  ", "one"]
    want = [len(t.split()) if t is not None else 0 for t in texts]
    assert ops.word_counts(pa.array(texts, pa.string())).tolist() == want
    assert ops.word_counts(pa.array(texts, pa.large_string())).tolist() == want
    chunked = pa.chunked_array([pa.array(texts[:100], pa.string()), pa.array(texts[100:], pa.string())])
    assert ops.word_counts(chunked).tolist() == want
    assert ops.word_counts(pa.array(texts, pa.string()).slice(37, 500)).tolist() == want[37:537]
    assert ops.word_counts(pa.array([], pa.string())).tolist() == []


def test_match_array_on_chunked_and_sliced_columns(corpus):
    """A table column arrives chunked, a filtered batch sliced (Arrow offsets != 0): the
    matches are those of the plain array, row by row."""
    entries, texts = corpus
    texts = texts[:3000] + [None, "", "x  y", "new york"]
    matcher = ops.Matcher(entries)
    want = matcher.match_array(pa.array(texts)).to_pylist()
    chunked = pa.chunked_array([pa.array(texts[:1000]), pa.array(texts[1000:1001]), pa.array(texts[1001:])])
    assert matcher.match_array(chunked).to_pylist() == want
    assert matcher.match_array(pa.array(texts).slice(1234, 700)).to_pylist() == want[1234:1934]
    assert want[-4:-1] == [[], [], [entries.index("x  y")]]
    assert matcher.match_array(pa.array([], pa.string())).to_pylist() == []
    assert ops.Matcher([]).match_array(pa.array(["a", None])).to_pylist() == [[], []]
