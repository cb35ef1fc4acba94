"""The whole mission as one pipeline config, for the runner comparisons: a small sample pool
served on 127.0.0.1, every stage (ingest ... retrieve) with tiny from-scratch models, then
export. Used by the Flink tests (embedded and standalone) and the runner benchmarks.

Everything is fixed (sample seed, model seeds, settings), so every runner must write the same
bytes. Two runs are compared in the same output folder, one after the other: the kept
shards' ``shard`` column stores each tar's path under the run's own folder."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from PIL import Image

from curate import config as cfg
from curate.sample import SampleServer, build_sample

QUERIES = str(Path(__file__).resolve().parents[2] / "queries" / "sample")
MISSION_STAGES = ("ingest", "filter", "dedup_text", "balance", "download", "dedup_images", "embed",
                  "decontaminate", "semdedup", "capfilt", "retrieve")


@contextlib.contextmanager
def served_sample(folder: Path, size: int = 240):
    """A built sample pool of `size` pairs, served on a free loopback port while in use.

    The port is bound before the pool is built: the pool's URLs name it. The slow route
    sleeps 25 s, far past the mission's 10 s download timeout: the server shares a loaded
    machine (and, with in-process runners, the GIL) with the pipeline, and a timeout that an
    ordinary image could reach would make the comparison a race."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    server = SampleServer(folder, port=0, slow_seconds=25).bind()
    build_sample(folder, size=size, port=server.port)
    with server:
        yield folder / "pool.parquet"


def models(folder: Path) -> dict[str, tuple[str, str]]:
    """Tiny from-scratch models: 'clip' (embed, decontaminate, filter, seeds) and 'coca'."""
    from tests.capfilt_models import make_coca_checkpoint
    from tests.tinyclip import make_checkpoint

    return {"clip": make_checkpoint(folder / "clip"), "coca": make_coca_checkpoint(folder / "coca")}


def seed_images(folder: Path, n: int = 6) -> str:
    from tests.imagepool import emoji_images

    folder.mkdir(parents=True, exist_ok=True)
    for f in emoji_images("google", n):
        Image.open(f).convert("RGB").save(folder / f"{f.stem}.png")
    return str(folder)


def mission_config(pool: Path, output: Path, model_files: dict, seeds: str) -> cfg.PipelineConfig:
    clip_cfg, clip_ckpt = model_files["clip"]
    coca_cfg, coca_ckpt = model_files["coca"]
    values = {
        "download": {"allow_loopback": True, "timeout": 10, "request_time_limit": 20, "image_size": 32,
                     "thread_count": 8},
        "embed": {"model": clip_cfg, "pretrained": clip_ckpt, "device": "cpu", "batch_size": 16},
        # a random tiny CLIP maps every image within cosine ~0.92-0.9996 of every other: thresholds
        # sit in that band (and so test that decisions near them do not depend on batching)
        "decontaminate": {"eval_images": "fashion-mnist-test", "min_cosine": 0.9998},
        "semdedup": {"num_clusters": 3, "eps": 0.001},
        "capfilt": {"filter_model": clip_cfg, "filter_pretrained": clip_ckpt, "captioner_model": coca_cfg,
                    "captioner_pretrained": coca_ckpt, "device": "cpu", "batch_size": 16,
                    "keep_top_percent": 80, "max_caption_tokens": 8},
        "retrieve": {"seed_images": seeds, "neighbours": 12, "device": "cpu"},
    }
    stages = {name: cfg.stage_config(name, values.get(name)) for name in MISSION_STAGES}
    return cfg.PipelineConfig(input=str(pool), output=str(output), queries=QUERIES, rows_per_shard=40, stages=stages)


def move_run(run: Path, to: Path) -> Path:
    """Move a finished run aside so the next runner writes into the same folder."""
    shutil.move(str(run), str(to))
    return to
