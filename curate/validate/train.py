"""A lean open_clip training loop: open_clip's model, ClipLoss and its recipe (AdamW with
betas (0.9, 0.98), eps 1e-6, no weight decay on gains/biases/embeddings/logit scale, cosine
schedule with linear warm-up, logit scale clamped at ln 100), on exported webdataset tars.

Outputs in ``output``: ``checkpoints/step_NNNNNNN.pt`` and ``checkpoints/latest.pt`` (model,
optimizer, step: resumable), ``model.pt`` (final weights, which
``open_clip.create_model_and_transforms(model, pretrained="model.pt")`` loads), and
``log.jsonl`` (loss, lr, samples/s per logged step).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field

from curate import progress


@dataclass(frozen=True)
class TrainConfig:
    train_data: str = field(metadata={"help": "brace-expanded tar list, e.g. 'out/tars/curated-{00000..00009}.tar'"})
    output: str = field(metadata={"help": "folder for checkpoints, model.pt and log.jsonl"})
    model: str = field(default="ViT-B-32", metadata={"help": "open_clip model name (curate-tiny-vit, curate-small-vit for CPU)"})
    pretrained: str | None = field(default=None, metadata={"help": "initial weights: open_clip pretrained tag or checkpoint path"})
    batch_size: int = field(default=256, metadata={"help": "samples per step"})
    samples_seen: int = field(default=0, metadata={"help": "total training samples (0: --steps decides)"})
    steps: int = field(default=100, metadata={"help": "steps when --samples-seen is 0"})
    lr: float = field(default=5e-4, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=0.2, metadata={"help": "AdamW weight decay (not on gains, biases, embeddings)"})
    warmup: int = field(default=10, metadata={"help": "linear warm-up steps"})
    seed: int = field(default=0, metadata={"help": "model init and data order"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu or cuda"})
    precision: str = field(default="auto", metadata={"help": "auto (bf16 autocast on cuda, fp32 on cpu), amp_bf16 or fp32"})
    cache: str = field(default="auto", metadata={"help": "decode all samples once into memory: auto (if <= 100k samples), yes, no"})
    workers: int = field(default=0, metadata={"help": "dataloader workers when streaming"})
    checkpoint_every: int = field(default=0, metadata={"help": "steps between checkpoints (0: only at the end)"})
    log_every: int = field(default=10, metadata={"help": "steps between log lines"})
    grad_clip: float = field(default=0.0, metadata={"help": "max grad norm (0: off)"})
    resume: bool = field(default=True, metadata={"help": "continue from output/checkpoints/latest.pt if present"})
    freeze_token_embedding: bool = field(default=False, metadata={"help": "keep the (random or pretrained) token embedding fixed: on a CPU its dense 49408-row update costs more than the rest of a tiny model"})
    stop_at: int = field(default=0, metadata={"help": "stop (with a checkpoint) after this step, e.g. to fit a time slot; 0: run to the end"})
    ema_decay: float = field(default=0.0, metadata={"help": "keep an exponential moving average of the weights (timm's ModelEmaV3, with its warm-up) with this decay, e.g. 0.999; model.pt then holds the average. 0: off"})

    def __post_init__(self):
        for name in ("batch_size", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.samples_seen < 0:
            raise ValueError(f"train.samples_seen must be >= 0, got {self.samples_seen}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device must be auto, cpu or cuda, got {self.device!r}")
        if self.precision not in ("auto", "amp_bf16", "fp32"):
            raise ValueError(f"train.precision must be auto, amp_bf16 or fp32, got {self.precision!r}")
        if self.cache not in ("auto", "yes", "no"):
            raise ValueError(f"train.cache must be auto, yes or no, got {self.cache!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")

    @property
    def total_steps(self) -> int:
        if self.samples_seen:
            return max(1, self.samples_seen // self.batch_size)
        return self.steps


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """open_clip's cosine_lr: linear warm-up to `peak`, then cosine to 0."""
    if step < warmup:
        return peak * (step + 1) / warmup
    e, es = step - warmup, max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * e / es)) * peak


def param_groups(model, weight_decay: float):
    """open_clip's split: no decay on 1-d params (gains, biases), embeddings, logit scale."""
    def exclude(n, p):
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n or "embedding" in n or "token" in n

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in params if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in params if not exclude(n, p)], "weight_decay": weight_decay},
    ]


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def train(config: TrainConfig, on_log=None) -> dict:
    """Train to ``config.total_steps``; returns {"steps", "samples_seen", "losses",
    "samples_per_s", "model_path"}. Resumes from latest.pt when asked and present."""
    import torch
    from open_clip.loss import ClipLoss

    from curate.validate import data, models

    device = _device(config.device)
    precision = config.precision if config.precision != "auto" else ("amp_bf16" if device == "cuda" else "fp32")
    torch.manual_seed(config.seed)
    model, preprocess_train, preprocess_val, tokenizer = models.create(config.model, config.pretrained, device=device)
    if config.freeze_token_embedding:
        model.token_embedding.weight.requires_grad_(False)
    groups = param_groups(model, config.weight_decay)
    try:  # one fused kernel per step instead of ~10 per parameter (CPU and CUDA, torch >= 2.4)
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    ckpt_dir = os.path.join(config.output, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    latest = os.path.join(ckpt_dir, "latest.pt")
    ema = None
    if config.ema_decay:
        from timm.utils import ModelEmaV3

        # Warm-up: the average starts as the current weights and its decay ramps towards
        # ema_decay, so short runs are not dominated by the random initialisation.
        ema = ModelEmaV3(model, decay=config.ema_decay, use_warmup=True)
    start = 0
    if config.resume and os.path.exists(latest):
        ckpt = torch.load(latest, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if ema is not None:
            if "ema_state_dict" not in ckpt:
                raise ValueError(f"{latest} has no weight average; resume it without --ema-decay or start afresh")
            ema.module.load_state_dict(ckpt["ema_state_dict"])
        start = int(ckpt["step"])

    total = config.total_steps
    n_samples = None
    cache = config.cache == "yes"
    if config.cache == "auto":
        sizes = _declared_size(config.train_data)
        cache = sizes is not None and sizes <= 100_000
    if cache:
        # Small runs use the deterministic eval transform (no random crops): the comparison
        # measures data, and the crop noise would only add seed variance.
        cached = data.CachedSamples(config.train_data, preprocess_val, tokenizer)
        n_samples = len(cached)
        batches = cached.batches(config.batch_size, config.seed, start)
    else:
        batches = data.stream_batches(
            config.train_data, preprocess_train, tokenizer, config.batch_size, config.seed + start, config.workers
        )

    loss_fn = ClipLoss()
    autocast = (
        torch.autocast(device_type=device, dtype=torch.bfloat16)
        if precision == "amp_bf16"
        else torch.autocast(device_type=device, enabled=False)
    )
    progress.new_run()
    log_path = os.path.join(config.output, "log.jsonl")
    losses = []
    model.train()
    t0, seen_since = time.perf_counter(), 0
    rate = 0.0
    end = min(total, config.stop_at) if config.stop_at else total
    with open(log_path, "a") as log:
        for step in range(start, end):
            images, tokens = next(batches)
            images, tokens = images.to(device, non_blocking=True), tokens.to(device, non_blocking=True)
            lr = lr_at(step, total, config.lr, config.warmup)
            for g in optimizer.param_groups:
                g["lr"] = lr
            with autocast:
                out = model(images, tokens)
                if isinstance(out, dict):
                    img, txt, scale = out["image_features"], out["text_features"], out["logit_scale"]
                else:
                    img, txt, scale = out[:3]
                loss = loss_fn(img, txt, scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            done = step + 1
            if ema is not None:
                ema.update(model, step=done)
            losses.append(float(loss.detach()))
            seen_since += images.shape[0]
            progress.advance("train", images.shape[0], unit="samples")
            if done % config.log_every == 0 or done == total:
                if device == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - t0
                rate = seen_since / elapsed if elapsed else 0.0
                entry = {"step": done, "loss": losses[-1], "lr": lr, "samples_per_s": rate,
                         "samples_seen": done * config.batch_size}
                log.write(json.dumps(entry) + "\n")
                log.flush()
                if on_log:
                    on_log(entry)
                t0, seen_since = time.perf_counter(), 0
            if config.checkpoint_every and done % config.checkpoint_every == 0 and done < total:
                save_checkpoint(model, optimizer, done, config, ckpt_dir, ema)
    save_checkpoint(model, optimizer, end, config, ckpt_dir, ema)
    model_path = os.path.join(config.output, "model.pt")
    final = ema.module if ema is not None else model
    torch.save({"state_dict": final.state_dict(), "model": config.model, "step": end}, model_path)
    return {
        "steps": end,
        "start_step": start,
        "samples_seen": end * config.batch_size,
        "train_samples": n_samples,
        "losses": losses,
        "samples_per_s": rate,
        "model_path": model_path,
        "precision": precision,
        "device": device,
    }


def save_checkpoint(model, optimizer, step: int, config: TrainConfig, folder: str, ema=None) -> str:
    """open_clip-style checkpoint ("state_dict" key; loads with pretrained=<path>) that
    also resumes (optimizer, step, and the weight average under "ema_state_dict")."""
    import shutil

    import torch

    path = os.path.join(folder, f"step_{step:07d}.pt")
    state = {
        "step": step,
        "epoch": step,  # open_clip_train reads "epoch"; we count steps
        "name": config.model,
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": json.dumps(dataclasses.asdict(config)),
    }
    if ema is not None:
        state["ema_state_dict"] = ema.module.state_dict()
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)
    shutil.copyfile(path, os.path.join(folder, "latest.pt"))
    return path


def _declared_size(pattern: str) -> int | None:
    """Total samples from sizes.json next to the tars (what open_clip reads), if present."""
    from curate.validate.data import expand

    urls = expand(pattern)
    sizes_path = os.path.join(os.path.dirname(urls[0]), "sizes.json")
    if not os.path.exists(sizes_path):
        return None
    with open(sizes_path) as f:
        sizes = json.load(f)
    try:
        return sum(int(sizes[os.path.basename(u)]) for u in urls)
    except KeyError:
        return None
