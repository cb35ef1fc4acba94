"""Expected failures are one line on stderr, `curate <command>: error: ...`, exit status 2;
a traceback only with -v or for a bug. One test per kind of failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.io import shards

ROOT = Path(__file__).resolve().parents[2]


def _pool(path: Path, n: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"url": [f"http://e.org/{i}.jpg" for i in range(n)], "text": [f"caption {i}" for i in range(n)]}), path)
    return path


def _one_line_error(capsys, command: str, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err  # in this process, nothing but the error line
    assert lines[0].startswith(f"curate {command}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real `curate` in a new process, default (multi-process) runner."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "from curate.cli import run; run()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("name, content", [("garbage.parquet", os.urandom(5000)), ("empty.parquet", b"")])
def test_unreadable_input_file_is_one_line(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    done = _cli("ingest", "--input", name, "--output", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"curate ingest: error: {name}: not a Parquet file{' (0 bytes)' if not content else ''}; "
                     "fix or remove it, or pass --skip-bad-files (ingest.skip_bad_files: true) to run without it"], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_error_raised_in_a_worker_arrives_unwrapped(tmp_path):
    # The planning check reads a text file's first MiB; a JSONL file whose first record with
    # keys comes later, without url/text, fails in a worker (multi-process runner).
    lines = [b"{broken json\n"] * 120_000 + [json.dumps({"image": "x", "caption_words": "y"}).encode() + b"\n"]
    (tmp_path / "pool.jsonl").write_bytes(b"".join(lines))
    done = _cli("ingest", "--input", "pool.jsonl", "--output", "out", "--direct_num_workers=2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("curate ")]
    assert errors == ["curate ingest: error: pool.jsonl: first record has no url/text keys: ['image', "
                      "'caption_words']; expected one of ['url', 'URL', 'image_url', 'img_url'] and one "
                      "of ['text', 'caption', 'TEXT', 'alt', 'alt_text', 'alttext']"], done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == errors[0]
    # (The local runner's worker processes log to the same stderr themselves, tracebacks
    # included: Beam gives them no options to quiet them. In this process it is one line.)


def test_same_error_in_process_and_verbose_shows_the_traceback(tmp_path, beam_args, capsys):
    lines = [b"{broken json\n"] * 120_000 + [b'{"image": "x", "caption_words": "y"}\n']
    (tmp_path / "pool.jsonl").write_bytes(b"".join(lines))
    args = ["ingest", "--input", str(tmp_path / "pool.jsonl"), "--output", str(tmp_path / "out"), *beam_args]
    assert main(args) == 2
    _one_line_error(capsys, "ingest", "pool.jsonl: first record has no url/text keys")
    assert main(["-v", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("curate ingest: error: ")


def test_bad_config_value(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {tmp_path}/pool.parquet\noutput: {tmp_path}/out\nstages:\n  ingest:\n    max_url_chars: 3\n")
    assert main(["run", "--config", str(config)]) == 2
    _one_line_error(capsys, "run", "run.yaml", "ingest.max_url_chars", ">= 10", "3")
    assert main(["filter", "--input", "x", "--output", str(tmp_path / "o"), "--min-lang-score", "7"]) == 2
    _one_line_error(capsys, "filter", "filter.min_lang_score")
    assert main(["filter", "--input", "x", "--output", str(tmp_path / "o"), "--language-model", "cld3"]) == 2
    _one_line_error(capsys, "filter", "filter.language_model", "lid176, py3langid", "cld3")


def test_config_that_is_not_yaml(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("input: [unclosed\nstages: {ingest: {}\n")
    assert main(["run", "--config", str(config)]) == 2
    _one_line_error(capsys, "run")
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2
    _one_line_error(capsys, "run", "missing.yaml")


def test_missing_query_list(tmp_path, capsys):
    _pool(tmp_path / "in" / "part-0.parquet")
    args = ["filter", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--queries", str(tmp_path / "nope")]
    assert main(args) == 2
    _one_line_error(capsys, "filter", f"no query list in {tmp_path / 'nope'}", "curate queries build")
    assert main(args[:-2]) == 2  # match needs a list: say how to give one
    _one_line_error(capsys, "filter", "--queries")


def test_missing_model_checkpoint(tmp_path, capsys):
    _pool(tmp_path / "in" / "part-0.parquet")
    args = ["embed", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--pretrained", str(tmp_path / "model.pt")]
    assert main(args) == 2
    _one_line_error(capsys, "embed", "stages.embed.pretrained", str(tmp_path / "model.pt"))
    assert main([*args[:-2], "--model", "local-dir:" + str(tmp_path / "no-model-here")]) == 2
    _one_line_error(capsys, "embed", "stages.embed.model", "no-model-here")
    assert not (tmp_path / "out").exists()


def test_output_folder_of_another_run(tmp_path, beam_args, capsys):
    _pool(tmp_path / "pool.parquet")
    base = ["ingest", "--input", str(tmp_path / "pool.parquet"), "--output", str(tmp_path / "out"), *beam_args]
    assert main(base) == 0
    first = (tmp_path / "out" / "stats.json").read_bytes()
    assert main([*base, "--max-text-chars", "5"]) == 2
    _one_line_error(capsys, "ingest", "holds a run with other settings", "stages.ingest.max_text_chars: 4096 -> 5", "config.yaml")
    assert (tmp_path / "out" / "stats.json").read_bytes() == first  # untouched
    assert main(base) == 0  # the same settings again: a rerun, allowed
    (tmp_path / "out" / "config.yaml").unlink()
    assert main([*base, "--max-text-chars", "5"]) == 0  # the user gave the folder up
    assert shards.read_json(str(tmp_path / "out" / "stats.json"))["stages"][0]["removed_by_reason"] == {"text_too_long": 20}


def test_input_inside_the_output_is_refused(tmp_path, beam_args, capsys):
    _pool(tmp_path / "out" / "kept" / "part-00000-of-00001.parquet")
    assert main(["filter", "--input", str(tmp_path / "out" / "kept"), "--output", str(tmp_path / "out"), "--no-match", *beam_args]) == 2
    _one_line_error(capsys, "filter", "is inside --output")


def test_a_bug_keeps_its_traceback(tmp_path, beam_args, monkeypatch):
    from curate.ops import ingest as ingest_ops

    def broken(raw, config):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ingest_ops, "ingest_batch", broken)
    _pool(tmp_path / "pool.parquet")
    with pytest.raises(ZeroDivisionError):
        main(["ingest", "--input", str(tmp_path / "pool.parquet"), "--output", str(tmp_path / "out"), *beam_args])


def test_a_worker_value_error_is_a_bug_not_a_bad_value(tmp_path, beam_args, monkeypatch):
    from curate.ops import ingest as ingest_ops

    def broken(raw, config):
        raise ValueError("a bug deep in a worker")

    monkeypatch.setattr(ingest_ops, "ingest_batch", broken)
    _pool(tmp_path / "pool.parquet")
    with pytest.raises(RuntimeError, match="the pipeline failed: a bug deep in a worker"):
        main(["ingest", "--input", str(tmp_path / "pool.parquet"), "--output", str(tmp_path / "out"), *beam_args])


def test_unreadable_shard_for_a_later_stage(tmp_path, capsys):
    _pool(tmp_path / "in" / "part-00000-of-00002.parquet")
    (tmp_path / "in" / "part-00001-of-00002.parquet").write_bytes(b"PAR1" + b"\x00" * 100)  # a cut shard
    assert main(["filter", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--no-match"]) == 2
    _one_line_error(capsys, "filter", "part-00001-of-00002.parquet: no Parquet footer", "rerun that stage")


def test_missing_checkpoint_for_eval(tmp_path, capsys):
    assert main(["eval", "--model", "RN50", "--pretrained", str(tmp_path / "model.pt"), "--limit", "4"]) == 2
    _one_line_error(capsys, "eval", "--pretrained", str(tmp_path / "model.pt"))
