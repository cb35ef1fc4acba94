"""Throughput of stage `capfilt` (RunInference + our handler inside Beam) vs a plain torch
loop without Beam, on the same images with the same tiny CoCa / CLIP models (CPU).

    python benchmarks/bench_capfilt.py                          # 64 images, 3 repeats
    python benchmarks/bench_capfilt.py --images 32 --repeats 1  # quick look

Two modes, each timed end to end (model loading included on both sides):

- ``score``: filter only (clip_score of the web caption). Reference: read the tars, decode,
  ``encode_image`` / ``encode_text`` in batches, cosine.
- ``caption``: captioner + filter (synthetic caption, both scores). Reference: the same plus
  the obvious top-p loop over CoCa's forward with ``torch.multinomial`` on the global
  generator (what ``CoCa.generate(generation_type="top_p")`` does; ``generate`` itself needs
  the ``transformers`` package).

The curate side runs ``CaptionAndFilter`` on the local FnApiRunner in-process (one worker)
from a Parquet file of the pairs, so it adds Beam's overhead, per-pair seeded sampling and
the threshold step; it is timed twice: as it is (model batches fixed by the data:
``ModelBatches``, a GroupByKey on the tar) and on the old path (the model on the runner's
batches, ``benchmarks/runner_batches.py``), whose ratio is the cost of batch invariance. Prints pairs/s of each and the ratio (curate / reference), median of
--repeats runs. The models are random (built from scratch: no weights can be downloaded
here), so captions are nonsense of realistic length.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reference(table, clip, coca, caption: bool, batch_size: int, max_tokens: int) -> int:
    import open_clip
    import torch

    from curate.io import tars
    from curate.ops import image_hash

    model, _, pre = open_clip.create_model_and_transforms(Path(clip[0]).stem, pretrained=clip[1])
    model.eval()
    tok = open_clip.get_tokenizer(Path(clip[0]).stem)
    if caption:
        cap, _, cpre = open_clip.create_model_and_transforms(Path(coca[0]).stem, pretrained=coca[1])
        cap.eval()
    data = tars.read_images(table["shard"].to_pylist(), table["key"].to_pylist())
    images = [image_hash.decode_rgb(d) for d in data]
    texts = table["text"].to_pylist()
    n = 0
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            imgs = images[s : s + batch_size]
            f = torch.nn.functional.normalize(model.encode_image(torch.stack([pre(i) for i in imgs])), dim=-1)
            t = torch.nn.functional.normalize(model.encode_text(tok(texts[s : s + batch_size])), dim=-1)
            (f * t).sum(-1)
            if caption:
                x = torch.stack([cpre(i) for i in imgs])
                lat, embs = cap._encode_image(x)
                out = torch.full((len(imgs), 1), 49406)
                for _ in range(max_tokens - 2):
                    logits = cap(x, out, image_latent=lat, image_embs=embs, output_labels=False)["logits"][:, -1]
                    p, order = torch.softmax(logits, -1).sort(-1, descending=True)
                    p = p * ((p.cumsum(-1) - p) < 0.9)
                    nxt = order.gather(1, torch.multinomial(p, 1))
                    out = torch.cat([out, nxt], 1)
                    if bool((out == 49407).any(1).all()):
                        break
                captions = [open_clip.decode(o).split("<end_of_text>")[0] for o in out]
                ct = torch.nn.functional.normalize(model.encode_text(tok(captions)), dim=-1)
                (f * ct).sum(-1)
            n += len(imgs)
    return n


def curate_run(parquet: str, clip, coca, caption: bool, batch_size: int, max_tokens: int, fixed: bool = True) -> int:
    """Stage capfilt on the local runner; ``fixed=False``: the old path, the model on the
    runner's batches (benchmarks/runner_batches.py)."""
    import apache_beam as beam

    from benchmarks.runner_batches import runner_batches
    from curate.config import CapFiltConfig
    from curate.io import shards
    from curate.runner import in_process_args, pipeline_options
    from curate.transforms.capfilt import CaptionAndFilter

    c = CapFiltConfig(
        filter_model=clip[0], filter_pretrained=clip[1],
        captioner_model=coca[0] if caption else "none", captioner_pretrained=coca[1] if caption else "",
        device="cpu", batch_size=batch_size, max_caption_tokens=max_tokens, threshold=-1.0,
    )
    with runner_batches(fixed), beam.Pipeline(options=pipeline_options(in_process_args())) as p:
        _ = p | shards.ReadShards(parquet) | CaptionAndFilter(c)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=20)
    args = ap.parse_args()

    import pyarrow.parquet as pq
    from PIL import Image

    from tests.capfilt_models import make_clip_checkpoint, make_coca_checkpoint
    from tests.imagepool import emoji_images, to_jpeg, write_pool

    tmp = Path(tempfile.mkdtemp(prefix="bench_capfilt_"))
    clip = make_clip_checkpoint(tmp / "clip")
    coca = make_coca_checkpoint(tmp / "coca")
    items = [(f.name.replace("-", " ").removesuffix(".png"), to_jpeg(Image.open(f))) for f in emoji_images("google", args.images)]
    table = write_pool(tmp / "pool", items, per_tar=32)
    pq.write_table(table, tmp / "pool.parquet")
    n = table.num_rows
    print(f"{n} images (emoji, 64 px), tiny CLIP + tiny CoCa, batch {args.batch_size}, "
          f"{args.max_tokens} caption tokens, median of {args.repeats}")
    # warm-up (imports, first model build, Beam start-up) outside the timings
    reference(table.slice(0, 4), clip, coca, True, args.batch_size, 4)
    pq.write_table(table.slice(0, 4), tmp / "warm.parquet")
    curate_run(str(tmp / "warm.parquet"), clip, coca, True, args.batch_size, 6)
    for mode, caption in (("score", False), ("caption", True)):
        ref, cur, old = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            reference(table, clip, coca, caption, args.batch_size, args.max_tokens)
            ref.append(n / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            curate_run(str(tmp / "pool.parquet"), clip, coca, caption, args.batch_size, args.max_tokens)
            cur.append(n / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            curate_run(str(tmp / "pool.parquet"), clip, coca, caption, args.batch_size, args.max_tokens, fixed=False)
            old.append(n / (time.perf_counter() - t0))
        r, c, o = statistics.median(ref), statistics.median(cur), statistics.median(old)
        unit = "captions+scores/s" if caption else "scores/s"
        print(f"{mode:>8}: plain torch {r:8.1f} {unit}   curate capfilt (Beam) {c:8.1f} {unit}   ratio {c / r:.2f}   "
              f"old path (runner's batches) {o:8.1f} {unit}   fixed / old {c / o:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
