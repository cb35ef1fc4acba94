"""Caption writers and the OpenClipArt RDF reader: pure functions."""

import random

import pytest

from curate.sample import captions
from curate.sample.sources import parse_rdf

SVG = """<svg><metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>Red  apple &amp; leaf</dc:title>
<dc:description>A shiny apple</dc:description><dc:subject><rdf:Bag><rdf:li>fruit</rdf:li>
<rdf:li> food </rdf:li><rdf:li></rdf:li></rdf:Bag></dc:subject><dc:publisher><cc:Agent>
<dc:title>Publisher Name</dc:title></cc:Agent></dc:publisher></cc:Work></rdf:RDF></metadata></svg>"""


@pytest.mark.parametrize(
    "svg,expected",
    [
        (SVG, {"title": "Red apple & leaf", "keywords": ["fruit", "food"], "description": "A shiny apple"}),
        ("<svg><metadata/></svg>", {"title": "", "keywords": [], "description": ""}),
        ('<cc:Work><dc:title>HASH(0x862bbb8)</dc:title><dc:description/></cc:Work>',
         {"title": "HASH(0x862bbb8)", "keywords": [], "description": ""}),
    ],
)
def test_parse_rdf(svg, expected):
    assert parse_rdf(svg) == expected


@pytest.mark.parametrize("label", range(10))
def test_fashion_caption_names_the_class(label):
    rng = random.Random(label)
    for _ in range(20):
        text = captions.fashion_caption(label, 120.0, rng)
        assert any(w in text.lower() for w in captions.FASHION_SYNONYMS[label]), text


@pytest.mark.parametrize("mean,word", [(40, "black"), (120, "grey"), (180, "light grey"), (230, "white")])
def test_shade(mean, word):
    assert captions.shade(mean) == word


@pytest.mark.parametrize("label", [0, 9])
def test_non_english_fashion_uses_the_class_word(label):
    rng = random.Random(0)
    for _ in range(10):
        text, lang = captions.non_english(rng, label)
        assert captions.FASHION_TRANSLATIONS[lang][label] in text


def test_non_english_generic():
    text, lang = captions.non_english(random.Random(1), None)
    assert text in captions.FOREIGN_GENERIC[lang]


@pytest.mark.parametrize(
    "text",
    ["black ankle boots for women - free shipping", "gramastar", "a", "", "Grinning face emoji"],
)
def test_near_duplicate_is_a_small_edit(text):
    rng = random.Random(5)
    for _ in range(20):
        edited = captions.near_duplicate(text, rng)
        assert edited != text
        shared = set(text.lower().split()) & set(edited.lower().split())
        assert len(shared) >= len(set(text.lower().split())) - 2


def test_boilerplate_is_uninformative():
    rng = random.Random(0)
    seen = {captions.boilerplate(rng) for _ in range(300)}
    assert "" in seen and "click here" in seen
    assert any(s.startswith("IMG_") and s.endswith(".JPG") for s in seen)
    assert all(len(s.split()) <= 5 for s in seen)


@pytest.mark.parametrize("a,b", [("Red Apple", "red  apple"), (" x ", "X")])
def test_text_key_folds_case_and_space(a, b):
    assert captions.text_key(a) == captions.text_key(b)
