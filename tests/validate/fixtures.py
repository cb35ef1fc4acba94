"""A tiny finished run, as the download stage leaves one: kept Parquet with shard/key
columns pointing at webdataset tars of JPEGs, plus stats.json and config.yaml."""

from __future__ import annotations

import io
import json
import os
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curate import schema

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}


def jpeg(colour, size=32, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 12, (size, size, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_run(folder, n=40, drop_image_every=0) -> pa.Table:
    """Write <folder>/download/00000.tar and <folder>/run/{kept/,stats.json,config.yaml}."""
    os.makedirs(f"{folder}/download", exist_ok=True)
    os.makedirs(f"{folder}/run/kept", exist_ok=True)
    tar_path = f"{folder}/download/00000.tar"
    rows = []
    names = list(COLOURS)
    with tarfile.open(tar_path, "w") as tar:
        for i in range(n):
            colour = names[i % len(names)]
            text = f"a photo of a {colour} square"
            url = f"http://127.0.0.1/img/{i}.jpg"
            key = f"{i:09d}"
            rows.append(
                {
                    "uid": schema.make_uid(url, text),
                    "url": url,
                    "text": text,
                    "source": "fixture",
                    "key": key,
                    "shard": tar_path,
                    "status": "success",
                    "width": 32,
                    "height": 32,
                }
            )
            if drop_image_every and i % drop_image_every == 0:
                continue
            data = jpeg(COLOURS[colour], seed=i)
            info = tarfile.TarInfo(f"{key}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    table = schema.conform(pa.Table.from_pylist(rows))
    pq.write_table(table, f"{folder}/run/kept/part-00000-of-00001.parquet")
    stats = {
        "stages": [
            {"stage": "ingest", "in": n + 5, "kept": n + 2, "removed": 3, "removed_by_reason": {"bad_url": 3}},
            {"stage": "download", "in": n + 2, "kept": n, "removed": 2, "removed_by_reason": {"http_404": 2}},
        ],
        "input": n + 5,
        "kept": n,
        "removed": 5,
    }
    with open(f"{folder}/run/stats.json", "w") as f:
        json.dump(stats, f)
    os.makedirs(f"{folder}/queries", exist_ok=True)
    with open(f"{folder}/queries/PROVENANCE.md", "w") as f:
        f.write("# fixture queries\nbuilt from nothing\n")
    with open(f"{folder}/run/config.yaml", "w") as f:
        f.write(f"input: pool.parquet\noutput: {folder}/run\nqueries: {folder}/queries\nseed: 0\n")
    return table
