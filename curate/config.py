"""One frozen dataclass per stage, and the pipeline config that composes them (YAML in/out).

Each config validates itself in ``__post_init__`` and raises ``ValueError`` naming the field
and its allowed range. ``STAGE_CONFIGS`` maps a stage's name (as used in YAML, the CLI and
stats) to its config class; ``curate.pipeline.STAGES`` gives the order stages run in.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

import yaml


def _check(cond: bool, name: str, allowed: str, value) -> None:
    if not cond:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class IngestConfig:
    """Stage `ingest`: read a raw pool, give uids, drop malformed rows and exact duplicates."""

    max_text_chars: int = 4096  # longer alt-texts are page text scraped by mistake
    max_url_chars: int = 2048  # the de-facto browser/CDN limit
    schemes: tuple[str, ...] = ("http", "https")
    batch_rows: int = 4096

    def __post_init__(self):
        _check(self.max_text_chars >= 1, "ingest.max_text_chars", ">= 1", self.max_text_chars)
        _check(self.max_url_chars >= 10, "ingest.max_url_chars", ">= 10", self.max_url_chars)
        _check(len(self.schemes) > 0, "ingest.schemes", "a non-empty list", self.schemes)
        _check(self.batch_rows >= 1, "ingest.batch_rows", ">= 1", self.batch_rows)
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))


# Stage name -> config class. Stages add themselves here; curate.pipeline.STAGES orders them.
STAGE_CONFIGS: dict[str, type] = {
    "ingest": IngestConfig,
}


@dataclass(frozen=True)
class PipelineConfig:
    """A whole run: where the pool is, where outputs go, which stages run with what settings.

    ``stages`` holds the config of every stage that runs; a stage left out does not run.
    """

    input: str
    output: str
    queries: str | None = None  # folder of a built query list (queries/<name>)
    rows_per_shard: int = 100_000
    seed: int = 0
    stages: dict[str, typing.Any] = field(default_factory=lambda: {"ingest": IngestConfig()})

    def __post_init__(self):
        _check(bool(self.input), "input", "a path or glob", self.input)
        _check(bool(self.output), "output", "a folder", self.output)
        _check(self.rows_per_shard >= 1, "rows_per_shard", ">= 1", self.rows_per_shard)
        unknown = sorted(set(self.stages) - set(STAGE_CONFIGS))
        _check(not unknown, "stages", f"among {sorted(STAGE_CONFIGS)}", unknown)


def _build(cls, values: dict | None, where: str):
    values = dict(values or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(names)}")
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return cls(**values)


def stage_config(name: str, values: dict | None = None):
    if name not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {name!r}; stages are {sorted(STAGE_CONFIGS)}")
    return _build(STAGE_CONFIGS[name], values, f"stages.{name}")


def from_dict(d: dict) -> PipelineConfig:
    d = dict(d)
    stages = d.pop("stages", None) or {"ingest": {}}
    if not isinstance(stages, dict):
        raise ValueError("stages must be a mapping of stage name to settings")
    built = {name: stage_config(name, values) for name, values in stages.items()}
    names = {f.name for f in dataclasses.fields(PipelineConfig)} - {"stages"}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown top-level keys {unknown}; allowed: {sorted(names)} and stages")
    return PipelineConfig(stages=built, **d)


def to_dict(config) -> dict:
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(config)


def load(path: str) -> PipelineConfig:
    from curate.io.shards import read_bytes

    data = yaml.safe_load(read_bytes(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a pipeline config is a YAML mapping")
    try:
        return from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def dump(config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
