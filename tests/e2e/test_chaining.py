"""Commands chain: a stage's --input takes an earlier stage's output folder (its kept/), and
`curate run --resume-from` continues a finished run with the next stages, giving the same
bytes as one run of every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.cli import main
from tests.e2e.test_text_cli import TEXTS

OUTPUTS = ("kept", "removed", "stats.json", "config.yaml")


def _pool(tmp_path: Path) -> tuple[Path, Path]:
    pool = tmp_path / "pool.parquet"
    texts = TEXTS + TEXTS[:3] + [t + " again" for t in TEXTS]  # exact duplicates for ingest
    pq.write_table(pa.table({"url": [f"http://127.0.0.1/{i % 13}.png" for i in range(len(texts))], "text": texts}), pool)
    q = tmp_path / "queries"
    q.mkdir()
    (q / "entries.txt").write_text("bicycle\ncar\ncat\ndog\nred car\nriver\n")
    return pool, q


def _files(run: Path) -> dict[str, bytes]:
    out = {}
    for name in OUTPUTS:
        path = run / name
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            out[str(f.relative_to(run))] = f.read_bytes()
    return out


def test_a_stage_reads_an_earlier_stage_output_folder(tmp_path, beam_args):
    pool, q = _pool(tmp_path)
    assert main(["ingest", "--input", str(pool), "--output", str(tmp_path / "A"), *beam_args]) == 0
    for name, source in (("B", tmp_path / "A"), ("C", tmp_path / "A" / "kept")):
        args = ["filter", "--input", str(source), "--output", str(tmp_path / name), "--queries", str(q)]
        assert main([*args, *beam_args]) == 0
    b, c = _files(tmp_path / "B"), _files(tmp_path / "C")
    assert b.pop("config.yaml") != c.pop("config.yaml")  # each names its own --input
    assert b == c
    stages = json.loads(b["stats.json"])["stages"]
    assert [(s["stage"], s["in"], s["removed_by_reason"]) for s in stages] == [
        ("filter", 19, {"language": 2, "no_match": 2, "too_few_words": 2})
    ]


def test_an_output_folder_as_input_inside_the_output_is_refused(tmp_path, beam_args, capsys):
    pool, q = _pool(tmp_path)
    assert main(["ingest", "--input", str(pool), "--output", str(tmp_path / "A"), *beam_args]) == 0
    args = ["dedup-text", "--input", str(tmp_path / "A"), "--output", str(tmp_path / "A")]
    assert main([*args, *beam_args]) == 2
    assert "inside --output" in capsys.readouterr().err


def _config(tmp_path: Path, pool: Path, q: Path, stages: dict) -> Path:
    path = tmp_path / f"config-{len(stages)}.yaml"
    path.write_text(yaml.safe_dump({
        "input": str(pool), "output": str(tmp_path / "unused"), "queries": str(q),
        "rows_per_shard": 4, "seed": 3, "stages": stages,
    }))
    return path


STAGES = {"ingest": {}, "filter": {}, "dedup_text": {}, "balance": {"t": 1}}


def test_resuming_a_run_equals_the_one_shot_run(tmp_path, beam_args):
    pool, q = _pool(tmp_path)
    full = _config(tmp_path, pool, q, STAGES)
    first = _config(tmp_path, pool, q, dict(list(STAGES.items())[:2]))
    assert main(["run", "--config", str(full), "--output", str(tmp_path / "oneshot"), *beam_args]) == 0
    assert main(["run", "--config", str(first), "--output", str(tmp_path / "first"), *beam_args]) == 0
    args = ["run", "--config", str(full), "--resume-from", str(tmp_path / "first"), "--output", str(tmp_path / "resumed")]
    assert main([*args, *beam_args]) == 0
    oneshot, resumed = _files(tmp_path / "oneshot"), _files(tmp_path / "resumed")
    assert len([k for k in oneshot if k.startswith("removed/")]) > 1  # several shards
    names = {k: yaml.safe_load(d.pop("config.yaml")) for k, d in (("oneshot", oneshot), ("resumed", resumed))}
    assert names["resumed"] == {**names["oneshot"], "output": str(tmp_path / "resumed")}
    assert resumed == oneshot
    assert (tmp_path / "resumed" / "balance.json").read_bytes() == (tmp_path / "oneshot" / "balance.json").read_bytes()


@pytest.mark.parametrize("change, message", [
    ({"filter": {"min_words": 1}}, "other settings"),
    ({"dedup_text": {}}, "not the first stages"),
])
def test_resuming_from_a_run_with_other_stages_or_settings_is_refused(tmp_path, beam_args, capsys, change, message):
    pool, q = _pool(tmp_path)
    full = _config(tmp_path, pool, q, {**STAGES, **change})
    earlier = {"ingest": {}, "filter": {}} if "filter" not in change else {"ingest": {}, "filter": {"min_words": 2}}
    if "dedup_text" in change:
        earlier = {"ingest": {}, "dedup_text": {}}
    first = _config(tmp_path, pool, q, earlier)
    assert main(["run", "--config", str(first), "--output", str(tmp_path / "first"), *beam_args]) == 0
    args = ["run", "--config", str(full), "--resume-from", str(tmp_path / "first"), "--output", str(tmp_path / "r")]
    assert main([*args, *beam_args]) == 2
    assert message in capsys.readouterr().err
