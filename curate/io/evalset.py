"""Evaluation images for decontamination: a folder / glob of image files (any Beam
filesystem), or a named labelled set installed on the machine (Fashion-MNIST)."""

from __future__ import annotations

import gzip
import io

import numpy as np
from PIL import Image

from curate import paths
from curate.io.shards import read_bytes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
NAMED = {
    "fashion-mnist-test": ("dataset-fashion-mnist", "t10k-images-idx3-ubyte.gz"),
    "fashion-mnist-train": ("dataset-fashion-mnist", "train-images-idx3-ubyte.gz"),
}


def read_idx_images(data: bytes) -> np.ndarray:
    """An IDX3 file (MNIST format, gzipped or not) → (n, rows, cols) uint8."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != 2051:
        raise ValueError(f"not an IDX3 image file (magic {magic})")
    return np.frombuffer(data[16:], dtype=np.uint8, count=n * rows * cols).reshape(n, rows, cols)


def fashion_mnist(name: str) -> list[tuple[str, bytes]]:
    package, filename = NAMED[name]
    path = next(p for p in paths.debian_files(package) if p.endswith(filename))
    with open(path, "rb") as f:
        arrays = read_idx_images(f.read())
    out = []
    for i, a in enumerate(arrays):
        buf = io.BytesIO()
        Image.fromarray(a, mode="L").save(buf, "PNG")
        out.append((f"{name}/{i:05d}", buf.getvalue()))
    return out


def load_eval_images(spec: str, limit: int | None = None) -> list[tuple[str, bytes]]:
    """(name, encoded image bytes) of every evaluation image `spec` names."""
    if spec in NAMED:
        items = fashion_mnist(spec)
    else:
        from curate.io.pool import match_files

        files = [p for p in match_files(spec) if p.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise FileNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) match {spec}")
        items = [(p, read_bytes(p)) for p in files]
    return items[:limit] if limit else items
