"""Embedding throughput (images/s) of the embed stage's model handler vs the model called
directly on pre-decoded tensors (the reference: pure forward passes, no decode/preprocess).

    python benchmarks/bench_embed.py                       # tiny model from scratch, CPU
    python benchmarks/bench_embed.py --model ViT-B-32 --pretrained '' --device cuda --batch-size 256

Prints JSON: images/s of the handler (decode + preprocess + forward, median of repeats),
of forward passes alone, and their ratio; then of the whole stage on the local runner
(in-process, images read from webdataset tars of --per-tar images, input tables of
--input-rows rows) as it is (model batches fixed by the data: ``ModelBatches``, a GroupByKey
on the tar) and on the old path (the model on the runner's batches,
``benchmarks/runner_batches.py``), and their ratio: the cost of batch invariance."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="", help="open_clip name or config .json ('' = tiny from scratch)")
    ap.add_argument("--pretrained", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-tar", type=int, default=64, help="images per webdataset tar (stage timings)")
    ap.add_argument("--input-rows", type=int, default=64, help="rows per input table (stage timings)")
    args = ap.parse_args()

    import pyarrow as pa
    import torch
    from PIL import Image

    from curate.models.clip import OpenClipImageEmbedder
    from tests.imagepool import emoji_images, to_jpeg

    model, pretrained = args.model, args.pretrained
    if not model:
        from tests.tinyclip import make_checkpoint

        model, pretrained = make_checkpoint(Path(tempfile.mkdtemp()))
    files = emoji_images("google", args.images)
    data = [to_jpeg(Image.open(f).convert("RGBA").resize((256, 256))) for f in files]
    table = pa.table({"uid": [str(i) for i in range(len(data))]})
    handler = OpenClipImageEmbedder(model, pretrained, args.device, args.batch_size, read_images=lambda t: data)
    loaded = handler.load_model()
    x = torch.stack([loaded.preprocess(Image.open(f).convert("RGB")) for f in files]).to(loaded.device)

    def run_handler():
        list(handler.run_inference([table], loaded))

    def run_forward():
        with torch.inference_mode():
            for s in range(0, len(x), args.batch_size):
                loaded.model.encode_image(x[s : s + args.batch_size])
        if loaded.device.startswith("cuda"):
            torch.cuda.synchronize()

    def rate(fn):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return len(data) / statistics.median(times)

    handler_rate, forward_rate = rate(run_handler), rate(run_forward)

    import apache_beam as beam
    import pyarrow.parquet as pq

    from benchmarks.runner_batches import runner_batches
    from curate.config import EmbedConfig
    from curate.io import shards
    from curate.runner import in_process_args, pipeline_options
    from curate.transforms.embed import EmbedImages
    from tests.imagepool import write_pool

    tmp = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    pool = write_pool(tmp / "tars", [(f"{i}.jpg", d) for i, d in enumerate(data)], per_tar=args.per_tar)
    (tmp / "in").mkdir()
    for i, start in enumerate(range(0, pool.num_rows, args.input_rows)):
        pq.write_table(pool.slice(start, args.input_rows), tmp / "in" / f"{i:04d}.parquet")
    config = EmbedConfig(model=model, pretrained=pretrained, device=args.device, batch_size=args.batch_size)

    def run_stage(fixed: bool):
        def go():
            with runner_batches(fixed), beam.Pipeline(options=pipeline_options(in_process_args())) as p:
                _ = p | shards.ReadShards(str(tmp / "in")) | EmbedImages(config)
        return go

    fixed_rate, old_rate = rate(run_stage(True)), rate(run_stage(False))
    print(json.dumps({
        "model": args.model or "tiny-from-scratch", "device": loaded.device, "batch_size": args.batch_size,
        "images": len(data), "torch_threads": torch.get_num_threads(),
        "handler_images_per_s": round(handler_rate, 1), "forward_only_images_per_s": round(forward_rate, 1),
        "ratio_handler_vs_forward": round(handler_rate / forward_rate, 3),
        "per_tar": args.per_tar, "input_rows": args.input_rows,
        "stage_fixed_batches_images_per_s": round(fixed_rate, 1), "stage_old_path_images_per_s": round(old_rate, 1),
        "ratio_fixed_vs_old_path": round(fixed_rate / old_rate, 3),
    }))


if __name__ == "__main__":
    main()
