"""Build the labelled text-pair set the text-duplicate rule is measured on.

    CURATE_DATA=... .venv/bin/python benchmarks/text_pairs.py [--out benchmarks/data/text_pairs.tsv]

Base captions are real: OpenClipArt titles (the SVGs' ``dc:title``), CLDR emoji names
(emojibase-data), Fashion-MNIST shop captions (``curate.sample.captions.fashion_caption``,
the sample pool's own generator) and WordNet noun lemmas (multi-word ones, e.g. "red fox").
Each pair is (base, variant) with a label:

- ``dup`` (the same caption re-posted): ``case`` (upper/lower/title case), ``punct``
  (punctuation added or removed, hyphens to spaces), ``typo`` (one adjacent swap, dropped,
  doubled or keyboard-neighbour letter in a word of 4+ letters), ``stopword`` (a function
  word dropped, or "the"/"a" put in front), ``reorder`` (the first word or phrase moved to
  the end after a comma), ``suffix`` (a site name appended after " | " or " - ").
- ``distinct`` (a different item): ``colour`` (a colour word swapped, or two colours put in
  front), ``size`` (clothing sizes, "small"/"large", shoe sizes), ``number`` (a digit or
  number word changed, or "pack of N"), ``name`` (CLDR flag names "flag: France" /
  "flag: Spain"; WordNet instance names sharing a head word, "Lake Erie" / "Lake Huron"),
  ``species`` (WordNet co-hyponym lemmas sharing a head word: "red fox" / "grey fox",
  "sugar maple" / "silver maple", or two animal nouns under one hypernym in a caption
  template).

Everything is drawn from ``random.Random(f"text-pairs:{seed}:{purpose}")`` over sources in
sorted order, so the same installed packages give the same file. The committed output
(``benchmarks/data/text_pairs.tsv``: label, kind, source, a, b) is what the benchmark and
the tests read; they do not need the sources.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate import paths  # noqa: E402
from curate.sample import captions, sources  # noqa: E402

N_PER_KIND = 240  # 6 dup kinds x 240 = 1,440 dup pairs; 5 distinct kinds x 240 = 1,200
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "grey", "pink", "purple",
           "orange", "brown", "beige", "navy", "gold", "silver")
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
SIZES = (("size S", "size M"), ("size M", "size XL"), ("size L", "size XXL"), ("small", "large"),
         ("size 8", "size 10"), ("EU 38", "EU 42"), ("XS", "XL"), ("medium", "large"))
SITES = ("Shutterstock", "Free Vector Clipart", "iStock", "Emojipedia", "Etsy", "Pinterest",
         "Openclipart", "Free PNG Download", "Vecteezy", "Amazon.com", "eBay", "Dreamstime")
STOP_FRONT = ("the", "a")
KEYBOARD = dict(zip("qwertyuiopasdfghjklzxcvbnm", "wqrtyuiopoasdfghjklkzxcvbnmn", strict=False))  # a neighbour key each


def _rng(seed: int, purpose: str) -> random.Random:
    return random.Random(f"text-pairs:{seed}:{purpose}")


# -- sources ------------------------------------------------------------------------------


def clipart_titles() -> list[str]:
    out = set()
    for png in sources.clipart_pngs():
        svg = sources.svg_for_png(png)
        if svg.is_file():
            title = sources.parse_rdf(svg.read_text(encoding="utf-8", errors="replace"))["title"]
            if 2 <= len(title.split()) <= 8 and title.isascii() and "HASH(" not in title:
                out.add(title)
    return sorted(out)


def emoji_names() -> list[str]:
    data = json.loads((paths.npm_package("emojibase-data") / "en" / "data.json").read_text())
    return sorted({e["label"] for e in data if e.get("label")})


def fashion_captions(n: int, seed: int) -> list[str]:
    rng = _rng(seed, "fashion")
    return [captions.fashion_caption(rng.randrange(10), rng.uniform(40, 255), rng) for _ in range(n)]


def wordnet_reader():
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = paths.nltk_data() / "corpora" / "wordnet"
    data_root = str(paths.nltk_data().resolve())
    if data_root not in nltk.data.path:
        nltk.data.path.append(data_root)
    return WordNetCorpusReader(str(root.resolve()), None)


def wordnet_sister_pairs(wn, kind: str) -> list[tuple[str, str]]:
    """Pairs of multi-word lemmas that share their last word and a hypernym (species:
    under organism; names: instance hyponyms), e.g. ("red fox", "grey fox")."""
    out = []
    roots = [wn.synset("organism.n.01")] if kind == "species" else None
    if kind == "species":
        synsets = sorted(set(roots[0].closure(lambda s: s.hyponyms())), key=lambda s: s.name())
        children = lambda s: s.hyponyms()  # noqa: E731
    else:
        synsets = sorted(wn.all_synsets("n"), key=lambda s: s.name())
        children = lambda s: s.instance_hyponyms()  # noqa: E731
    for s in synsets:
        names = sorted({
            lem.replace("_", " ") for h in children(s) for lem in h.lemma_names()[:1]
            if "_" in lem and lem.replace("_", "").isalpha()
        })
        by_head: dict[str, list[str]] = {}
        for n in names:
            by_head.setdefault(n.split()[-1].lower(), []).append(n)
        for members in by_head.values():
            for a, b in zip(members, members[1:], strict=False):
                out.append((a, b))
    return sorted(set(out))


def animal_nouns(wn) -> list[list[str]]:
    """Groups of single-word animal nouns that share a hypernym ("wolf", "coyote", "jackal")."""
    groups = []
    for s in sorted(wn.synset("animal.n.01").closure(lambda s: s.hyponyms()), key=lambda s: s.name()):
        words = sorted({h.lemma_names()[0] for h in s.hyponyms() if h.lemma_names()[0].isalpha()})
        if len(words) >= 2:
            groups.append([w.lower() for w in words])
    return groups


# -- variants -----------------------------------------------------------------------------


def typo(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return None
    i = rng.choice(idx)
    w = words[i]
    kind = rng.randrange(4)
    j = rng.randrange(1, len(w) - 1)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == 1:
        w = w[:j] + w[j + 1 :]
    elif kind == 2:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + KEYBOARD.get(w[j].lower(), "e") + w[j + 1 :]
    words[i] = w
    out = " ".join(words)
    return out if out != text else None


def case(text: str, rng: random.Random) -> str | None:
    out = rng.choice((text.upper(), text.lower(), text.title()))
    if out == text:
        out = text.swapcase()
    return out if out != text else None


def punct(text: str, rng: random.Random) -> str | None:
    if "-" in text and rng.random() < 0.5:
        return text.replace("-", " ")
    if any(c in text for c in ",.!:;'\""):
        out = re.sub(r"[,.!:;'\"]", "", text)
        return out if out != text else None
    words = text.split(" ")
    if len(words) >= 2 and rng.random() < 0.5:
        i = rng.randrange(1, len(words))
        return " ".join(words[:i]) + ", " + " ".join(words[i:])
    return text + rng.choice(("!", ".", "...", " !!"))


def stopword(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    from curate.ops.textdup import STOPWORDS

    idx = [i for i, w in enumerate(words) if w.lower() in STOPWORDS]
    if idx and len(words) > 2:
        i = rng.choice(idx)
        return " ".join(words[:i] + words[i + 1 :])
    return f"{rng.choice(STOP_FRONT)} {text}"


def reorder(text: str, rng: random.Random) -> str | None:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) >= 2:
        rng.shuffle(parts)
        out = ", ".join(parts)
        return out if out != text else ", ".join(parts[1:] + parts[:1])
    words = text.split(" ")
    if len(words) < 2:
        return None
    k = rng.randrange(1, min(3, len(words) - 1) + 1) if len(words) > 2 else 1
    return " ".join(words[k:]) + ", " + " ".join(words[:k])


def suffix(text: str, rng: random.Random) -> str | None:
    return f"{text}{rng.choice((' | ', ' - '))}{rng.choice(SITES)}"


DUP_KINDS = {"case": case, "punct": punct, "typo": typo, "stopword": stopword,
             "reorder": reorder, "suffix": suffix}


def colour(text: str, rng: random.Random):
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if w.lower() in COLOURS]
    if idx:
        i = rng.choice(idx)
        new = rng.choice([c for c in COLOURS if c != words[i].lower()])
        return text, " ".join(words[:i] + [new] + words[i + 1 :])
    a, b = rng.sample(COLOURS, 2)
    return f"{a} {text}", f"{b} {text}"


def size(text: str, rng: random.Random):
    a, b = rng.choice(SIZES)
    if rng.random() < 0.5:
        a, b = b, a
    if a in ("small", "large", "medium"):
        return f"{a} {text}", f"{b} {text}"
    sep = rng.choice((", ", " - ", " "))
    return f"{text}{sep}{a}", f"{text}{sep}{b}"


def number(text: str, rng: random.Random):
    m = re.search(r"\b\d+\b", text)
    if m:
        n = int(m.group(0))
        new = str(n + rng.choice((1, 2, 10)))
        return text, text[: m.start()] + new + text[m.end() :]
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if w.lower() in NUMBER_WORDS]
    if idx:
        i = rng.choice(idx)
        new = rng.choice([w for w in NUMBER_WORDS if w != words[i].lower()])
        return text, " ".join(words[:i] + [new] + words[i + 1 :])
    style = rng.randrange(3)
    x, y = rng.sample(range(2, 13), 2)
    if style == 0:
        return f"{text}, pack of {x}", f"{text}, pack of {y}"
    if style == 1:
        a, b = rng.sample(NUMBER_WORDS, 2)
        return f"{a} {text}", f"{b} {text}"
    return f"{x} {text}", f"{y} {text}"


# -- assembly -----------------------------------------------------------------------------


def build(seed: int = 0) -> list[dict]:
    wn = wordnet_reader()
    titles = clipart_titles()
    emoji = [e for e in emoji_names() if not e.startswith(("flag:", "regional indicator"))]
    flags = sorted(e for e in emoji_names() if e.startswith("flag: "))
    fashion = fashion_captions(2000, seed)
    lemmas = sorted({n for pair in wordnet_sister_pairs(wn, "species") for n in pair})
    bases = {"clipart": titles, "emoji": emoji, "fashion": fashion, "wordnet": lemmas}
    rows: list[dict] = []

    def draw(rng):
        src = rng.choice(sorted(bases))
        return src, rng.choice(bases[src])

    for kind, fn in DUP_KINDS.items():
        rng = _rng(seed, f"dup:{kind}")
        seen = set()
        while len([r for r in rows if r["kind"] == kind]) < N_PER_KIND:
            src, text = draw(rng)
            b = fn(text, rng)
            if b is None or b == text or (text, b) in seen:
                continue
            seen.add((text, b))
            rows.append({"label": "dup", "kind": kind, "source": src, "a": text, "b": b})

    for kind, fn in (("colour", colour), ("size", size), ("number", number)):
        rng = _rng(seed, f"distinct:{kind}")
        seen = set()
        while len([r for r in rows if r["kind"] == kind]) < N_PER_KIND:
            src, text = draw(rng)
            a, b = fn(text, rng)
            if a == b or (a, b) in seen:
                continue
            seen.add((a, b))
            rows.append({"label": "distinct", "kind": kind, "source": src, "a": a, "b": b})

    rng = _rng(seed, "distinct:name")
    names = []
    for a, b in zip(flags, flags[1:], strict=False):
        names.append(("emoji", a, b))
    instances = wordnet_sister_pairs(wn, "names")
    names += [("wordnet", a, b) for a, b in instances]
    for src, a, b in rng.sample(names, N_PER_KIND):
        rows.append({"label": "distinct", "kind": "name", "source": src, "a": a, "b": b})

    rng = _rng(seed, "distinct:species")
    species = [("wordnet", a, b) for a, b in wordnet_sister_pairs(wn, "species")]
    chosen = rng.sample(species, N_PER_KIND // 2)
    templates = ("{} clip art", "cute {} cartoon", "{} icon", "photo of a {}", "{} drawing",
                 "{} - vector illustration")
    groups = animal_nouns(wn)
    while len(chosen) < N_PER_KIND:
        g = rng.choice(groups)
        x, y = rng.sample(g, 2)
        t = rng.choice(templates)
        pair = ("wordnet", t.format(x), t.format(y))
        if pair not in chosen:
            chosen.append(pair)
    for src, a, b in chosen:
        rows.append({"label": "distinct", "kind": "species", "source": src, "a": a, "b": b})
    return rows


def write(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["label", "kind", "source", "a", "b"], delimiter="\t",
                           quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def read(path: Path | str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "text_pairs.tsv"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_PATH))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = build(args.seed)
    write(rows, Path(args.out))
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["label"], r["kind"])] = counts.get((r["label"], r["kind"]), 0) + 1
    print(json.dumps({f"{k[0]}:{k[1]}": v for k, v in sorted(counts.items())}, indent=1))
    print(f"wrote {len(rows)} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
