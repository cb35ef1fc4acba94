"""Download throughput of `curate download` (img2dataset inside Beam) vs img2dataset's own
command, on the same loopback server and the same URLs.

    python benchmarks/bench_download.py                      # 2000 URLs, 2 workers, 3 repeats
    python benchmarks/bench_download.py --urls 500 --repeats 1   # quick look

Both sides run as their own command in a subprocess, timed end to end (start-up included):

- reference: ``img2dataset --url_list pool.parquet --input_format parquet
  --output_format webdataset --processes_count W --thread_count T`` with shards of
  ``ceil(N / (2 W))`` URLs, 256 px border resize, jpg, sha256, no EXIF (the same work as
  the curate side);
- curate: ``curate download --allow-loopback --thread-count T --target-shards 2W`` on the
  local FnApiRunner with ``--direct_num_workers=W`` (multi-processing); this adds the
  address check per connection, the content checks, a uid-ordered tar, and the kept/removed
  Parquet and stats of every stage.

The server (``curate.sample.server.SampleServer``) runs in its own process on 127.0.0.1 and
serves generated PNGs (256-640 px); URLs differ by a query string so every URL is a
distinct pair. Only 127.0.0.1 is contacted. Prints images/s of each and the ratio
(curate / img2dataset; target >= 0.8), median of --repeats runs.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def make_images(folder: Path, count: int) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        w, h = int(rng.integers(256, 640)), int(rng.integers(256, 640))
        # smooth gradients plus mild noise: realistic PNG sizes (tens of KB)
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * (i + 1)) % 256, (y * 3) % 256, ((x + y) * 2) % 256], -1)
        img = (base + rng.integers(0, 16, (h, w, 3))).clip(0, 255).astype(np.uint8)
        name = f"img{i:04d}.png"
        Image.fromarray(img).save(folder / name)
        names.append(name)
    return names


def serve(root: str, port_queue) -> None:
    from curate.sample.server import SampleServer

    srv = SampleServer(root, port=0).bind()
    port_queue.put(srv.port)
    srv.serve_forever()


def write_pool(path: Path, base_url: str, names: list[str], n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import schema

    urls = [f"{base_url}/img/{names[i % len(names)]}?i={i}" for i in range(n)]
    texts = [f"picture number {i}" for i in range(n)]
    pq.write_table(
        pa.table(
            {
                "uid": [schema.make_uid(u, t) for u, t in zip(urls, texts, strict=True)],
                "url": urls,
                "text": texts,
                "source": ["bench"] * n,
            }
        ),
        path,
    )


def env() -> dict:
    e = dict(os.environ)
    e.update(NO_ALBUMENTATIONS_UPDATE="1", WANDB_MODE="disabled", WANDB_SILENT="true", PYTHONPATH=str(ROOT))
    return e


def run_img2dataset(pool: Path, out: Path, n: int, workers: int, threads: int) -> float:
    shard = math.ceil(n / (2 * workers))
    cmd = [
        str(Path(PY).parent / "img2dataset"),
        f"--url_list={pool}",
        "--input_format=parquet",
        "--url_col=url",
        "--caption_col=text",
        "--output_format=webdataset",
        f"--output_folder={out}",
        f"--processes_count={workers}",
        f"--thread_count={threads}",
        f"--number_sample_per_shard={shard}",
        "--image_size=256",
        "--resize_mode=border",
        "--encode_format=jpg",
        "--compute_hash=sha256",
        "--extract_exif=False",
        "--enable_wandb=False",
        "--timeout=10",
    ]
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def run_curate(pool: Path, out: Path, n: int, workers: int, threads: int) -> float:
    cmd = [
        PY,
        "-c",
        "from curate.cli import run; run()",
        "download",
        f"--input={pool}",
        f"--output={out}",
        "--allow-loopback",
        f"--thread-count={threads}",
        f"--target-shards={2 * workers}",
        f"--shard-size={math.ceil(n / (2 * workers))}",
        "--image-size=256",
        "--timeout=10",
        f"--direct_num_workers={workers}",
        "--direct_running_mode=multi_processing",
    ]
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=env(), cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def count_success_img2dataset(out: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        sum(1 for s in pq.read_table(p, columns=["status"])["status"].to_pylist() if s == "success")
        for p in out.glob("*.parquet")
    )


def count_success_curate(out: Path) -> int:
    from curate.io import shards

    return shards.read_table(str(out / "kept")).num_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--urls", type=int, default=2000)
    ap.add_argument("--images", type=int, default=100, help="distinct image files served")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-download-"))
    ctx = multiprocessing.get_context("spawn")
    server = None
    try:
        (tmp / "served" / "images").mkdir(parents=True)
        names = make_images(tmp / "served" / "images", args.images)
        q = ctx.Queue()
        server = ctx.Process(target=serve, args=(str(tmp / "served"), q), daemon=True)
        server.start()
        base_url = f"http://127.0.0.1:{q.get(timeout=60)}"
        pool = tmp / "pool.parquet"
        write_pool(pool, base_url, names, args.urls)

        times = {"img2dataset": [], "curate": []}
        for r in range(args.repeats):
            for name, fn, count in (
                ("img2dataset", run_img2dataset, count_success_img2dataset),
                ("curate", run_curate, count_success_curate),
            ):
                out = tmp / f"{name}-{r}"
                seconds = fn(pool, out, args.urls, args.workers, args.threads)
                ok = count(out)
                if ok != args.urls:
                    print(f"warning: {name} downloaded {ok} of {args.urls}", file=sys.stderr)
                times[name].append(seconds)
                print(f"run {r} {name:<12} {seconds:7.2f} s  {args.urls / seconds:7.1f} images/s  ({ok} ok)")
                shutil.rmtree(out, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        rate = {k: args.urls / v for k, v in med.items()}
        print(
            f"\n{args.urls} URLs, {args.workers} workers x {args.threads} threads, median of "
            f"{args.repeats}: img2dataset {rate['img2dataset']:.1f} images/s, curate "
            f"{rate['curate']:.1f} images/s, ratio curate/img2dataset = "
            f"{rate['curate'] / rate['img2dataset']:.2f}x (target >= 0.8x)"
        )
    finally:
        if server is not None:
            server.terminate()
            server.join(5)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
