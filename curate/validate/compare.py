"""The DataComp protocol at small size: one fixed training recipe and the same number of
samples seen, on (a) the curated set, (b) a random subset of the downloaded pool of the
same size, (c) the whole downloaded pool; several seeds each; zero-shot and retrieval.

The random subset is redrawn per seed (hash of (uid, "compare", seed)), so its spread
includes subset noise as well as training noise. Seeds also set model init and data order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ARMS = ("curated", "random", "pool")


@dataclass(frozen=True)
class CompareConfig:
    curated: str = field(metadata={"help": "the curated run's output folder (kept/ with shard, key)"})
    pool: str = field(metadata={"help": "the downloaded pool's run folder (e.g. ingest + download only)"})
    output: str = field(metadata={"help": "folder for results.json, table.md, plot.png and per-run folders"})
    arms: tuple[str, ...] = field(default=ARMS, metadata={"help": "which of curated, random, pool to train"})
    seeds: tuple[int, ...] = field(default=(0, 1, 2, 3, 4), metadata={"help": "training seeds (>= 3 for a spread)"})
    model: str = field(default="curate-micro-rn", metadata={"help": "open_clip model (same recipe for every arm); curate-micro-rn: CLIP's ResNet at width 16, 32 px"})
    freeze_token_embedding: bool = field(default=True, metadata={"help": "keep the random token embedding fixed (same for every arm); README: with a trainable one the zero-shot gap closes and the retrieval gap opens"})
    batch_size: int = field(default=64, metadata={"help": "samples per step"})
    samples_seen: int = field(default=0, metadata={"help": "samples seen per run (0: --epochs x curated size)"})
    epochs: float = field(default=20.0, metadata={"help": "passes over the curated set when --samples-seen is 0"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    warmup: int = field(default=10, metadata={"help": "warm-up steps"})
    ema_decay: float = field(default=0.995, metadata={"help": "evaluate an exponential moving average of the weights (0: the last weights)"})
    datasets: tuple[str, ...] = field(default=("fashion-mnist",), metadata={"help": "zero-shot sets"})
    retrieval: tuple[str, ...] = field(default=("emoji:google",), metadata={"help": "retrieval sets ('none': skip)"})
    eval_limit: int = field(default=10000, metadata={"help": "images per zero-shot set (class-balanced; 10000: all of Fashion-MNIST's test split)"})
    retrieval_limit: int = field(default=500, metadata={"help": "pairs per retrieval set"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})

    def __post_init__(self):
        bad = sorted(set(self.arms) - set(ARMS))
        if bad or not self.arms:
            raise ValueError(f"compare.arms must be among {ARMS}, got {self.arms}")
        if not self.seeds:
            raise ValueError("compare.seeds must name at least one seed")
        if self.batch_size < 1 or self.samples_seen < 0 or self.epochs <= 0:
            raise ValueError("compare: batch_size >= 1, samples_seen >= 0, epochs > 0")


def downloaded(table: pa.Table) -> pa.Table:
    """Rows whose image was downloaded (a shard and key; status success where present)."""
    mask = pc.and_(pc.is_valid(table["shard"]), pc.is_valid(table["key"]))
    if "status" in table.column_names:
        mask = pc.and_(mask, pc.fill_null(pc.equal(table["status"], "success"), True))
    return table.filter(mask)


def subset_rank(uids: list[str], seed: int) -> np.ndarray:
    """A seeded, order-independent ranking: sha256(uid, "compare", seed)."""
    keys = [hashlib.sha256(f"{u}\x00compare\x00{seed}".encode()).digest()[:8] for u in uids]
    return np.argsort(np.frombuffer(b"".join(keys), dtype=">u8"), kind="stable")


def random_subset(table: pa.Table, n: int, seed: int) -> pa.Table:
    if n > table.num_rows:
        raise ValueError(f"a random subset of {n} from a pool of {table.num_rows} rows")
    order = subset_rank(table["uid"].to_pylist(), seed)[:n]
    return table.take(pa.array(np.sort(order)))


def summarise(runs: list[dict]) -> dict:
    """{arm: {metric: {"mean", "std", "values"}}} over seeds (std with ddof=1)."""
    out: dict[str, dict] = {}
    for run in runs:
        for metric, value in run["metrics"].items():
            out.setdefault(run["arm"], {}).setdefault(metric, []).append(value)
    return {
        arm: {
            m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}
            for m, v in metrics.items()
        }
        for arm, metrics in out.items()
    }


def flat_metrics(result: dict) -> dict[str, float]:
    flat = {}
    for name, r in result["zero_shot"].items():
        flat[f"zeroshot/{name}/top1"] = r["top1"]
    for name, r in result["retrieval"].items():
        for k in ("image_to_text_R@1", "image_to_text_R@5", "image_to_text_R@10",
                  "text_to_image_R@1", "text_to_image_R@5", "text_to_image_R@10"):
            flat[f"retrieval/{name}/{k}"] = r[k]
    return flat


def gap(summary: dict, metric: str, a: str = "curated", b: str = "random") -> dict | None:
    """Difference of means and its size in seed-noise standard deviations (the larger of
    the two arms' seed std: the stricter reading of 'two standard deviations'). With fewer
    than two seeds in an arm, or no spread at all, the noise is not measured: `seed_std` and
    `diff_in_std` are None (not a gap of infinitely many std)."""
    if a not in summary or b not in summary or metric not in summary[a] or metric not in summary[b]:
        return None
    ma, mb = summary[a][metric], summary[b][metric]
    diff = ma["mean"] - mb["mean"]
    seeds = min(len(ma["values"]), len(mb["values"]))
    noise = max(ma["std"], mb["std"])
    if seeds < 2 or noise <= 0:
        return {"diff": diff, "seeds": seeds, "seed_std": None, "diff_in_std": None}
    return {"diff": diff, "seeds": seeds, "seed_std": noise, "diff_in_std": diff / noise}


def gap_words(g: dict) -> str:
    """'2.35 seed std', or why there is no such figure."""
    if g["diff_in_std"] is not None:
        return f"{g['diff_in_std']:.2f} seed std"
    return "seed noise not measured (one seed)" if g["seeds"] < 2 else "seed noise not measured (no spread over seeds)"


def table_markdown(summary: dict, arms, sizes: dict, samples_seen: int, gaps: dict) -> str:
    metrics = sorted({m for arm in summary.values() for m in arm})
    lines = [f"samples seen per run: {samples_seen}; set sizes: " + ", ".join(f"{a} {sizes[a]}" for a in arms), ""]
    lines += ["| metric | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for m in metrics:
        cells = []
        for a in arms:
            s = summary.get(a, {}).get(m)
            cells.append(f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}" if s else "-")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "(percent, mean ± std over seeds)", ""]
    for m, g in gaps.items():
        if g:
            lines.append(f"- {m}: curated − random = {100 * g['diff']:+.1f} points; {gap_words(g)}")
    return "\n".join(lines) + "\n"


def plot(summary: dict, arms, metrics: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.5), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        means = [100 * summary[a][m]["mean"] for a in arms]
        stds = [100 * summary[a][m]["std"] for a in arms]
        ax.bar(arms, means, yerr=stds, capsize=6, color=["tab:green", "tab:gray", "tab:blue"][: len(arms)])
        for i, a in enumerate(arms):
            ax.scatter([i] * len(summary[a][m]["values"]), [100 * v for v in summary[a][m]["values"]], color="k", s=8, zorder=3)
        ax.set_title(m.replace("/", "\n"), fontsize=8)
        ax.set_ylabel("%")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_compare(config: CompareConfig, log=print) -> dict:
    import torch

    from curate.io import export as io_export
    from curate.io import shards
    from curate.validate.evaluate import evaluate
    from curate.validate.train import TrainConfig, train

    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    curated = downloaded(shards.read_table(shards.join(config.curated, "kept", "*.parquet")))
    pool = downloaded(shards.read_table(shards.join(config.pool, "kept", "*.parquet")))
    n = curated.num_rows
    if n < config.batch_size:
        raise ValueError(f"the curated set has {n} downloaded pairs, fewer than one batch ({config.batch_size})")
    samples_seen = config.samples_seen or int(config.epochs * n)
    sizes = {"curated": n, "random": n, "pool": pool.num_rows}
    log(f"curated {n} pairs, pool {pool.num_rows} pairs; {samples_seen} samples seen per run")
    runs, loaded = [], {}
    for arm in config.arms:
        for seed in config.seeds:
            table = {"curated": curated, "pool": pool}.get(arm) if arm != "random" else random_subset(pool, n, seed)
            folder = os.path.join(config.output, "runs", f"{arm}-seed{seed}")
            t0 = time.perf_counter()
            tars = io_export.write_table_as_tars(table, os.path.join(folder, "tars"), 10_000, prefix=f"{arm}-")
            trained = train(TrainConfig(
                train_data=tars["train_data"], output=folder, model=config.model, batch_size=config.batch_size,
                samples_seen=samples_seen, lr=config.lr, warmup=config.warmup, seed=seed, device=device,
                cache="yes", log_every=50, resume=False, freeze_token_embedding=config.freeze_token_embedding,
                ema_decay=config.ema_decay,
            ))
            result = evaluate(config.model, trained["model_path"], config.datasets, config.retrieval,
                              config.eval_limit, config.retrieval_limit, device, loaded)
            run = {"arm": arm, "seed": seed, "train_samples": tars["samples"], "steps": trained["steps"],
                   "final_loss": trained["losses"][-1], "samples_per_s": trained["samples_per_s"],
                   "seconds": time.perf_counter() - t0, "metrics": flat_metrics(result)}
            runs.append(run)
            shown = ", ".join(f"{k.split('/')[-1]} {100 * v:.1f}" for k, v in list(run["metrics"].items())[:3])
            log(f"{arm} seed {seed}: {run['steps']} steps, loss {run['final_loss']:.3f}, {shown} ({run['seconds']:.0f} s)")
    summary = summarise(runs)
    gaps = {m: gap(summary, m) for m in sorted(next(iter(summary.values())))}
    results = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.__dict__.items()},
               "samples_seen": samples_seen, "sizes": sizes, "runs": runs, "summary": summary,
               "curated_vs_random": gaps}
    os.makedirs(config.output, exist_ok=True)
    with open(os.path.join(config.output, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    md = table_markdown(summary, list(config.arms), sizes, samples_seen, gaps)
    with open(os.path.join(config.output, "table.md"), "w") as f:
        f.write(md)
    headline = [m for m in sorted(next(iter(summary.values()))) if m.endswith("top1") or m.endswith("image_to_text_R@5")]
    plot(summary, list(config.arms), headline, os.path.join(config.output, "plot.png"))
    results["table_markdown"] = md
    return results
