"""Small webdataset pools of real images for the image stages' tests (what download writes:
tars with <key>.jpg members, and pair batches with key, shard, status, width, height, sha256)."""

from __future__ import annotations

import glob
import hashlib
import io
import tarfile
from pathlib import Path

import pyarrow as pa
from PIL import Image

from curate import paths, schema


def emoji_png(vendor: str, image: str) -> Path:
    return paths.npm_package(f"emoji-datasource-{vendor}") / "img" / vendor / "64" / image


def emoji_images(vendor: str, limit: int | None = None) -> list[Path]:
    files = sorted(glob.glob(str(paths.npm_package(f"emoji-datasource-{vendor}") / "img" / vendor / "64" / "*.png")))
    return [Path(f) for f in files[:limit]]


def to_jpeg(img: Image.Image, quality: int = 95) -> bytes:
    """As img2dataset stores images: RGB on white, JPEG."""
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_pool(folder: Path, items: list[tuple[str, bytes | None]], per_tar: int = 50) -> pa.Table:
    """items: (name, image bytes or None for a missing member) → pair table; tars in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, len(items), per_tar):
        shard = str(folder / f"{start // per_tar:05d}.tar")
        with tarfile.open(shard, "w") as tar:
            for i, (name, data) in enumerate(items[start : start + per_tar], start):
                key = f"{i:09d}"
                if data is not None:
                    info = tarfile.TarInfo(f"{key}.jpg")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                try:
                    w, h = Image.open(io.BytesIO(data)).size
                except Exception:
                    w, h = None, None
                url = f"http://127.0.0.1/{name}"
                rows.append(
                    {
                        "uid": schema.make_uid(url, name),
                        "url": url,
                        "text": name,
                        "source": "pool.parquet",
                        "source_row": i,
                        "key": key,
                        "shard": shard,
                        "status": "success",
                        "width": w,
                        "height": h,
                        "sha256": hashlib.sha256(data).hexdigest() if data else None,
                    }
                )
    fields = [schema.PAIR_COLUMNS[n] for n in rows[0]]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))
