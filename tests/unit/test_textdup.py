"""The content-word rule for near-duplicate captions: the issue's table, edit kinds, and its
precision/recall on the committed labelled set of real captions."""

from pathlib import Path

import pytest

from curate.ops import minhash, textdup

# Different products / digits whose captions are within character-3-gram Jaccard 0.7: the
# old rule called them duplicates. They are two pairs each (issue 14's table).
DISTINCT = [
    ("red Nike Air Max 90 running shoe", "blue Nike Air Max 90 running shoe", 0.79),
    ("Black T-shirt size M", "Black T-shirt size XL", 0.84),
    ("handwritten digit four", "handwritten digit five", 0.74),
]


@pytest.mark.parametrize("a, b, j", DISTINCT)
def test_issue_table_rows_are_not_duplicates(a, b, j):
    old = minhash.jaccard(set(minhash.shingles(a, 3)), set(minhash.shingles(b, 3)))
    assert round(old, 2) == j and old >= 0.7  # what the old rule saw
    assert not textdup.near_duplicate(a, b)
    assert not textdup.near_duplicate(b, a)


@pytest.mark.parametrize(
    "a, b, dup",
    [
        ("red Nike Air Max 90 running shoe", "RED NIKE AIR MAX 90 RUNNING SHOE", True),  # case
        ("Black T-shirt, size M!", "black t shirt size m", True),  # punctuation, hyphen
        ("handwritten digit four", "handwriten digit four", True),  # typo
        ("a photo of the red fox", "photo of red fox", True),  # stop words
        ("Nike Air Max 90, red", "red Nike Air Max 90", True),  # order
        ("red fox", "red fox | Shutterstock", True),  # site suffix
        ("men's slim trousers", "mens slim trousers", True),  # apostrophe
        ("red fox", "grey fox", False),  # species / colour
        ("flag: France", "flag: Spain", False),  # name
        ("pack of 2 pens", "pack of 3 pens", False),  # number
        ("red leather shoe", "red shoe", False),  # an added content word
        ("dog with a ball", "dog without a ball", False),  # negation is content
        ("coat - size M", "coat - size XL", False),  # a changed word in a suffix segment
        ("", "", False),
        ("?!", "?!", False),
    ],
)
def test_edit_kinds(a, b, dup):
    assert textdup.near_duplicate(a, b) is dup
    assert textdup.near_duplicate(b, a) is dup


@pytest.mark.parametrize(
    "a, b, one",
    [("shoe", "shoes", True), ("four", "fuor", True), ("four", "five", False), ("m", "xl", False),
     ("8", "9", False), ("from", "froom", True), ("cat", "cart", True), ("cat", "bat", False)],
)
def test_typo(a, b, one):
    assert textdup.is_typo(a, b) is one


def test_lsh_keys_share_the_main_segment():
    assert textdup.lsh_keys("Red fox | Shutterstock") == ["fox red shutterstock", "fox red"]
    assert textdup.lsh_keys("the red fox") == ["fox red"]
    assert textdup.lsh_keys("?!") == []


PAIRS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "text_pairs.tsv"


def test_rule_on_the_labelled_pairs():
    """Goal of issue 14: precision >= 0.95 at recall >= 0.90 on real captions."""
    import csv

    with PAIRS.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    dup = [r for r in rows if r["label"] == "dup"]
    distinct = [r for r in rows if r["label"] == "distinct"]
    assert len(dup) >= 1000 and len(distinct) >= 1000
    tp = sum(textdup.near_duplicate(r["a"], r["b"]) for r in dup)
    fp = sum(textdup.near_duplicate(r["a"], r["b"]) for r in distinct)
    precision, recall = tp / max(1, tp + fp), tp / len(dup)
    print(f"precision {precision:.4f} recall {recall:.4f}")
    assert precision >= 0.95 and recall >= 0.90
